"""Send a prepared body upstream and frame the answer: JSON as JSON, a stream as a stream."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from gateway.observe import RequestRecord
from gateway.relay import relay
from gateway.upstream import Upstream, UpstreamPool, upstream_status_error

log = logging.getLogger("loregate.forward")


async def forward(
    pool: UpstreamPool,
    path: str,
    body: dict[str, Any],
    record: RequestRecord,
    headers: dict[str, str],
    on_complete: Callable[[bytes, bool], None] | None = None,
) -> Response:
    """Forward `body`; a streamed answer finishes `record` when the stream ends.

    `on_complete(body, streamed)` gets a successful answer's bytes once they have been sent.
    """
    stack = contextlib.AsyncExitStack()
    try:
        upstream, response = await _open(pool, path, body, record, stack)
        if response.status_code >= 400:
            await response.aread()
            raise upstream_status_error(response)
        record.status = response.status_code
        content_type = response.headers.get("content-type", "application/json")
        if record.stream and content_type.startswith("text/event-stream"):
            stack.callback(record.finish)
            return StreamingResponse(
                relay(response, upstream.url, stack, record.first_byte,
                      on_complete and (lambda raw: on_complete(raw, True))),
                status_code=response.status_code, media_type="text/event-stream",
                headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        content = await response.aread()
        await stack.aclose()
        background = on_complete and BackgroundTask(_after_send, on_complete, content)
        return Response(content, status_code=response.status_code, media_type=content_type,
                        headers=headers, background=background)
    except BaseException:
        await stack.aclose()
        raise


async def _open(
    pool: UpstreamPool, path: str, body: dict[str, Any], record: RequestRecord,
    stack: contextlib.AsyncExitStack,
) -> tuple[Upstream, httpx.Response]:
    request_headers = {"X-Request-Id": record.request_id}
    record.forwarded_at = time.perf_counter()
    upstream, response = await stack.enter_async_context(
        pool.open("POST", path, json=body, headers=request_headers))
    record.headers_at = time.perf_counter()
    record.upstream = upstream.url
    return upstream, response


async def _after_send(on_complete: Callable[[bytes, bool], None], content: bytes) -> None:
    on_complete(content, False)  # async, so starlette runs it on the loop, not in a thread
