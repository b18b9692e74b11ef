"""Turn keyword and vector hits into the lore block: resolve story time, add related and
always-entries, fill the budget by need, place in a stable order. Pure given a token counter.

A scene needs the entries it names in full, a line or two about what they relate to, and
rarely anything found only by meaning. So the block is built in tiers: always-entries, then
every directly named entry (up to `entry_tokens` each), then a few related entries and a
few semantic hits as briefs (their opening sentences, up to `brief_tokens`). The budget is
the ceiling; what a scene needs is usually well under it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from retrieval.budget import SEPARATOR, Candidate, Placed, fill, join_cost, opening_tokens, trim
from retrieval.entry import Entry
from retrieval.render import entry_block, header_line
from retrieval.triggers import KeywordHit, phrase_key
from retrieval.world import World

TIERS = {"always": 0, "name": 1, "alias": 1, "key": 1, "related": 2, "vector": 3}


@dataclass(frozen=True)
class Limits:
    """How much of each tier a scene gets, whatever room the budget leaves."""

    entry_tokens: int = 400  # a named entry longer than this is cut at a sentence
    brief_tokens: int = 90  # a related entry or a semantic hit: its opening
    related: int = 3  # related entries, in the order the named entries list them
    semantic: int = 2  # entries found only by meaning


@dataclass(frozen=True)
class LoreHit:
    id: str
    name: str
    score: float
    trigger: str  # name | alias | key | vector | related | always
    tokens: int
    why: str = ""  # what fired it: the phrase, the similarity, the entry it relates to


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
    limits: Limits = Limits(),
    vouched: Collection[str] | None = None,
    agreed: Collection[str] = (),
    introduced: Collection[str] = (),
) -> Selection:
    """`keyword` and `vector` are ranked best first; `vector` has already earned its place
    (threshold and margin) and is cut to `limits.semantic` here. `vouched` are the entries
    meaning says the text is about (None: all): a related entry, or a keyword hit that is
    only an ordinary word opening a sentence, needs to be one of them; a related entry may
    instead be one both meaning and words rank near the top (`agreed`). A related character
    comes in only when the text all but names them (`introduced`)."""
    if budget <= 0:
        return empty(world.name)
    supported = (lambda _: True) if vouched is None else vouched.__contains__
    keyword = [hit for hit in keyword if not hit.weak or supported(hit.entry_id)]
    candidates = _named(world, keyword, chapter, limits)
    _add_related(world, candidates, chapter, limits,
                 lambda ref: supported(ref) or ref in agreed, set(introduced))
    _add_semantic(world, candidates, vector, chapter, limits)
    if chapter is None:
        _prefer_current(candidates)
    for entry in world.entries.values():
        if entry.always and _holds(entry, chapter):
            candidates[entry.id] = Candidate(entry, 1.0, "always", limits.entry_tokens, "always")
    _share_room(candidates, budget - count(header_line(world.name)), count, limits)
    ranked = sorted(candidates.values(), key=_fill_order)
    kept, dropped = fill(ranked, budget, header_line(world.name), count)
    return _place(world.name, kept, dropped, budget, count)


def corroborated(world: World, keyword: Sequence[KeywordHit], about: Collection[str],
                 back: Mapping[str, Collection[str]] | None = None) -> list[KeywordHit]:
    """`keyword` without the loose hits nothing else backs. A loose phrase ("coral", "the
    bridge", "the treaty") is an everyday word as often as a name: it counts in a scene of the
    world, where the conversation also names something by a firmer trigger ("Calder relieves
    Marcus on the bridge"), or where the text's other words are about the entry or one it is
    related to either way (`about`), but not in "the bridge would reopen before the parade".
    `back`: entry -> the entries listing it as related (`backlinks`), if known."""
    if not any(hit.loose for hit in keyword):
        return list(keyword)
    scene = any(not hit.loose and not hit.weak for hit in keyword)
    about = set(about)
    # "the captain" in lowercase is the story's captain beside someone the world ties to him
    # ("Calder commands from the bridge and the captain's chair stays empty")
    named = [hit.entry_id for hit in keyword
             if not (hit.loose or hit.weak or hit.kind == "key")]
    near = linked(world, named, back) if named else set()
    return [hit for hit in keyword
            if not hit.loose or (scene and not hit.lowered)
            or (hit.lowered and hit.entry_id in near)
            or linked(world, {hit.entry_id}, back) & about]


def backlinks(world: World) -> dict[str, frozenset[str]]:
    """Entry -> the entries that list it as related."""
    back: dict[str, set[str]] = {}
    for entry in world.entries.values():
        for ref in entry.related:
            back.setdefault(ref, set()).add(entry.id)
    return {ref: frozenset(ids) for ref, ids in back.items()}


def linked(world: World, ids: Collection[str],
           back: Mapping[str, Collection[str]] | None = None) -> set[str]:
    """`ids`, the entries they list as related, and the entries that list one of them."""
    back = backlinks(world) if back is None else back
    found = set(ids)
    for entry_id in ids:
        entry = world.entries.get(entry_id)
        if entry is not None:
            found.update(entry.related)
        found.update(back.get(entry_id, ()))
    return found


def _holds(entry: Entry, chapter: int | None) -> bool:
    return chapter is None or entry.holds_at(chapter)


def _named(world: World, keyword: Sequence[KeywordHit], chapter: int | None,
           limits: Limits) -> dict[str, Candidate]:
    """Entries the conversation names, scored by their rank in `_salience`."""
    found: dict[str, Candidate] = {}
    for rank, hit in enumerate(sorted(keyword, key=_salience)):
        entry = world.entries.get(hit.entry_id)
        if entry is not None and _holds(entry, chapter):
            found[entry.id] = Candidate(entry, 1.0 / (1 + rank), hit.kind, limits.entry_tokens,
                                        hit.why)
    return found


def _salience(hit: KeywordHit) -> tuple[bool, int, int]:
    """Names and aliases before keys (a key is a topic), then the newest, most mentioned:
    in a long pasted draft the character in every paragraph before the town named once."""
    return hit.kind == "key", hit.age, -hit.count


def _add_related(world: World, candidates: dict[str, Candidate], chapter: int | None,
                 limits: Limits, supported: Callable[[str], bool],
                 introduced: Collection[str] = ()) -> None:
    """One hop from the named entries, best-named first, each parent in its own order; only
    entries meaning vouches for, and never a character."""
    parents = sorted(candidates.values(), key=lambda c: -c.score)
    added = 0
    for parent in parents:
        if not parent.entry.brings_related:
            continue
        for ref in parent.entry.related:
            if added >= limits.related:
                return
            entry = world.entries.get(ref)
            # a person comes in when the scene names them: a character merely mentioned in
            # another's entry is the classic wrong person in the scene
            if (entry is None or ref in candidates or entry.only_when_named
                    or (entry.type == "character" and ref not in introduced)
                    or not _holds(entry, chapter)
                    or not supported(ref)):
                continue
            candidates[ref] = Candidate(entry, parent.score / 2, "related", limits.brief_tokens,
                                        f"related to {parent.entry.id}")
            added += 1


def _add_semantic(world: World, candidates: dict[str, Candidate],
                  vector: Sequence[tuple[str, float]], chapter: int | None,
                  limits: Limits) -> None:
    added = 0
    for entry_id, similarity in vector:
        entry = world.entries.get(entry_id)
        if added >= limits.semantic:
            return
        if (entry is None or entry_id in candidates or entry.only_when_named
                or not _holds(entry, chapter)):
            continue
        candidates[entry_id] = Candidate(entry, similarity, "vector", limits.brief_tokens,
                                         f"similar in meaning ({similarity:.2f})")
        added += 1


def _share_room(candidates: dict[str, Candidate], room: int, count: Callable[[str], int],
                limits: Limits) -> None:
    """Cap the named entries so that together they fit the room the always-entries and the
    briefs leave: every named entry gets in (shortened) rather than the first few whole and
    the rest not at all. Short entries keep their whole text and give what they don't use to
    the long ones; none is cut below its first sentence, so where even that doesn't fit for
    all, the least wanted go (in fill order)."""
    named = [c for c in candidates.values() if TIERS[c.trigger] == TIERS["name"]]
    if not named:
        return
    always = sum(count(entry_block(c.entry)) for c in candidates.values()
                 if c.trigger == "always")
    briefs = sum(1 for c in candidates.values()
                 if TIERS[c.trigger] > TIERS["name"]) * limits.brief_tokens
    left = room - always - min(briefs, room // 3) - len(candidates) * join_cost(count)
    wanted = {c.entry.id: min(limits.entry_tokens, count(entry_block(c.entry))) for c in named}
    for index, candidate in enumerate(sorted(named, key=lambda c: wanted[c.entry.id])):
        fair = max(0, left) // (len(named) - index)
        cap = min(wanted[candidate.entry.id],
                  max(fair, opening_tokens(candidate.entry, count)))
        candidates[candidate.entry.id] = replace(candidate, cap=cap)
        left -= cap


def _prefer_current(candidates: dict[str, Candidate]) -> None:
    """With no chapter given, of entries with the same name (one person or thing at different
    story times) keep the unscoped ones, or else the one whose span is latest (e.g. 'Marcus
    Okafor' before and after chapter 12). Different people sharing a first name are the
    triggers' business, not this."""
    groups: dict[tuple[str, ...], list[Entry]] = {}
    for candidate in candidates.values():
        groups.setdefault(phrase_key(candidate.entry.name), []).append(candidate.entry)
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


def _fill_order(candidate: Candidate) -> tuple[int, int, float, str]:
    """Always-entries, named entries, related, semantic; by priority within a tier, then by
    score. A semantic hit never crowds out a named entry, whatever its priority."""
    return (TIERS[candidate.trigger], -candidate.entry.priority, -candidate.score,
            candidate.entry.id)


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
    return LoreHit(entry.id, entry.name, round(candidate.score, 6), candidate.trigger, tokens,
                   candidate.why)
