"""Send a prepared body upstream and frame the answer: JSON as JSON, a stream as a stream."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import aiohttp
from fastapi.responses import Response, StreamingResponse

from gateway.observe import RequestRecord
from gateway.relay import relay
from gateway.upstream import Upstream, UpstreamPool, read_body, upstream_status_error


async def forward(
    pool: UpstreamPool,
    path: str,
    body: dict[str, Any],
    record: RequestRecord,
    headers: dict[str, str],
) -> Response:
    """Forward `body`; a streamed answer finishes `record` when the stream ends."""
    stack = contextlib.AsyncExitStack()
    try:
        upstream, response = await _open(pool, path, body, record, stack)
        if response.status >= 400:
            content = await read_body(upstream, response)
            raise upstream_status_error(response.status, content, response.reason)
        record.status = response.status
        content_type = response.headers.get("Content-Type", "application/json")
        if record.stream and content_type.startswith("text/event-stream"):
            stack.callback(record.finish)
            return StreamingResponse(
                relay(response, upstream, pool, stack, record.first_byte),
                status_code=response.status, media_type="text/event-stream",
                headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        content = await read_body(upstream, response)
        await stack.aclose()
        return Response(content, status_code=response.status, media_type=content_type,
                        headers=headers)
    except BaseException:
        await stack.aclose()
        raise


async def _open(
    pool: UpstreamPool, path: str, body: dict[str, Any], record: RequestRecord,
    stack: contextlib.AsyncExitStack,
) -> tuple[Upstream, aiohttp.ClientResponse]:
    request_headers = {"X-Request-Id": record.request_id}
    record.forwarded_at = time.perf_counter()
    upstream, response = await stack.enter_async_context(
        pool.open("POST", path, json=body, headers=request_headers))
    record.headers_at = time.perf_counter()
    record.upstream = upstream.url
    return upstream, response
