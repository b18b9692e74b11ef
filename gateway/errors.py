"""The one OpenAI error envelope, and the two ways it leaves the gateway.

Before the first byte of a response an error is JSON with a real HTTP status; once a stream
has started, the same JSON goes out as an SSE `data:` event followed by `data: [DONE]`.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from gateway.observe import count_unrecorded

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    431: "invalid_request_error",
    500: "server_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "upstream_timeout",
}


class APIError(Exception):
    """An error the client should see, with the status and OpenAI fields it carries."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type or _TYPE_BY_STATUS.get(status, "api_error")
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)

    def response(self, extra_headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(
            self.body(), status_code=self.status, headers={**self.headers, **(extra_headers or {})}
        )


def error_body(
    message: str, type: str = "api_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def shown(value: str, limit: int = 80) -> str:
    """`value` cut to `limit` characters for an error message: a client's 7 MB world name must
    not come back as a 7 MB error."""
    if len(value) <= limit:
        return value
    return f"{value[:limit]}… ({len(value)} characters)"


def stream_error_event(error: APIError) -> bytes:
    """The bytes that end a stream that failed after it started."""
    return b"data: " + json.dumps(error.body()).encode() + b"\n\ndata: [DONE]\n\n"


async def send_error(scope: Scope, receive: Receive, send: Send, error: APIError) -> None:
    """Answer from an ASGI middleware, before any route: logged and counted like a route's."""
    _note(scope, error)
    await error.response()(scope, receive, send)


def _note(scope: Scope, error: APIError) -> None:
    if request_id := count_unrecorded(scope, error.status):
        error.headers.setdefault("X-Request-Id", request_id)


def install_handlers(app: FastAPI) -> None:
    """Every error leaves as the envelope, and is counted even when no route recorded it."""

    def answer(request: Request, error: APIError) -> JSONResponse:
        _note(request.scope, error)
        return error.response()

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return answer(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return answer(request, APIError(exc.status_code, str(exc.detail), headers=exc.headers))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        param = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
        return answer(request, APIError(400, first.get("msg", "invalid request"), param=param))

    # Starlette calls this one from its outermost middleware and then re-raises, so uvicorn
    # still logs the traceback; the client gets the envelope instead of a plain-text 500.
    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return answer(request, APIError(
            500, f"The gateway failed on this request ({type(exc).__name__}); its log has "
            "the traceback.", code="internal_error"))
