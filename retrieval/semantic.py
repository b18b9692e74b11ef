"""Which entries a text earns by meaning alone. A vector hit is weak evidence: every entry of
a world is somewhat similar to every passage of that world's prose, so a hit must both pass a
threshold and stand clear of the field (the typical similarity of the other entries to the
same text). Off-topic text lifts no entry clear of the others; a description of one thing
lifts that thing. Pure: chunk similarities in, admitted entries out."""

from __future__ import annotations

import statistics
from collections.abc import Collection, Mapping, Sequence

from retrieval.entry import Entry

FIELD_SIZE = 12  # entries whose similarities make up the field


def admit(
    chunk_hits: Sequence[tuple[str, float]],
    entries: Mapping[str, Entry],
    *,
    threshold: float,
    margin: float,
    top_k: int,
    exclude: Collection[str] = (),
) -> list[tuple[str, float]]:
    """(entry id, similarity) of the entries that stand out, best first, at most `top_k`.

    `chunk_hits` are the nearest chunks as (entry id, cosine); an entry scores its best chunk.
    The field is the median score of the FIELD_SIZE best entries (those in `exclude` count
    towards it too: they are part of what 'typical' means for this text)."""
    best: dict[str, float] = {}
    for entry_id, similarity in chunk_hits:
        if entry_id in entries and similarity > best.get(entry_id, -2.0):
            best[entry_id] = similarity
    ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))
    if not ranked:
        return []
    field = statistics.median(score for _, score in ranked[:FIELD_SIZE])
    admitted = [
        (entry_id, score) for entry_id, score in ranked
        if score >= threshold and score - field >= margin and entry_id not in exclude
        and not entries[entry_id].always and not entries[entry_id].only_when_named
    ]
    return admitted[:top_k]
