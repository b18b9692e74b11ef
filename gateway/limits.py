"""What uvicorn lets through from a hostile client: too many or too large headers, and a body
that stops arriving (a Content-Length larger than what is sent would hold a worker forever).

uvicorn's h11 parser bounds the bytes it buffers for a request head (see gateway/__main__.py),
but a head that arrives in one read can pass that bound, and nothing counts headers or times a
body; this pure ASGI middleware does, answering in the OpenAI envelope.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import APIError, send_error


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp, *, max_headers: int, max_header_bytes: int,
                 body_timeout: float) -> None:
        self.app = app
        self.max_headers = max_headers
        self.max_header_bytes = max_header_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if problem := self._header_problem(scope):
            await send_error(scope, receive, send, APIError(
                431, problem, code="request_headers_too_large", headers={"Connection": "close"}))
            return
        await self.app(scope, BodyDeadline(receive, self.body_timeout), send)

    def _header_problem(self, scope: Scope) -> str | None:
        headers = scope["headers"]
        if len(headers) > self.max_headers:
            return (f"The request has {len(headers)} headers; at most {self.max_headers} are "
                    "accepted (GATEWAY_MAX_HEADERS).")
        size = head_bytes(scope)
        if size > self.max_header_bytes:
            return (f"The request line and headers are {size} bytes; at most "
                    f"{self.max_header_bytes} are accepted (GATEWAY_MAX_HEADER_BYTES).")
        return None


def head_bytes(scope: Scope) -> int:
    """Bytes of the request target and headers, about what the client sent before the body."""
    target = len(scope.get("raw_path") or scope["path"].encode()) + len(scope["query_string"])
    return target + sum(len(name) + len(value) for name, value in scope["headers"])


class BodyDeadline:
    """`receive`, with a limit on the silence while the request body is still arriving.

    Once the body is complete the channel carries only the disconnect, which may rightly take
    as long as the reply does, so from then on it waits untimed.
    """

    def __init__(self, receive: Receive, seconds: float) -> None:
        self._receive = receive
        self._seconds = seconds
        self._complete = False

    async def __call__(self) -> Message:
        if self._complete:
            return await self._receive()
        try:
            async with asyncio.timeout(self._seconds):
                message = await self._receive()
        except TimeoutError:
            # Raised into the route reading the body, which records it; Connection: close
            # because the rest of the body may still come and cannot start a next request.
            raise APIError(
                408, f"The request body stopped arriving: nothing came for {self._seconds:g} s "
                "(GATEWAY_BODY_TIMEOUT).", code="body_timeout",
                headers={"Connection": "close"}) from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._complete = True
        return message
