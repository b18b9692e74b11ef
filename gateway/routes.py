"""The routes: each reads what it needs, calls one service, and picks the framing."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import chat
from gateway.cancel import CLIENT_CLOSED_REQUEST, until_disconnect
from gateway.continuity import guarded
from gateway.errors import APIError
from gateway.observe import RequestRecord, attach, request_id_from
from gateway.protocol import LoreSearchRequest, check_query, parse_json, validate
from gateway.state import GatewayState

router = APIRouter()

Handler = Callable[[Request, dict[str, Any], RequestRecord], Awaitable[Response]]


def _state(request: Request) -> GatewayState:
    return request.app.state.gateway


async def read_body(request: Request) -> dict[str, Any]:
    limit = _state(request).settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return parse_json(b"".join(chunks))


def _too_large(limit: int) -> APIError:
    return APIError(413, f"The request body is larger than {limit} bytes "
                    "(GATEWAY_MAX_BODY_BYTES).", code="request_too_large")


@contextlib.contextmanager
def _recorded(request: Request, route: str) -> Iterator[RequestRecord]:
    """The request's record, finished with the status it really ended with, errors included.

    A stream that has started is finished by its relay instead, when the stream ends.
    """
    record = RequestRecord(route=route, metrics=_state(request).metrics)
    record.request_id = request_id_from(request.scope["headers"]) or record.request_id
    attach(request.scope, record)
    try:
        yield record
    except APIError as exc:
        record.status = exc.status
        exc.headers.setdefault("X-Request-Id", record.request_id)
        raise
    except Exception:
        record.status = 500  # what the catch-all handler will answer
        raise
    finally:
        if not record.streaming:
            record.finish()


async def _generate(request: Request, route: str, handler: Handler) -> Response:
    with _recorded(request, route) as record:
        body = await read_body(request)
        response = await until_disconnect(request, handler(request, body, record))
        if response is None:
            record.status = CLIENT_CLOSED_REQUEST
            return Response(status_code=CLIENT_CLOSED_REQUEST)
        record.streaming = record.stream and response.media_type == "text/event-stream"
        return response


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    return await _generate(request, "chat", guarded(chat.chat_completions))


@router.post("/v1/completions")
async def completions(request: Request) -> Response:
    return await _generate(request, "completions", chat.completions)


@router.get("/v1/models")
async def models(request: Request) -> Response:
    with _recorded(request, "models"):
        state = _state(request)
        _, data = await state.pool.get_json("/models")
        return JSONResponse({"object": "list",
                             "data": await state.voices.listing(data.get("data", []))})


@router.get("/v1/worlds")
async def worlds(request: Request) -> Response:
    lore = _state(request).lore
    await lore.settled()  # the first index build, for at most GATEWAY_LORE_WAIT
    status = lore.engine.status() if lore.state == "ready" else {}
    return JSONResponse({
        "object": "list",
        "default": lore.default_world,
        "lore": lore.state,
        "data": [{"id": name, "object": "world", **status.get(name, {})}
                 for name in lore.world_names()],
    })


@router.post("/v1/lore/search")
async def lore_search(request: Request) -> Response:
    return await _generate(request, "lore_search", _search)


async def _search(request: Request, body: dict[str, Any], record: RequestRecord) -> Response:
    search = validate(LoreSearchRequest, body)
    check_query(search.query, _state(request).settings.max_query_chars)
    if not search.messages and not search.query:
        raise APIError(400, "Give either 'messages' or 'query'.", param="messages")
    messages = ([m.model_dump() for m in search.messages] if search.messages
                else [{"role": "user", "content": search.query}])
    world, selection = await _state(request).lore.search(
        search.world, messages, search.chapter, search.lore_budget)
    record.world = world
    record.entries = [hit.id for hit in selection.entries]
    record.lore_tokens = selection.tokens
    return JSONResponse({
        "world": world,
        "entries": [_hit(hit) for hit in selection.entries],
        "dropped": [_hit(hit) for hit in selection.dropped],
        "tokens": selection.tokens,
        "context": selection.context,
    })


def _hit(hit: Any) -> dict[str, Any]:
    return {"id": hit.id, "name": hit.name, "score": round(hit.score, 4),
            "trigger": hit.trigger, "tokens": hit.tokens}


@router.get("/health")
async def health(request: Request) -> Response:
    """200 only when a chat would get its model and its lore without waiting."""
    state = _state(request)
    upstreams = state.pool.describe()
    index, reason = state.lore.health()
    ok = any(u["healthy"] for u in upstreams) and index == "ready"
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "upstreams": upstreams,
         "index": index, "index_error": reason, "worlds": state.lore.world_names()},
        status_code=200 if ok else 503,
    )


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(generate_latest(_state(request).metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)
