"""The Recent view: the last generation requests through the gateway, newest first, from the
bounded ring in `gateway.observe.Metrics.recent` (memory only; the access log is the record
on disk), with the continuity guard's findings for each when it checked the reply."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from gateway.observe import RequestRecord


def _ms(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round((end - start) * 1000, 1)


def request_row(record: RequestRecord, findings: Mapping[str, Any] | None) -> dict[str, Any]:
    hits = [{"id": h.id, "name": h.name, "trigger": h.trigger, "why": h.why,
             "score": round(h.score, 3), "tokens": h.tokens} for h in record.lore_hits]
    if not hits:  # a request the tap did not see (lore off, a record from elsewhere)
        hits = [{"id": e, "name": e, "trigger": "", "why": "", "score": None, "tokens": None}
                for e in record.entries]
    report = findings or {}
    return {
        "id": record.request_id,
        "time": time.strftime("%H:%M:%S", time.localtime(record.at)),
        "date": time.strftime("%Y-%m-%d", time.localtime(record.at)),
        "route": record.route, "status": record.status, "stream": record.stream,
        "voice": record.voice or "base", "world": record.world, "chapter": record.chapter,
        "lore_status": record.lore_status, "lore_tokens": record.lore_tokens,
        "lore_ms": None if record.lore_ms is None else round(record.lore_ms, 1),
        "ttft_ms": _ms(record.started, record.first_byte_at),
        "entries": hits, "context": record.lore_context,
        "findings": report.get("findings", []), "findings_count": report.get("count"),
    }


def recent_view(records: list[RequestRecord], store: Mapping[str, Mapping[str, Any]],
                limit: int) -> dict[str, Any]:
    newest = list(reversed(records))[:limit]
    return {"requests": [request_row(r, store.get(r.request_id)) for r in newest],
            "kept": len(records)}
