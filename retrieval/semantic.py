"""What meaning says about a text's entries. A vector hit is weak evidence: every entry of a
world is somewhat similar to every passage of that world's prose, so an entry counts only by
how far it stands above the field (the typical similarity of the closest entries to the same
text). Off-topic text lifts no entry clear of the others; a description of one thing lifts
that thing. Pure: chunk similarities in, entry judgements out."""

from __future__ import annotations

import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from retrieval.entry import Entry

FIELD_SIZE = 12  # entries whose similarities make up the field


@dataclass(frozen=True)
class Meaning:
    """Each nearby entry's best-chunk similarity to the text, best first, and the field."""

    ranked: list[tuple[str, float]] = field(default_factory=list)
    field: float = 0.0

    def standing(self, margin: float) -> set[str]:
        """Entries at least `margin` above the field: the text is about them."""
        return {entry_id for entry_id, score in self.ranked if score - self.field >= margin}


def meaning(chunk_hits: Sequence[tuple[str, float]], entries: Mapping[str, Entry]) -> Meaning:
    """`chunk_hits` are the nearest chunks as (entry id, cosine); an entry scores its best."""
    best: dict[str, float] = {}
    for entry_id, similarity in chunk_hits:
        if entry_id in entries and similarity > best.get(entry_id, -2.0):
            best[entry_id] = similarity
    ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))
    if not ranked:
        return Meaning()
    return Meaning(ranked, statistics.median(score for _, score in ranked[:FIELD_SIZE]))


def admit(found: Meaning, entries: Mapping[str, Entry], *, threshold: float, margin: float,
          top_k: int, exclude: Collection[str] = ()) -> list[tuple[str, float]]:
    """(entry id, similarity) of the entries that earn a place by meaning alone, best first:
    above `threshold` and `margin` clear of the field, at most `top_k`."""
    admitted = [
        (entry_id, score) for entry_id, score in found.ranked
        if score >= threshold and score - found.field >= margin and entry_id not in exclude
        and not entries[entry_id].always and not entries[entry_id].only_when_named
    ]
    return admitted[:top_k]
