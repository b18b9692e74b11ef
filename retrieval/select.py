"""Turn keyword and vector hits into the lore block: fuse, resolve story time, add related and
always-entries, fill the budget, place in a stable order. Pure given a token counter."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from retrieval.budget import SEPARATOR, Candidate, Placed, fill, trim
from retrieval.entry import Entry
from retrieval.render import header_line
from retrieval.triggers import KeywordHit, phrase_key
from retrieval.world import World

RRF_K = 60  # the usual reciprocal-rank-fusion constant: rank 1 scores 1/61
RELATED_FACTOR = 0.5  # a related entry ranks below the entry that pulled it in


@dataclass(frozen=True)
class LoreHit:
    id: str
    name: str
    score: float
    trigger: str  # name | alias | key | vector | related | always
    tokens: int


@dataclass(frozen=True)
class Selection:
    world: str
    entries: list[LoreHit]  # in placement order
    dropped: list[LoreHit]  # fired but didn't fit the budget
    tokens: int  # tokens of `context`
    context: str  # exact text to inject; "" when nothing was selected


def empty(world: str) -> Selection:
    return Selection(world, [], [], 0, "")


def assemble(
    world: World,
    keyword: Sequence[KeywordHit],
    vector: Sequence[tuple[str, float]],
    *,
    chapter: int | None,
    budget: int,
    count: Callable[[str], int],
) -> Selection:
    """`keyword` and `vector` are ranked best first; `vector` is already past the threshold."""
    if budget <= 0:
        return empty(world.name)
    candidates = _fuse(world, keyword, vector, chapter)
    _add_related(world, candidates, chapter)
    if chapter is None:
        _prefer_current(candidates)
    for entry in world.entries.values():
        if entry.always and _holds(entry, chapter):
            score = candidates[entry.id].score if entry.id in candidates else 0.0
            candidates[entry.id] = Candidate(entry, score, "always")
    ranked = sorted(candidates.values(), key=_fill_order)
    kept, dropped = fill(ranked, budget, header_line(world.name), count)
    return _place(world.name, kept, dropped, budget, count)


def _holds(entry: Entry, chapter: int | None) -> bool:
    return chapter is None or entry.holds_at(chapter)


def _fuse(world: World, keyword: Sequence[KeywordHit], vector: Sequence[tuple[str, float]],
          chapter: int | None) -> dict[str, Candidate]:
    scores: dict[str, float] = {}
    triggers: dict[str, str] = {}
    for rank, hit in enumerate(keyword, start=1):
        scores[hit.entry_id] = scores.get(hit.entry_id, 0.0) + 1 / (RRF_K + rank)
        triggers[hit.entry_id] = hit.kind
    for rank, (entry_id, _similarity) in enumerate(vector, start=1):
        scores[entry_id] = scores.get(entry_id, 0.0) + 1 / (RRF_K + rank)
        triggers.setdefault(entry_id, "vector")
    return {
        entry_id: Candidate(world.entries[entry_id], score, triggers[entry_id])
        for entry_id, score in scores.items()
        if entry_id in world.entries and _holds(world.entries[entry_id], chapter)
    }


def _add_related(world: World, candidates: dict[str, Candidate], chapter: int | None) -> None:
    fired = sorted(candidates.values(), key=lambda c: -c.score)
    for parent in fired:
        for ref in parent.entry.related:
            entry = world.entries.get(ref)
            if entry is None or not _holds(entry, chapter):
                continue
            score = parent.score * RELATED_FACTOR
            current = candidates.get(ref)
            if current is None or (current.trigger == "related" and current.score < score):
                candidates[ref] = Candidate(entry, score, "related")


def _prefer_current(candidates: dict[str, Candidate]) -> None:
    """With no chapter given, of entries sharing a name or alias keep the unscoped ones, or
    else the one whose span is latest (e.g. 'Marcus Okafor' before and after chapter 12)."""
    groups: dict[tuple[str, ...], list[Entry]] = {}
    for candidate in candidates.values():
        entry = candidate.entry
        for phrase in {entry.name, *entry.aliases}:
            groups.setdefault(phrase_key(phrase), []).append(entry)
    losers: set[str] = set()
    for entries in groups.values():
        if len(entries) < 2 or not any(entry.scoped for entry in entries):
            continue
        unscoped = [entry for entry in entries if not entry.scoped]
        winners = unscoped or [max(entries, key=_span_end)]
        losers.update(entry.id for entry in entries if entry not in winners)
    for entry_id in losers:
        del candidates[entry_id]


def _span_end(entry: Entry) -> tuple[float, float, str]:
    until = math.inf if entry.until_chapter is None else entry.until_chapter
    start = -math.inf if entry.from_chapter is None else entry.from_chapter
    return until, start, entry.id


def _fill_order(candidate: Candidate) -> tuple[bool, int, bool, float, str]:
    """Always-entries, then by priority; within a priority every entry the conversation
    triggered itself (name, alias, key, vector) before any entry pulled in through `related`,
    whose half-score could otherwise beat a named entry ranked lower."""
    entry = candidate.entry
    return (candidate.trigger != "always", -entry.priority, candidate.trigger == "related",
            -candidate.score, entry.id)


def _place(world: str, kept: list[Placed], dropped: list[tuple[Candidate, int]], budget: int,
           count: Callable[[str], int]) -> Selection:
    """Always-entries first, then by id: the block only changes where the lore changes, so
    vLLM's prefix cache keeps hitting across turns."""
    dropped_hits = [_hit(candidate, tokens) for candidate, tokens in dropped]
    kept = list(kept)
    while kept:
        placed = sorted(kept, key=lambda p: (p.candidate.trigger != "always", p.candidate.entry.id))
        context = SEPARATOR.join([header_line(world), *(p.text for p in placed)])
        tokens = count(context)
        if tokens <= budget:
            hits = [_hit(p.candidate, p.tokens) for p in placed]
            return Selection(world, hits, dropped_hits, tokens, context)
        # token counts don't quite add up across joins: the least wanted entry gives back the
        # overflow in whole sentences, and leaves only if not even its first sentence fits
        least = kept.pop()
        trimmed = trim(least, least.tokens - (tokens - budget), count)
        if trimmed is None:
            dropped_hits.append(_hit(least.candidate, least.full_tokens))
        else:
            kept.append(trimmed)
    return Selection(world, [], dropped_hits, 0, "")


def _hit(candidate: Candidate, tokens: int) -> LoreHit:
    entry = candidate.entry
    return LoreHit(entry.id, entry.name, round(candidate.score, 6), candidate.trigger, tokens)
