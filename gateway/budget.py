"""How much lore fits: plain integers in, a token budget out.

The client sized its prompt without knowing lore would be added, so the lore gets only the room
that the prompt and the reply leave in the model's context window.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Window:
    """The model's context window as one request meets it: numbers, and one way to count.

    `count_prompt` asks for the prompt's exact token count (a round trip to the model server),
    None when it cannot tell; it is only called when the cheap bound leaves too little room.
    """

    max_model_len: int
    reply_tokens: int
    count_prompt: Callable[[], Awaitable[int | None]]


async def fit_to_window(wanted: int, prompt_bound: int, window: Window | None) -> int:
    """The lore budget that fits: `wanted`, or less when the prompt and the reply leave less.

    `prompt_bound` is an upper bound on the prompt's tokens (`prompt_token_bound`); when even
    it leaves room for `wanted`, no exact count is needed. No window (its size unknown): no
    limit to apply.
    """
    if window is None:
        return wanted
    room = lore_room(max_model_len=window.max_model_len, prompt_tokens=prompt_bound,
                     reply_tokens=window.reply_tokens)
    if room is not None and room >= wanted:
        return wanted
    exact = await window.count_prompt()
    prompt = exact if exact is not None else prompt_bound
    return fit(wanted, lore_room(max_model_len=window.max_model_len, prompt_tokens=prompt,
                                 reply_tokens=window.reply_tokens))


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


def reply_tokens(body: Mapping[str, Any], default: int) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        if isinstance(body.get(key), int):
            return body[key]
    return default
