"""The assistant's reply text, read back from what the upstream sent.

The next turn of a chat re-sends this reply, and the lore engine embeds every message it scans.
Embedding the reply while the writer reads it (rather than when they answer) takes that cost off
the next request's time to first token.
"""

from __future__ import annotations

import json


def reply_from_sse(raw: bytes) -> str:
    parts: list[str] = []
    for line in raw.split(b"\n"):
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        try:
            event = json.loads(line[6:])
        except ValueError:
            continue
        for choice in event.get("choices") or ():
            content = (choice.get("delta") or {}).get("content")
            if isinstance(content, str) and choice.get("index", 0) == 0:
                parts.append(content)
    return "".join(parts)


def reply_from_json(raw: bytes) -> str:
    try:
        choices = json.loads(raw).get("choices") or []
    except (ValueError, AttributeError):
        return ""
    content = (choices[0].get("message") or {}).get("content") if choices else None
    return content if isinstance(content, str) else ""
