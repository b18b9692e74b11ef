"""Stop work for a client that has gone away.

A streamed response notices a disconnect itself (the next send fails and the relay closes the
upstream). A non-streamed request would otherwise keep vLLM generating a reply nobody reads, so
the handler races a watcher on the ASGI receive channel, as vLLM's `with_cancellation` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

T = TypeVar("T")
CLIENT_CLOSED_REQUEST = 499  # nginx's status for "the client left first"; never sent


async def until_disconnect(request: Request, work: Awaitable[T]) -> T | None:
    """Await `work`; if the client disconnects first, cancel it and return None.

    Call only after the request body has been read, so the receive channel carries nothing
    but the disconnect.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
