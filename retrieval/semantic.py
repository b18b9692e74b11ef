"""What the newest message is about, beyond the names it uses: two signals, one judgement.

Every entry of a world is somewhat like every passage of that world's prose, so neither signal
counts by its raw score: an entry counts by how far it stands above the field (the typical
score of the closest entries for the same text). Meaning (the embedding model) catches
paraphrase; words (BM25, `retrieval/lexical.py`) catch the rarer words a description shares
with its entry ("the register", "the lantern"), and are the sharper of the two on small
worlds. Off-topic text lifts no entry clear of the others. Pure: scores in, judgements out.
"""

from __future__ import annotations

import heapq
import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from retrieval.entry import Entry

FIELD_SIZE = 12  # entries whose scores make up the field
AGREEMENT_TOP = 5  # meaning and words both rank an entry this high: they agree it is in play
WORDS_FLOOR = 2.0  # BM25 field when a text shares words with few entries: one rare word is
# not a description


@dataclass(frozen=True)
class Standing:
    """One signal's scores for a text, best first, and its field."""

    ranked: list[tuple[str, float]] = field(default_factory=list)
    field: float = 0.0

    def above(self, margin: float) -> list[tuple[str, float]]:
        """Entries at least `margin` above the field (an additive scale: cosine)."""
        return [(e, s) for e, s in self.ranked if s - self.field >= margin]

    def times(self, ratio: float, minimum: float = 0.0) -> list[tuple[str, float]]:
        """Entries at least `ratio` times the field and `minimum` (a scale from 0: BM25)."""
        return [(e, s) for e, s in self.ranked if s >= ratio * self.field and s >= minimum]


def standing(scores: Mapping[str, float], entries: Mapping[str, Entry],
             floor: float = -2.0) -> Standing:
    """The closest entries, best first, and their field. Only the first FIELD_SIZE (and any
    tied with the last) are kept: every judgement asks for a score at or above the field, the
    median of those, which no entry further down reaches. On a 1,000-entry world nearly every
    entry shares a word with the text, and sorting them all is what costs."""
    items = [(e, s) for e, s in scores.items() if e in entries]
    if not items:
        return Standing()
    if len(items) > FIELD_SIZE:
        cut = heapq.nlargest(FIELD_SIZE, (s for _, s in items))[-1]
        items = [(e, s) for e, s in items if s >= cut]
    ranked = sorted(items, key=lambda item: (-item[1], item[0]))
    return Standing(ranked, max(floor, statistics.median(s for _, s in ranked[:FIELD_SIZE])))


def best_chunks(chunk_hits: Sequence[tuple[str, float]]) -> dict[str, float]:
    """Entry -> the similarity of its best chunk, from (entry id, cosine) chunk hits."""
    best: dict[str, float] = {}
    for entry_id, similarity in chunk_hits:
        best[entry_id] = max(similarity, best.get(entry_id, -2.0))
    return best


@dataclass(frozen=True)
class Evidence:
    meaning: Standing = Standing()
    words: Standing = Standing()
    context: Standing = Standing()  # the words without the names, aliases and keys in the text

    def vouched(self, meaning_margin: float, words_ratio: float) -> set[str]:
        """Entries either signal says the text is about."""
        return ({e for e, _ in self.meaning.above(meaning_margin)}
                | {e for e, _ in self.words.times(words_ratio)})

    def agreed(self, top: int = AGREEMENT_TOP) -> set[str]:
        """Entries both signals rank among the world's first `top`, whatever their margins:
        two independent judges near agreement (a rank fusion), enough to bring in an entry
        the writer linked to a named one ("Tobias ... the new prisoner" for Pike Tower), not
        enough to bring anything in alone."""
        return ({e for e, _ in self.meaning.ranked[:top]}
                & {e for e, _ in self.words.ranked[:top]})

    def clues(self, meaning_margin: float, words_ratio: float) -> list[set[str]]:
        """What settles which of two people a shared name means, surest first: the entries the
        text's other words are about (the names left out: they would only echo the name), then
        those meaning is about ("a lad who can haul" for the deckhand)."""
        return [{e for e, _ in self.context.times(words_ratio)},
                {e for e, _ in self.meaning.above(meaning_margin)}]


def admit(evidence: Evidence, entries: Mapping[str, Entry], *, threshold: float,
          margin: float, alone: float, words_ratio: float, words_min: float,
          words_support: float, top_k: int,
          exclude: Collection[str] = ()) -> list[tuple[str, float]]:
    """(entry id, score) of the entries that earn a place without being named, best first:
    by words (`words_ratio` times the field and at least `words_min`), then by meaning (above
    `threshold` and `margin` clear of the field) where the words agree (`words_support` times
    their field) or meaning stands `alone` clear of the field; at most `top_k`. A modest lead
    in meaning alone is not enough: on the labelled worlds it brought in as many wrong entries
    as right ones (README, "Lore selection")."""
    by_words = evidence.words.times(words_ratio, words_min)
    agreeing = {e for e, _ in evidence.words.times(words_support)}
    by_meaning = [(e, s) for e, s in evidence.meaning.above(margin)
                  if s >= threshold and (e in agreeing or s - evidence.meaning.field >= alone)]
    admitted: dict[str, float] = {}
    for entry_id, score in [*by_words, *by_meaning]:
        entry = entries[entry_id]
        if entry_id in exclude or entry.always or entry.only_when_named:
            continue
        admitted.setdefault(entry_id, score)
    return list(admitted.items())[:top_k]
