"""Fill a token budget with entries, best first, shortening one to whole sentences if that
lets it fit. Pure: entries and a token counter in, the kept and dropped entries out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from retrieval.entry import Entry
from retrieval.render import entry_block, shortened, shortening_points

SEPARATOR = "\n\n"
MIN_SHORTENED_TOKENS = 24  # a stub shorter than this says too little to be worth the room
SHORTEN_ATTEMPTS = 2  # each attempt tokenizes a few prefixes; later entries rarely fit anyway


@dataclass(frozen=True)
class Candidate:
    entry: Entry
    score: float
    trigger: str
    cap: int | None = None  # the most tokens this entry's block may take (what a scene needs)
    why: str = ""


@dataclass(frozen=True)
class Placed:
    candidate: Candidate
    text: str
    tokens: int
    full_tokens: int

    @property
    def shortened(self) -> bool:
        return self.tokens < self.full_tokens


def fill(
    ranked: Sequence[Candidate],
    budget: int,
    header: str,
    count: Callable[[str], int],
) -> tuple[list[Placed], list[tuple[Candidate, int]]]:
    """Take candidates in `ranked` order while they fit in `budget` tokens (header included).

    Returns (kept, dropped) where dropped pairs a candidate with its full token count.
    """
    kept: list[Placed] = []
    dropped: list[tuple[Candidate, int]] = []
    used = count(header)
    separator = join_cost(count)
    attempts = SHORTEN_ATTEMPTS
    for candidate in ranked:
        block = entry_block(candidate.entry)
        tokens = count(block)
        room = budget - used - separator
        limit = room if candidate.cap is None else min(room, candidate.cap)
        if tokens <= limit:
            kept.append(Placed(candidate, block, tokens, tokens))
        else:
            part = None
            # shortening to a cap is planned (and cached per entry); to the leftover room of
            # a full budget it is a gamble, tried a couple of times per request
            planned = candidate.cap is not None and candidate.cap <= room
            if planned:  # the cap was planned to hold at least the first sentence
                part = shorten(candidate.entry, limit, count, minimum=0)
            elif limit >= MIN_SHORTENED_TOKENS and attempts:
                attempts -= 1
                part = shorten(candidate.entry, limit, count)
            if part is None:
                dropped.append((candidate, tokens))
                continue
            kept.append(Placed(candidate, part[0], part[1], tokens))
        used += kept[-1].tokens + separator
    return kept, dropped


def join_cost(count: Callable[[str], int]) -> int:
    """Tokens the separator adds between two blocks. In context BPE may split the blank line
    into more tokens than it takes alone (SmolLM2: two newline tokens between a sentence and a
    heading, one for the separator by itself)."""
    before, after = "x.", "## x"
    joined = count(before + SEPARATOR + after) - count(before) - count(after)
    return max(count(SEPARATOR), joined)


def trim(placed: Placed, room: int, count: Callable[[str], int]) -> Placed | None:
    """`placed` cut to whole sentences within `room` tokens, however short; None when not even
    its first sentence (with the heading) fits."""
    part = shorten(placed.candidate.entry, room, count, minimum=0)
    if part is None or part[1] >= placed.tokens:
        return None
    return Placed(placed.candidate, part[0], part[1], placed.full_tokens)


@lru_cache(maxsize=16384)
def opening_tokens(entry: Entry, count: Callable[[str], int]) -> int:
    """Tokens of `entry`'s block cut after its first sentence (the whole block if it has
    none): the least of an entry worth placing."""
    points = shortening_points(entry.body)
    body = shortened(entry.body, points[0]) if points else None
    return count(entry_block(entry, body))


@lru_cache(maxsize=16384)
def shorten(entry: Entry, room: int, count: Callable[[str], int],
            minimum: int = MIN_SHORTENED_TOKENS) -> tuple[str, int] | None:
    """The longest whole-sentence prefix of `entry` (as a block) within `room` tokens, or None
    when not even the first sentence fits or the result is shorter than `minimum`. Cached:
    entries are immutable snapshots, and the same caps come back request after request."""
    points = shortening_points(entry.body)
    first = entry_block(entry, shortened(entry.body, points[0])) if points else ""
    if not first or count(first) > room:  # not even the first sentence fits
        return None
    best: tuple[str, int] | None = None
    low, high = 1, len(points) - 1
    while low <= high:  # the longest prefix of whole sentences that fits
        middle = (low + high) // 2
        body = shortened(entry.body, points[middle])
        block = entry_block(entry, body)
        tokens = count(block)
        if tokens <= room:
            best = (block, tokens)
            low = middle + 1
        else:
            high = middle - 1
    best = best or (first, count(first))
    return None if best[1] < minimum else best
