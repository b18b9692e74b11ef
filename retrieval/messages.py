"""The part of an OpenAI chat request that lore is chosen from: the recent turns' text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CONVERSATION_ROLES = ("user", "assistant")  # the system prompt is instructions, not story


def message_text(content: Any) -> str:
    """Text of a message's content: a string, a list of parts ({"type": "text"}), or None."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                parts.append(str(part.get("text") or ""))
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return ""


def tail_words(text: str, limit: int) -> str:
    """The last `limit` words of `text` (all of it when shorter)."""
    parts = text.split()
    return text if len(parts) <= limit else " ".join(parts[-limit:])


def recent_texts(messages: Sequence[dict[str, Any]], turns: int,
                 max_chars: int | None = None) -> list[str]:
    """The last `turns` user/assistant messages with text, oldest first; of a message longer
    than `max_chars`, only its end (where the scene now is), so a pasted manuscript costs
    no more to scan than its last pages."""
    texts = []
    for message in reversed(messages):
        if len(texts) == turns:
            break
        if not isinstance(message, dict) or message.get("role") not in CONVERSATION_ROLES:
            continue
        text = message_text(message.get("content")).strip()
        if max_chars is not None and len(text) > max_chars:
            text = _tail(text, max_chars)
        if text:
            texts.append(text)
    return texts[::-1]


def _tail(text: str, max_chars: int) -> str:
    """The last `max_chars` characters, without the word the cut went through."""
    cut = text[-max_chars:]
    if not (text[-max_chars - 1].isspace() or cut[0].isspace()):
        parts = cut.split(maxsplit=1)
        cut = parts[1] if len(parts) == 2 else cut
    return cut.lstrip()
