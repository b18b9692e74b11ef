"""Relay an upstream SSE stream to the client, byte for byte, as it arrives.

Nothing is parsed or buffered: the upstream's chunks, its usage chunk and its `[DONE]` go out as
sent. If the upstream fails mid-stream, the client gets one error event and `[DONE]`, so an
OpenAI client ends cleanly instead of hanging on a half-open stream.

`with_continuity` wraps a relayed stream for the continuity guard: every chunk still goes out
the moment it arrives, and a copy is kept; only `data: [DONE]` waits, while the reply's text
is checked, so that the findings can go out just before it as one SSE comment line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

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


DONE = b"data: [DONE]"
ERROR_EVENT = b'data: {"error"'  # gateway.errors.stream_error_event's start
MAX_KEPT_BYTES = 8 << 20  # of a longer stream only the start is checked


async def with_continuity(
    body: AsyncIterator[bytes],
    report: Callable[[str], Awaitable[dict[str, Any]]],
) -> AsyncIterator[bytes]:
    """`body` as it comes, plus `: continuity {...}` (the report on the reply's text) right
    before `data: [DONE]`, or at the end of a stream that never sent one. A broken stream's
    error event stays next to its `[DONE]`: the report goes before the error instead."""
    kept = bytearray()
    done = False
    async for chunk in body:
        at = -1 if done else chunk.find(DONE)
        if at < 0:
            if len(kept) < MAX_KEPT_BYTES:
                kept += chunk
            yield chunk
            continue
        error = chunk.rfind(ERROR_EVENT, 0, at)
        split = error if error >= 0 else at
        kept += chunk[:split]
        if split:
            yield chunk[:split]  # whatever came with [DONE] goes out before the check runs
        yield comment_line(await report(reply_text(bytes(kept))))
        done = True
        yield chunk[split:]
    if not done:
        yield comment_line(await report(reply_text(bytes(kept))))


def comment_line(report: dict[str, Any]) -> bytes:
    """One SSE comment line: no newline inside (json.dumps escapes them)."""
    return b": continuity " + json.dumps(report, ensure_ascii=False).encode() + b"\n\n"


def reply_text(body: bytes, streamed: bool = True) -> str:
    """The first choice's text: the deltas of an SSE stream, or a whole JSON reply's message
    (chat) or text (completions). Anything unreadable counts as no text."""
    if not streamed:
        try:
            choice = (json.loads(body).get("choices") or [{}])[0]
        except (ValueError, AttributeError, IndexError, TypeError):
            return ""
        return str((choice.get("message") or {}).get("content") or choice.get("text") or "")
    parts: list[str] = []
    for line in body.splitlines():
        if not line.startswith(b"data:") or line[5:].strip() == b"[DONE]":
            continue
        try:
            event = json.loads(line[5:])
            for choice in event.get("choices") or ():
                if choice.get("index", 0) == 0:
                    delta = choice.get("delta") or {}
                    parts.append(delta.get("content") or choice.get("text") or "")
        except (ValueError, AttributeError, TypeError):
            continue
    return "".join(parts)
