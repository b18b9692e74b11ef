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


def recent_texts(messages: Sequence[dict[str, Any]], turns: int) -> list[str]:
    """The last `turns` user/assistant messages with text, oldest first."""
    texts = []
    for message in reversed(messages):
        if len(texts) == turns:
            break
        if not isinstance(message, dict) or message.get("role") not in CONVERSATION_ROLES:
            continue
        text = message_text(message.get("content")).strip()
        if text:
            texts.append(text)
    return texts[::-1]
