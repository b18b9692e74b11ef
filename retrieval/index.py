"""Keep a world's Chroma collection in step with its files, touching only what changed.

Each entry is embedded as a few chunks (its opening, then each `## ` section), tagged with
the entry id and the hash of its file: a re-index compares hashes and re-embeds only the
files whose hash moved.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from retrieval.embed import Embedder
from retrieval.entry import Entry
from retrieval.render import cut_points
from retrieval.store import CHUNK_FORMAT, Chunk, LoreStore, chunk_id
from retrieval.world import World, raise_if_stopped

log = logging.getLogger("retrieval.index")

SINGLE_CHUNK_WORDS = 150  # shorter entries are embedded whole
MAX_CHUNK_WORDS = 180  # the model reads 256 word pieces; longer sections are split
# chunks embedded between two checks for a stop: 8 take about 0.25 s on one core, so a
# shutdown never waits long for the group in flight
_EMBED_GROUP = 8
_SECTION = re.compile(r"^## +(.+)$", re.MULTILINE)


@dataclass(frozen=True)
class IndexReport:
    world: str
    added: int
    updated: int
    removed: int
    unchanged: int
    chunks: int
    seconds: float

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def __str__(self) -> str:
        return (f"{self.world}: {self.added} added, {self.updated} updated, {self.removed} "
                f"removed, {self.unchanged} unchanged ({self.chunks} chunks embedded, "
                f"{self.seconds:.2f} s)")


def entry_chunks(entry: Entry) -> list[Chunk]:
    """The passages embedded for one entry, each prefixed with the entry's name."""
    also = f"; also {', '.join(entry.aliases)}" if entry.aliases else ""
    title = f"{entry.name} ({entry.type}{also})"
    if len(entry.body.split()) <= SINGLE_CHUNK_WORDS:
        passages = [f"{title}: {entry.body}"]
    else:
        passages = []
        parts = _SECTION.split(entry.body)  # [intro, heading, text, heading, text, ...]
        if parts[0].strip():
            passages += [f"{title}: {piece}" for piece in _pieces(parts[0])]
        for heading, text in zip(parts[1::2], parts[2::2], strict=True):
            passages += [f"{title}, {heading.strip()}: {piece}" for piece in _pieces(text)]
    return [Chunk(chunk_id(entry.id, i), entry.id, entry.content_hash, passage)
            for i, passage in enumerate(passages)]


def _pieces(text: str) -> list[str]:
    """Whole sentences grouped up to MAX_CHUNK_WORDS: a small passage matches a description
    of it far better than a whole section does."""
    pieces: list[str] = []
    current: list[str] = []
    words = 0  # in `current`; joining with spaces never merges two words, so counts add up
    for sentence in _sentences(text):
        count = len(sentence.split())
        if current and words + count > MAX_CHUNK_WORDS:
            pieces.append(" ".join(current))
            current, words = [], 0
        current.append(sentence)
        words += count
    if current:
        pieces.append(" ".join(current))
    return pieces or [text.strip()]


def _sentences(text: str) -> list[str]:
    text = text.strip()
    sentences, start = [], 0
    for point in cut_points(text):
        piece = text[start:point].strip()
        if piece:
            sentences.append(piece)
        start = point
    return sentences


def sync(world: World, store: LoreStore, embedder: Embedder, *, rebuild: bool = False,
         stop: threading.Event | None = None) -> tuple[Any, IndexReport]:
    """Bring the world's collection up to date. Raises IndexMismatch for another model, and
    Interrupted soon after `stop` is set (the collection is then still consistent: an entry is
    stored whole or not at all, and the next sync finishes the job)."""
    started = time.perf_counter()
    check = partial(raise_if_stopped, stop)
    collection = store.find(world.name)
    if collection is not None and (rebuild or store.chunk_format(collection) != CHUNK_FORMAT):
        log.info("%s: rebuilding the index from scratch", world.name)
        store.drop(world.name)
        collection = None
    if collection is not None:
        store.check_model(world.name, collection, embedder.name, embedder.dimension)
    else:
        collection = store.create(world.name, embedder.name, embedder.dimension)

    stored = store.stored_hashes(collection)
    current = world.hashes()
    changed = [entry_id for entry_id, digest in current.items() if stored.get(entry_id) != digest]
    removed = [entry_id for entry_id in stored if entry_id not in current]
    chunks = _chunks_of(world, changed, check)
    if changed:
        log.info("%s: embedding %d entries (%d chunks)", world.name, len(changed), len(chunks))
    vectors = _embed(world.name, chunks, embedder, check)
    store.replace(collection, [e for e in changed if e in stored] + removed, chunks, vectors,
                  check=check)
    updated = sum(1 for entry_id in changed if entry_id in stored)
    report = IndexReport(world.name, len(changed) - updated, updated, len(removed),
                         len(current) - len(changed), len(chunks), time.perf_counter() - started)
    if report.changed:
        log.info("indexed %s", report)
    return collection, report


def _chunks_of(world: World, changed: list[str], check: Callable[[], None]) -> list[Chunk]:
    chunks: list[Chunk] = []
    for entry_id in changed:
        check()
        chunks += entry_chunks(world.entries[entry_id])
    return chunks


def _embed(world: str, chunks: list[Chunk], embedder: Embedder,
           check: Callable[[], None]) -> Any:
    import numpy as np

    if not chunks:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    embedder.load(check)  # the model loads in the background while stops are still heard
    parts = []
    last_report = time.perf_counter()
    for start in range(0, len(chunks), _EMBED_GROUP):
        check()
        parts.append(embedder.embed([c.text for c in chunks[start : start + _EMBED_GROUP]]))
        done = min(start + _EMBED_GROUP, len(chunks))
        if time.perf_counter() - last_report > 5 and done < len(chunks):
            log.info("%s: embedded %d/%d chunks", world, done, len(chunks))
            last_report = time.perf_counter()
    return np.concatenate(parts).astype(np.float32)
