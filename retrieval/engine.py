"""The lore engine: worlds on disk + their Chroma indexes -> the lore block for a chat.

Construction is free; `open()` loads every world and refreshes stale indexes. Each world's
loaded state is an immutable snapshot swapped in whole, so `select` can run in many threads
while the watcher re-indexes.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from retrieval.cache import LRU
from retrieval.embed import Embedder
from retrieval.errors import RetrievalError, UnknownWorld
from retrieval.index import IndexReport, sync
from retrieval.kin import KinIndex, kin_hits
from retrieval.lexical import LexicalIndex, terms
from retrieval.messages import recent_texts, tail_words
from retrieval.proper import sharing_a_name
from retrieval.select import (
    Limits,
    Selection,
    assemble,
    backlinks,
    corroborated,
    empty,
    linked,
)
from retrieval.semantic import WORDS_FLOOR, Evidence, admit, best_chunks, standing
from retrieval.settings import RetrievalSettings
from retrieval.store import LoreStore
from retrieval.tokens import load_counter
from retrieval.triggers import TriggerIndex, words
from retrieval.watch import WorldWatcher
from retrieval.world import (
    WORLD_NAME,
    Interrupted,
    ParseCache,
    World,
    load_world,
    raise_if_stopped,
)

log = logging.getLogger("retrieval")

MIN_QUERY_WORDS = 3  # "ok", "go on": too little to search by meaning
FIELD_CHUNKS = 40  # nearest chunks asked for: enough entries to judge the field by
QUERY_WORDS = 160  # a long pasted draft is searched by its end, where the scene now is
ISSUES_LOGGED = 20
CLOSE_WAIT_S = 1.5  # close() waits this long for an interrupted load to let go of the lock


@dataclass(frozen=True)
class _Loaded:
    world: World
    triggers: TriggerIndex
    lexical: LexicalIndex
    collection: Any | None
    chunks: int
    version: int
    error: str | None = None
    kin: KinIndex | None = None
    back: dict[str, frozenset[str]] | None = None  # entry -> the entries relating to it


class LoreEngine:
    def __init__(self, settings: RetrievalSettings,
                 count_tokens: Callable[[str], int] | None = None) -> None:
        self.settings = settings
        self._count = lru_cache(maxsize=8192)(count_tokens) if count_tokens else None
        self.tokenizer = "caller's counter" if count_tokens else ""
        self.store = LoreStore(settings.index_dir, settings.chroma_url)
        self.embedder = Embedder(settings.embed_model_dir, settings.embed_threads,
                                 settings.embed_pipeline)
        self._states: dict[str, _Loaded] = {}
        self._parse_caches: dict[str, ParseCache] = {}
        self._versions = 0
        self._lock = threading.RLock()  # one load or re-index at a time
        self._query_vectors: LRU[Any] = LRU(4096)
        self._query_hits: LRU[list[tuple[str, float]]] = LRU(4096)
        self._watcher: WorldWatcher | None = None
        self._limits = Limits(settings.entry_tokens, settings.brief_tokens,
                              settings.related_entries, settings.vector_top_k)
        self._stop = threading.Event()  # set by interrupt(): every load and index stops

    # life cycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Load every world and bring its index up to date, and load the embedding model and
        the token counter, so the first request after this never waits for a model. Failures
        are logged per world; raises Interrupted if interrupt() or close() is called."""
        with self._lock:
            names = self.world_names()
            log.info("opening %d world(s) from %s; index at %s", len(names),
                     self.settings.worlds_dir, self.store.location)
            self._load_models()
            for name in names:
                raise_if_stopped(self._stop)
                self._refresh(name)
        if self.settings.watch:
            self.start_watching()

    def interrupt(self) -> None:
        """Make a running open(), reindex() or re-index raise Interrupted at its next check,
        within about half a second, and every later load too. Never blocks; safe from any
        thread or a signal handler. For a shutdown: call it first, then close()."""
        self._stop.set()

    def close(self) -> None:
        """interrupt(), stop watching, and drop the loaded worlds. Waits at most CLOSE_WAIT_S
        for a load in another thread to stop; the engine can't be opened again."""
        self.interrupt()
        self.stop_watching()
        if self._lock.acquire(timeout=CLOSE_WAIT_S):
            try:
                self._states.clear()
            finally:
                self._lock.release()
        else:
            log.warning("closing while a world is still loading (it stops at its next check)")
        self._query_hits.clear()

    def ready_parts(self) -> dict[str, bool]:
        """Which models are loaded: {"embedder": ..., "tokenizer": ...}. Both are after open()
        (the embedder unless it failed to load, which is logged)."""
        return {"embedder": self.embedder.loaded, "tokenizer": self._count is not None}

    def _load_models(self) -> None:
        self._counter()
        try:
            self.embedder.load(lambda: raise_if_stopped(self._stop))
        except Interrupted:
            raise
        except Exception as exc:  # worlds still load; searching by meaning will fail
            log.error("the embedding model failed to load: %s", exc)

    def start_watching(self) -> None:
        with self._lock:
            if self._watcher is None:
                self._watcher = WorldWatcher(self.settings.worlds_dir, self._on_change)
            self._watcher.start()

    def stop_watching(self) -> None:
        watcher = self._watcher
        if watcher is not None:
            watcher.stop()

    # questions ----------------------------------------------------------------------------

    def world_names(self) -> list[str]:
        root = self.settings.worlds_dir
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if p.is_dir() and WORLD_NAME.match(p.name))

    def status(self) -> dict[str, dict]:
        report = {}
        for name in self.world_names():
            state = self._states.get(name)
            if state is None:
                report[name] = {"entries": 0, "indexed": False, "issues": 0, "error": None,
                                "voice": None}
                continue
            report[name] = {
                "entries": len(state.world.entries),
                "indexed": state.collection is not None and state.error is None,
                "issues": len(state.world.issues),
                "error": state.error,
                "voice": state.world.voice,
            }
        return report

    def world(self, name: str) -> World:
        return self._state(name).world

    def world_budget(self, name: str) -> int:
        budget = self._state(name).world.budget_tokens
        return self.settings.budget_tokens if budget is None else budget

    def clear_caches(self) -> None:
        """Forget cached query embeddings and scans (benchmarks measure cold requests)."""
        self._query_vectors.clear()
        self._query_hits.clear()
        for state in list(self._states.values()):
            state.triggers.clear_cache()

    # selection ----------------------------------------------------------------------------

    def select(self, world: str, messages: list[dict], *, chapter: int | None = None,
               budget_tokens: int | None = None) -> Selection:
        state = self._state(world)
        if state.error is not None:
            raise RetrievalError(state.error)
        budget = self.world_budget(world) if budget_tokens is None else budget_tokens
        if budget <= 0:
            return empty(world)
        texts = recent_texts(messages, self.settings.recent_turns, self.settings.scan_chars)
        found = self._evidence(state, texts)
        settings = self.settings
        vouched = found.vouched(settings.support_margin, settings.support_ratio)
        # which of two people a shared name means: the text's other words, then whoever the
        # world links to the names that need no settling, then meaning
        words_clue, meaning_clue = found.clues(settings.support_margin, settings.support_ratio)
        plain = [hit.entry_id for hit in state.triggers.find(texts, chapter)
                 if not hit.loose and not hit.weak]
        near = linked(state.world, plain, state.back) if plain else set()
        clues = [words_clue, near, meaning_clue]
        named = state.triggers.find_all(texts, chapter, clues)
        # a loose word ("the bridge") counts where something firmer or the text's other words
        # back it; one nothing backs is the everyday word, and meaning must not bring it back
        keyword = corroborated(state.world, named.hits, words_clue, state.back)
        ordinary = {hit.entry_id for hit in named.hits} - {hit.entry_id for hit in keyword}
        if texts and state.kin is not None:  # "his mother", "her husband's name"
            keyword = [*keyword, *kin_hits(state.kin, texts[-1], keyword, chapter)]
        # the newest message's own evidence adds entries only where it names nobody (a key
        # is a topic, not a name, and a loose word such as "the king" hardly one): next to a
        # named entry, the entries "like" the scene are its neighbours, often the wrong ones.
        # Elsewhere evidence only vouches: for a related entry, a sentence-opening "Hope", or
        # which of two Toms.
        named_now = any(hit.age == 0 and not hit.weak and not hit.loose and hit.kind != "key"
                        for hit in keyword)
        exclude = (state.triggers.ordinary_uses(texts[-1]) | named.unresolved | ordinary
                   if texts else set())
        if named_now:  # only a description the text's other words point at unmistakably
            # ("the old Arcturian who leads the bloc against any treaty"): its rarer words,
            # the names left out, far above the field
            unnamed = admit(Evidence(words=found.context), state.world.entries,
                            threshold=2.0, margin=2.0, alone=2.0,
                            words_ratio=settings.words_named_ratio,
                            words_min=settings.words_min, words_support=math.inf,
                            top_k=min(1, settings.vector_top_k), exclude=exclude)
        else:
            unnamed = admit(
                found, state.world.entries, threshold=settings.vector_threshold,
                margin=settings.vector_margin, alone=settings.vector_alone_margin,
                words_ratio=settings.words_ratio,
                words_min=settings.words_min, words_support=settings.support_ratio,
                top_k=settings.vector_top_k, exclude=exclude)
        own, person = (sharing_a_name(state.world.entries, state.triggers, texts[-1], plain, near)
                       if texts and near else (set(), set()))
        return assemble(state.world, keyword, unnamed, chapter=chapter, budget=budget,
                        count=self._counter(), limits=self._limits,
                        vouched=vouched, agreed=found.agreed() | own, introduced=person)

    def search(self, world: str, query: str, *, chapter: int | None = None,
               budget_tokens: int | None = None) -> Selection:
        """Dry run on a plain query string, as if it were the only message."""
        return self.select(world, [{"role": "user", "content": query}], chapter=chapter,
                           budget_tokens=budget_tokens)

    def _evidence(self, state: _Loaded, texts: list[str]) -> Evidence:
        """What the newest message is about, by meaning and by its words: it is the scene
        being written, and earlier turns had their say when they were new."""
        newest = texts[-1] if texts else ""
        if len(words(newest)) < MIN_QUERY_WORDS:
            return Evidence()
        query = tail_words(newest, QUERY_WORDS)
        entries = state.world.entries
        # a name used as the ordinary word ("a sparrow on the sill") says nothing of its entry
        named, ordinary = (set(terms(" ".join(found))) for found in state.triggers.spoken(newest))
        ordinary -= named
        lexical = state.lexical
        return Evidence(standing(best_chunks(self._nearest(state, query)), entries),
                        standing(lexical.scores(query, ordinary), entries, WORDS_FLOOR),
                        standing(lexical.scores(query, ordinary | named), entries, WORDS_FLOOR))

    def _nearest(self, state: _Loaded, query: str) -> list[tuple[str, float]]:
        if self.settings.vector_top_k == 0 or state.collection is None or state.chunks == 0:
            return []
        n_results = min(FIELD_CHUNKS, state.chunks)
        key = (state.world.name, state.version, n_results, query)
        chunk_hits = self._query_hits.get(key)
        if chunk_hits is None:
            vectors = self._vectors_for([query])
            chunk_hits = self.store.query(state.collection, vectors, n_results)[0]
            self._query_hits.put(key, chunk_hits)
        return chunk_hits

    def _vectors_for(self, texts: list[str]) -> list[Any]:
        """Embed only texts not seen before: a chat re-sends its earlier messages every turn.
        One text per forward pass, so a vector never depends on what it was batched with."""
        for text in texts:
            if self._query_vectors.get(text) is None:
                self._query_vectors.put(text, self.embedder.embed([text])[0])
        return [self._query_vectors.get(t) for t in texts]

    # loading and indexing -----------------------------------------------------------------

    def reindex(self, world: str, *, rebuild: bool = False) -> IndexReport:
        """Reload `world` from disk and sync its index now; raises on failure (for the CLI)."""
        self._check_known(world)
        with self._lock:
            report = self._refresh(world, rebuild=rebuild)
            state = self._states[world]
            if state.error is not None:
                raise RetrievalError(state.error)
            assert report is not None
            return report

    def _state(self, world: str) -> _Loaded:
        state = self._states.get(world)
        if state is not None:
            return state
        self._check_known(world)
        with self._lock:
            if world not in self._states:
                self._refresh(world)
            return self._states[world]

    def _check_known(self, world: str) -> None:
        names = self.world_names()
        if world not in names:
            raise UnknownWorld(world, names)

    def _refresh(self, name: str, rebuild: bool = False) -> IndexReport | None:
        """Load the world, sync its index, swap the snapshot in. Records errors, never raises."""
        cache = self._parse_caches.setdefault(name, {})
        root = self.settings.worlds_dir / name
        try:
            world = load_world(root, cache, max_entry_bytes=self.settings.max_entry_bytes,
                               stop=self._stop)
        except Interrupted:
            raise
        except Exception as exc:
            log.error("world %s failed to load: %s", name, exc)
            empty_world = World(name, root, {})
            self._swap(name, empty_world, None, 0, f"world '{name}' failed to load: {exc}")
            return None
        _log_issues(world)
        try:
            self._counter()
            collection, report = sync(world, self.store, self.embedder, rebuild=rebuild,
                                      stop=self._stop)
            chunks = collection.count()
        except Interrupted:
            raise
        except Exception as exc:
            message = str(exc) if isinstance(exc, RetrievalError) else (
                f"the lore index of '{name}' at {self.store.location} is unusable "
                f"({type(exc).__name__}: {exc}); rebuild it with "
                f"`python -m retrieval index {name} --rebuild`, or delete "
                f"{self.store.location} if Chroma itself can't open it")
            log.error("%s", message)
            self._swap(name, world, None, 0, message)
            return None
        self._swap(name, world, collection, chunks, None)
        log.info("world %s ready: %d entries, %d chunks indexed, %d issue(s)", name,
                 len(world.entries), chunks, len(world.issues))
        return report

    def _swap(self, name: str, world: World, collection: Any, chunks: int,
              error: str | None) -> None:
        self._versions += 1
        entries = world.entries.values()
        triggers = TriggerIndex(entries)
        self._states[name] = _Loaded(world, triggers, LexicalIndex(entries), collection, chunks,
                                     self._versions, error, KinIndex(world.entries, triggers),
                                     backlinks(world))

    def _on_change(self, worlds: set[str]) -> None:
        known = set(self.world_names())
        with self._lock:
            for name in sorted(worlds & known):
                try:
                    report = self._refresh(name)
                except Interrupted:  # closing: the next start re-indexes what is left
                    log.info("re-indexing %s stopped: the engine is closing", name)
                    return
                if report is not None and report.changed:
                    log.info("re-indexed after a change: %s", report)

    def _counter(self) -> Callable[[str], int]:
        if self._count is None:
            count, self.tokenizer = load_counter(self.settings.tokenizer_dir)
            log.info("counting lore tokens with %s", self.tokenizer)
            self._count = lru_cache(maxsize=8192)(count)
        return self._count


def _log_issues(world: World) -> None:
    for issue in world.issues[:ISSUES_LOGGED]:
        log.warning("%s (skipped)", issue)
    if len(world.issues) > ISSUES_LOGGED:
        log.warning("... and %d more issues in %s; run `python -m retrieval check %s`",
                    len(world.issues) - ISSUES_LOGGED, world.name, world.name)
