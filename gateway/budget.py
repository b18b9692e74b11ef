"""How much lore fits: plain integers in, a token budget out.

The client sized its prompt without knowing lore would be added, so the lore gets only the room
that the prompt and the reply leave in the model's context window.
"""

from __future__ import annotations

from typing import Any

# Tokens a chat template adds around each message (role markers, separators), generously.
PER_MESSAGE_OVERHEAD = 8
# Header and separators the injected lore block brings beyond its own counted tokens.
LORE_WRAPPER_TOKENS = 16


def lore_room(
    *,
    max_model_len: int | None,
    prompt_tokens: int,
    reply_tokens: int,
) -> int | None:
    """Tokens left for lore, or None when the window size is unknown (no limit to apply)."""
    if max_model_len is None:
        return None
    return max(0, max_model_len - prompt_tokens - reply_tokens - LORE_WRAPPER_TOKENS)


def fit(requested: int, room: int | None) -> int:
    return requested if room is None else min(requested, room)


def prompt_token_bound(messages: list[dict[str, Any]]) -> int:
    """An upper bound on the prompt's tokens that costs no tokenizer call.

    Byte-level BPE tokenizers never make a token shorter than one byte, so the UTF-8 length of
    the text bounds its token count. When even this bound leaves room for the lore, the exact
    count (a round trip to the upstream) can be skipped.
    """
    total = 0
    for message in messages:
        total += PER_MESSAGE_OVERHEAD + len(str(message.get("role", "")))
        content = message.get("content")
        if isinstance(content, str):
            total += len(content.encode())
        elif isinstance(content, list):
            for part in content:
                text = part.get("text") if isinstance(part, dict) else None
                total += len(text.encode()) if isinstance(text, str) else 1024
        for key in ("tool_calls", "name", "tool_call_id"):
            if key in message:
                total += len(str(message[key]).encode())
    return total


def reply_tokens(body: dict[str, Any], default: int) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        if isinstance(body.get(key), int):
            return body[key]
    return default
