"""One record per request: a structured access-log line and the Prometheus metrics."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

access_log = logging.getLogger("loregate.access")

# Metric labels come from this fixed set, so a client inventing paths cannot mint new series.
ROUTE_NAMES = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completions",
    "/v1/lore/search": "lore_search",
    "/v1/models": "models",
    "/v1/worlds": "worlds",
    "/health": "health",
    "/metrics": "metrics",
}
_RECORD_KEY = "loregate.record"  # in the request's scope["state"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
RECENT_SIZE = 200  # generation requests kept in memory for the desk's Recent view
RECENT_ROUTES = frozenset({"chat", "completions"})


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("loregate_requests_total", "Requests by route and status",
                                ["route", "status"], registry=r)
        self.in_flight = Gauge("loregate_requests_in_flight", "Requests being served",
                               registry=r)
        self.ttft = Histogram("loregate_time_to_first_token_seconds",
                              "From request arrival to the first relayed byte", ["route"],
                              buckets=_LATENCY_BUCKETS, registry=r)
        self.upstream_latency = Histogram("loregate_upstream_latency_seconds",
                                          "From forwarding to the upstream's response headers",
                                          ["route"], buckets=_LATENCY_BUCKETS, registry=r)
        self.lore_seconds = Histogram("loregate_lore_select_seconds", "Lore selection time",
                                      buckets=_LATENCY_BUCKETS, registry=r)
        self.lore_tokens = Histogram("loregate_lore_tokens", "Lore tokens injected",
                                     buckets=(0, 64, 128, 256, 512, 1024, 2048, 4096),
                                     registry=r)
        self.lore_failures = Counter("loregate_lore_unavailable_total",
                                     "Requests forwarded without lore because retrieval failed",
                                     registry=r)
        # the last finished generation requests, newest last: memory only, bounded
        self.recent: deque[RequestRecord] = deque(maxlen=RECENT_SIZE)


@dataclass
class RequestRecord:
    route: str
    metrics: Metrics
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    started: float = field(default_factory=time.perf_counter)
    status: int = 200
    stream: bool = False
    streaming: bool = False  # a stream has started: its end finishes the record, not the route
    world: str | None = None
    voice: str | None = None  # None: the base model answered
    lore_status: str | None = None
    entries: list[str] = field(default_factory=list)
    lore_tokens: int = 0
    lore_ms: float | None = None
    upstream: str | None = None
    forwarded_at: float | None = None
    headers_at: float | None = None
    first_byte_at: float | None = None
    at: float = field(default_factory=time.time)  # wall clock, for people reading it
    chapter: int | None = None  # these three are noted by the desk's lore tap
    lore_hits: list[Any] = field(default_factory=list)  # the Selection's LoreHits
    lore_context: str = ""  # the exact block injected
    _done: bool = False

    def __post_init__(self) -> None:
        self.metrics.in_flight.inc()

    def first_byte(self, at: float) -> None:
        self.first_byte_at = at

    def finish(self) -> None:
        if self._done:
            return
        self._done = True
        m, now = self.metrics, time.perf_counter()
        m.in_flight.dec()
        m.requests.labels(self.route, str(self.status)).inc()
        if self.lore_status == "unavailable":
            m.lore_failures.inc()
        if self.lore_ms is not None:
            m.lore_seconds.observe(self.lore_ms / 1000)
            m.lore_tokens.observe(self.lore_tokens)
        upstream_ms = _ms(self.forwarded_at, self.headers_at)
        ttft_ms = _ms(self.started, self.first_byte_at or (None if self.stream else now))
        if upstream_ms is not None:
            m.upstream_latency.labels(self.route).observe(upstream_ms / 1000)
        if ttft_ms is not None and self.status < 400:
            m.ttft.labels(self.route).observe(ttft_ms / 1000)
        if self.route in RECENT_ROUTES:
            m.recent.append(self)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(json.dumps({
                "request_id": self.request_id, "route": self.route, "status": self.status,
                "stream": self.stream, "world": self.world, "voice": self.voice,
                "lore": self.lore_status,
                "entries": self.entries, "lore_tokens": self.lore_tokens,
                "lore_ms": _round(self.lore_ms), "upstream": self.upstream,
                "upstream_ms": _round(upstream_ms), "ttft_ms": _round(ttft_ms),
                "total_ms": _round((now - self.started) * 1000),
            }))


def route_name(path: str) -> str:
    return ROUTE_NAMES.get(path, "other")


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The client's X-Request-Id, cut to 64 characters, or None."""
    for name, value in headers:
        if name.lower() == b"x-request-id" and value:
            return value[:64].decode("latin-1")
    return None


def attach(scope: dict[str, Any], record: RequestRecord) -> None:
    """Mark the request as recorded by its route, so the error handlers don't count it again."""
    scope.setdefault("state", {})[_RECORD_KEY] = record


def count_unrecorded(scope: dict[str, Any], status: int) -> str | None:
    """Log and count a request answered outside a route's record (401, 431, 404, a crash).

    Returns the request id to send back: the route's own when it has a record, None when the
    app has no metrics (its lifespan never ran).
    """
    existing = scope.get("state", {}).get(_RECORD_KEY)
    if existing is not None:
        return existing.request_id
    state = getattr(getattr(scope.get("app"), "state", None), "gateway", None)
    if state is None:
        return None
    record = RequestRecord(route_name(scope.get("path", "")), state.metrics, status=status)
    record.request_id = request_id_from(scope.get("headers", [])) or record.request_id
    record.finish()
    attach(scope, record)
    return record.request_id


def _ms(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else (end - start) * 1000


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
