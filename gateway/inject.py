"""Put the selected lore into the messages that go upstream.

The lore joins the system message (or becomes one when there is none) at the very start of the
conversation: an unchanged lore block keeps the prompt prefix identical across turns, which is
what lets vLLM's prefix cache skip recomputing it.
"""

from __future__ import annotations

from typing import Any

SEPARATOR = "\n\n"


def inject_chat(messages: list[dict[str, Any]], context: str) -> list[dict[str, Any]]:
    if not context:
        return messages
    first = messages[0] if messages else None
    if first is None or first.get("role") != "system":
        return [{"role": "system", "content": context}, *messages]
    content = first.get("content")
    if isinstance(content, list):
        merged: str | list[Any] = [*content, {"type": "text", "text": SEPARATOR + context}]
    elif content:
        merged = f"{content}{SEPARATOR}{context}"
    else:
        merged = context
    return [{**first, "content": merged}, *messages[1:]]


def inject_completion(prompt: Any, context: str) -> Any:
    if not context:
        return prompt
    if isinstance(prompt, str):
        return f"{context}{SEPARATOR}{prompt}"
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        return [f"{context}{SEPARATOR}{p}" for p in prompt]
    return prompt  # token-id prompts: nothing sensible to prepend
