"""Optional API key: clients send `Authorization: Bearer <GATEWAY_API_KEY>`.

A pure ASGI middleware, so streamed responses pass through it untouched.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import APIError, send_error

OPEN_PATHS = frozenset({"/health", "/metrics"})  # for load balancers and scrapers
# The desk checks the same key itself (gateway/desk/security.py): a browser needs its login
# page and a session cookie where an API client gets 401 JSON.
DESK = "/desk"


class APIKeyMiddleware:
    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self._expected = f"Bearer {api_key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in OPEN_PATHS or _is_desk(path):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"")
        if hmac.compare_digest(given, self._expected):
            await self.app(scope, receive, send)
            return
        await send_error(scope, receive, send, APIError(
            401, "Missing or wrong API key: send 'Authorization: Bearer <key>' with the key set "
            "in GATEWAY_API_KEY.", code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}))


def _is_desk(path: str) -> bool:
    return path == DESK or path.startswith(DESK + "/")
