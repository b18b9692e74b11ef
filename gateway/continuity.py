"""The continuity guard in the gateway: check each chat reply against the world's facts.

A streamed reply is relayed untouched; when it ends, the checks run on the text it carried
(`gateway.relay.with_continuity`) and the findings go out as one SSE comment line before
`data: [DONE]` (OpenAI clients skip comment lines), into the log, into /metrics, and into a
bounded store read by `GET /v1/continuity/{request_id}`. A non-streamed reply gets
`X-Continuity: <count>`. `X-Continuity: off` or `"continuity": false` turns it off for one
request; the field never goes upstream. `POST /v1/continuity/check` checks any text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from gateway.errors import APIError, shown
from gateway.observe import RequestRecord
from gateway.protocol import MAX_WORLD_CHARS, validate
from gateway.relay import reply_text, with_continuity
from retrieval.continuity import CheckerCache, Finding
from retrieval.settings import RetrievalSettings
from retrieval.world import WORLD_NAME

log = logging.getLogger("loregate.continuity")
router = APIRouter()

FIELD = "continuity"  # the body control; stripped before forwarding
STORE_SIZE = 1024  # request ids kept for GET /v1/continuity/{id}, oldest dropped first
MAX_TEXT_CHARS = 2_000_000  # longer text is a 400: about 350,000 words, a whole novel


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=MAX_TEXT_CHARS)
    world: str | None = Field(None, max_length=MAX_WORLD_CHARS)
    chapter: StrictInt | None = Field(None, ge=0)


class ContinuityService:
    """Checkers per world (rebuilt when its files change), counters, and the store."""

    def __init__(self, settings: RetrievalSettings, registry: CollectorRegistry) -> None:
        self.worlds_dir = settings.worlds_dir
        self.default_world = settings.world
        self.checkers = CheckerCache(settings.max_entry_bytes)
        self.store: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.findings = Counter("loregate_continuity_findings_total",
                                "Continuity findings in replies and checked texts", ["kind"],
                                registry=registry)
        self.checked = Counter("loregate_continuity_checks_total", "Texts checked",
                               ["source"], registry=registry)
        self.seconds = Histogram("loregate_continuity_check_seconds", "Time to check a text",
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
                                 registry=registry)

    def known_worlds(self) -> list[str]:
        root = self.worlds_dir
        return sorted(p.name for p in root.iterdir() if p.is_dir()
                      and WORLD_NAME.match(p.name)) if root.is_dir() else []

    async def check(self, world: str | None, chapter: int | None, text: str,
                    source: str) -> dict[str, Any]:
        """The report for `text`; APIError 404 for an unknown world."""
        name = world or self.default_world
        if name not in self.known_worlds():
            raise APIError(404, f"Unknown world '{shown(name)}'. Known worlds: "
                           f"{', '.join(self.known_worlds()) or 'none'}.", param="world",
                           code="world_not_found")
        started = time.perf_counter()
        findings = await asyncio.to_thread(self._check, name, chapter, text)
        elapsed = time.perf_counter() - started
        self.seconds.observe(elapsed)
        self.checked.labels(source).inc()
        for finding in findings:
            self.findings.labels(finding.kind).inc()
        return {"world": name, "chapter": chapter, "count": len(findings),
                "ms": round(elapsed * 1000, 2), "findings": [f.to_dict() for f in findings]}

    def _check(self, world: str, chapter: int | None, text: str) -> list[Finding]:
        return self.checkers.get(self.worlds_dir / world).check(text, chapter)

    def remember(self, request_id: str, report: dict[str, Any]) -> None:
        self.store[request_id] = {"request_id": request_id, **report}
        self.store.move_to_end(request_id)
        while len(self.store) > STORE_SIZE:
            self.store.popitem(last=False)
        if report.get("count"):
            log.warning("continuity %s: %d finding(s): %s", request_id, report["count"],
                        "; ".join(f"{f['kind']}/{f['check']} {f['quote']!r}: {f['message']}"
                                  for f in report["findings"]))


def wanted(body: Mapping[str, Any], headers: Mapping[str, str]) -> bool:
    """Whether this request's reply is checked: on unless X-Continuity: off or the body's
    "continuity": false (a header wins, as for the lore controls)."""
    if "x-continuity" in headers:
        flag = headers["x-continuity"].strip().lower()
        if flag not in ("on", "off", "true", "false", "1", "0"):
            raise APIError(400, "X-Continuity must be 'on' or 'off'.", param="X-Continuity")
        return flag in ("on", "true", "1")
    value = body.get(FIELD, True)
    if not isinstance(value, bool):
        raise APIError(400, "continuity must be true or false.", param=FIELD)
    return value


Handler = Callable[[Request, dict[str, Any], RequestRecord], Awaitable[Response]]


def guarded(handler: Handler) -> Handler:
    """`handler` (the chat route) with its reply checked, unless the request turns it off.
    The control field is taken out of the body first, so it is never forwarded."""

    async def guarded_handler(request: Request, body: dict[str, Any],
                              record: RequestRecord) -> Response:
        on = wanted(body, request.headers)
        response = await handler(request, {k: v for k, v in body.items() if k != FIELD},
                                 record)
        if not on:
            return response
        # the chat handler has validated the controls; read them again without a model,
        # since this runs before the first byte goes out
        world = record.world or request.headers.get("x-world") or body.get("world")
        return await guard_reply(request, response, world, _chapter(body, request.headers),
                                 record.request_id)

    return guarded_handler


def _chapter(body: Mapping[str, Any], headers: Mapping[str, str]) -> int | None:
    raw = headers.get("x-story-chapter", body.get("chapter"))
    try:
        return None if raw is None or isinstance(raw, bool) else int(raw)
    except (TypeError, ValueError):
        return None


async def guard_reply(request: Request, response: Response, world: str | None,
                      chapter: int | None, request_id: str) -> Response:
    """Attach the guard to a chat reply: the stream's end, or a header on a whole reply."""
    service: ContinuityService | None = getattr(request.app.state, "continuity", None)
    if service is None or response.status_code >= 400:
        return response

    async def report(text: str) -> dict[str, Any]:
        try:
            result = await service.check(world, chapter, text, "reply")
        except APIError as exc:  # an unknown world with lore off: say so, don't fail
            result = {"world": world, "chapter": chapter, "error": exc.message, "count": 0,
                      "findings": []}
        service.remember(request_id, result)
        return {"request_id": request_id, **result}

    if isinstance(response, StreamingResponse):
        response.body_iterator = with_continuity(response.body_iterator, report)
        return response
    result = await report(reply_text(response.body, streamed=False))
    response.headers["X-Continuity"] = str(result["count"])
    return response


@router.post("/v1/continuity/check")
async def check_text(request: Request) -> Response:
    # imported here: gateway.routes imports gateway.chat, which imports this module
    from gateway.routes import read_body

    body = validate(CheckRequest, await read_body(request))
    service: ContinuityService = request.app.state.continuity
    return JSONResponse(await service.check(body.world, body.chapter, body.text, "check"))


@router.get("/v1/continuity/{request_id}")
async def findings_of(request: Request, request_id: str) -> Response:
    service: ContinuityService = request.app.state.continuity
    report = service.store.get(request_id)
    if report is None:
        raise APIError(404, f"No continuity report for request '{shown(request_id)}': it had "
                       f"continuity off, has not finished, or is older than the last "
                       f"{STORE_SIZE} replies.", param="request_id", code="report_not_found")
    return JSONResponse(report)

