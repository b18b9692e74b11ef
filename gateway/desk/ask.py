"""Ask the lore: a pasted passage or conversation -> exactly what the gateway would inject.

It calls the same service as `POST /v1/lore/search` (`LoreService.search`), so the answer is
the engine's own: the entries in placement order with their trigger, score and tokens, what
fired but was dropped for the budget, and the exact block.
"""

from __future__ import annotations

import json
import re
from typing import Any

from retrieval import Selection

ROLE_LINE = re.compile(r"^(user|assistant|system)\s*:\s?(.*)$", re.IGNORECASE)
MAX_PASTE_CHARS = 100_000  # the /v1/lore/search query limit's default


def messages_from(text: str) -> list[dict[str, str]]:
    """The paste as chat messages: a JSON list of {role, content}, or lines that start with
    `user:` / `assistant:` / `system:` (each message runs to the next such line), or else one
    user message holding the whole passage."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(m, dict) and isinstance(
                m.get("content"), str) for m in value) and value:
            return [{"role": str(m.get("role", "user")), "content": m["content"]}
                    for m in value]
    messages: list[dict[str, str]] = []
    for line in stripped.splitlines():
        match = ROLE_LINE.match(line)
        if match:
            messages.append({"role": match.group(1).lower(), "content": match.group(2)})
        elif messages:
            messages[-1]["content"] += "\n" + line
        else:
            messages.append({"role": "user", "content": line})
    return messages or [{"role": "user", "content": ""}]


def _hit(hit: Any) -> dict[str, Any]:
    return {"id": hit.id, "name": hit.name, "score": round(hit.score, 4),
            "trigger": hit.trigger, "why": hit.why, "tokens": hit.tokens}


def answer(world: str, selection: Selection, messages: list[dict[str, str]],
           budget: int | None, chapter: int | None) -> dict[str, Any]:
    return {"world": world, "chapter": chapter, "budget": budget,
            "messages": len(messages),
            "entries": [_hit(h) for h in selection.entries],
            "dropped": [_hit(h) for h in selection.dropped],
            "tokens": selection.tokens, "context": selection.context}
