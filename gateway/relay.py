"""Relay an upstream SSE stream to the client, byte for byte, as it arrives.

Nothing is parsed or buffered: the upstream's chunks, its usage chunk and its `[DONE]` go out as
sent. If the upstream fails mid-stream, the client gets one error event and `[DONE]`, so an
OpenAI client ends cleanly instead of hanging on a half-open stream.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

import aiohttp

from gateway.errors import stream_error_event
from gateway.upstream import BODY_ERRORS, Upstream, UpstreamPool

log = logging.getLogger("loregate.relay")


async def relay(
    response: aiohttp.ClientResponse,
    upstream: Upstream,
    pool: UpstreamPool,
    closer: contextlib.AsyncExitStack,
    on_first_byte: Callable[[float], None] | None = None,
) -> AsyncIterator[bytes]:
    """Yield the upstream body; `closer` releases the upstream when the client stops reading."""
    ended_cleanly = True
    try:
        async for chunk in response.content.iter_any():
            if on_first_byte is not None:
                on_first_byte(time.perf_counter())
                on_first_byte = None
            yield chunk
            ended_cleanly = chunk.endswith(b"\n\n") or chunk.endswith(b"\r\n\r\n")
    except BODY_ERRORS as exc:
        log.warning("stream from %s broke: %s: %s", upstream.url, type(exc).__name__, exc)
        # A broken upstream may have cut an event in half: close it so the error parses.
        error = pool.broken_stream(upstream, exc)
        yield (b"" if ended_cleanly else b"\n\n") + stream_error_event(error)
    finally:
        await closer.aclose()
