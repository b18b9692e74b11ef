"""Fill a token budget with entries, best first, shortening one to whole sentences if that
lets it fit. Pure: entries and a token counter in, the kept and dropped entries out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from retrieval.entry import Entry
from retrieval.render import cut_points, entry_block, shortened

SEPARATOR = "\n\n"
MIN_SHORTENED_TOKENS = 24  # a stub shorter than this says too little to be worth the room


@dataclass(frozen=True)
class Candidate:
    entry: Entry
    score: float
    trigger: str


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
    separator = count(SEPARATOR)
    for candidate in ranked:
        block = entry_block(candidate.entry)
        tokens = count(block)
        room = budget - used - separator
        if tokens <= room:
            kept.append(Placed(candidate, block, tokens, tokens))
        else:
            part = _shorten_to(candidate.entry, room, count)
            if part is None:
                dropped.append((candidate, tokens))
                continue
            kept.append(Placed(candidate, part[0], part[1], tokens))
        used += kept[-1].tokens + separator
    return kept, dropped


def _shorten_to(entry: Entry, room: int, count: Callable[[str], int]) -> tuple[str, int] | None:
    if room < MIN_SHORTENED_TOKENS:
        return None
    points = cut_points(entry.body)
    best: tuple[str, int] | None = None
    low, high = 0, len(points) - 1
    while low <= high:  # the longest prefix of whole sentences that fits
        middle = (low + high) // 2
        body = shortened(entry.body, points[middle])
        block = entry_block(entry, body)
        tokens = count(block)
        if body and tokens <= room:
            best = (block, tokens)
            low = middle + 1
        else:
            high = middle - 1
    if best is None or best[1] < MIN_SHORTENED_TOKENS:
        return None
    return best
