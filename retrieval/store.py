"""Chroma behind a small interface: one collection per world that remembers its embedding
model, chunks tagged with their entry and file hash, queries by vector only."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from retrieval.errors import RetrievalError

log = logging.getLogger("retrieval.store")

# bump when chunking or the vectors change: older collections are rebuilt, not refused
# (2: vectors pooled in float32, retrieval.encode)
CHUNK_FORMAT = 2
_BATCH = 1000


class IndexMismatch(RetrievalError):
    """The collection was built with another embedding model; it must be rebuilt."""


@dataclass(frozen=True)
class Chunk:
    id: str
    entry_id: str
    file_hash: str
    text: str


def chunk_id(entry_id: str, index: int) -> str:
    return f"{entry_id}#{index}"


def entry_of(chunk: str) -> str:
    return chunk.rsplit("#", 1)[0]


class LoreStore:
    def __init__(self, index_dir: Path, chroma_url: str | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.chroma_url = chroma_url
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        return self.chroma_url or str(self.index_dir / "chroma")

    @staticmethod
    def collection_name(world: str) -> str:
        return f"lore-{world}-v1"  # starts and ends alphanumeric whatever the world name

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = _connect(self.index_dir, self.chroma_url)
            return self._client

    def find(self, world: str) -> Any | None:
        """The world's collection, or None if it was never built."""
        client = self.client()
        try:
            return client.get_collection(self.collection_name(world), embedding_function=None)
        except Exception as exc:  # chromadb raises NotFoundError (ValueError in older releases)
            if "does not exist" in str(exc) or type(exc).__name__ == "NotFoundError":
                return None
            raise RetrievalError(f"cannot open the lore index of '{world}' at "
                                 f"{self.location}: {exc}") from exc

    def create(self, world: str, model: str, dimension: int) -> Any:
        metadata = {"embed_model": model, "embed_dim": dimension, "chunk_format": CHUNK_FORMAT,
                    "world": world, "hnsw:space": "cosine"}
        return self.client().get_or_create_collection(
            self.collection_name(world), metadata=metadata, embedding_function=None)

    def drop(self, world: str) -> None:
        if self.find(world) is not None:
            self.client().delete_collection(self.collection_name(world))

    def check_model(self, world: str, collection: Any, model: str, dimension: int) -> None:
        meta = collection.metadata or {}
        if meta.get("embed_model") == model and meta.get("embed_dim") == dimension:
            return
        raise IndexMismatch(
            f"the lore index of world '{world}' was built with embedding model "
            f"{meta.get('embed_model', 'unknown')} ({meta.get('embed_dim', '?')} dimensions), "
            f"but the configured model is {model} ({dimension} dimensions). Rebuild it with "
            f"`python -m retrieval index {world} --rebuild`, or point GATEWAY_EMBED_MODEL_DIR "
            f"back at the original model.")

    @staticmethod
    def chunk_format(collection: Any) -> int | None:
        return (collection.metadata or {}).get("chunk_format")

    @staticmethod
    def stored_hashes(collection: Any) -> dict[str, str]:
        """entry id -> file hash of what the collection holds."""
        got = collection.get(include=["metadatas"])
        return {meta["entry"]: meta["hash"] for meta in got["metadatas"] or []}

    def replace(self, collection: Any, remove: Sequence[str], chunks: Sequence[Chunk],
                vectors: Any, check: Callable[[], None] = lambda: None) -> None:
        """Delete every chunk of the `remove` entries, then add `chunks` (each entry's chunks
        next to each other, as `sync` makes them).

        `check` is called between batches and may raise to stop early. Batches end on entry
        boundaries, so a stopped replace leaves each entry whole or absent, never half-written
        under its current hash (which the next sync would take for up to date)."""
        removing = list(remove)
        for start in range(0, len(removing), _BATCH):
            check()
            collection.delete(where={"entry": {"$in": removing[start : start + _BATCH]}})
        for start, end in _entry_batches(chunks):
            check()
            part = chunks[start:end]
            collection.upsert(
                ids=[c.id for c in part],
                embeddings=vectors[start:end],
                metadatas=[{"entry": c.entry_id, "hash": c.file_hash} for c in part],
                documents=[c.text for c in part],
            )

    @staticmethod
    def query(collection: Any, vectors: Any, n_results: int) -> list[list[tuple[str, float]]]:
        """For each query vector, (entry id, cosine similarity) of the nearest chunks."""
        # the entry id is read off the chunk id ("characters/osk#2"): fetching each chunk's
        # metadata too would double the cost of the query
        found = collection.query(query_embeddings=vectors, n_results=n_results,
                                 include=["distances"])
        return [
            [(entry_of(chunk), 1.0 - dist) for chunk, dist in zip(ids, distances, strict=True)]
            for ids, distances in zip(found["ids"], found["distances"], strict=True)
        ]


def _entry_batches(chunks: Sequence[Chunk]) -> Iterator[tuple[int, int]]:
    """(start, end) ranges of about _BATCH chunks that end where an entry ends. An entry with
    more than _BATCH chunks gets a range of its own."""
    start = 0
    while start < len(chunks):
        end = min(start + _BATCH, len(chunks))
        boundary = end
        while boundary < len(chunks) and boundary > start and (
            chunks[boundary - 1].entry_id == chunks[boundary].entry_id
        ):
            boundary -= 1
        if boundary == start:  # one entry fills the batch: take all of it
            boundary = end
            while boundary < len(chunks) and chunks[boundary].entry_id == chunks[start].entry_id:
                boundary += 1
        yield start, boundary
        start = boundary


def _connect(index_dir: Path, chroma_url: str | None) -> Any:
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if chroma_url:
        url = urlparse(chroma_url)
        if not url.hostname:
            raise RetrievalError(f"GATEWAY_CHROMA_URL is not a URL: {chroma_url!r} "
                                 "(expected e.g. http://127.0.0.1:8002)")
        secure = url.scheme == "https"
        log.info("using the Chroma server at %s", chroma_url)
        return chromadb.HttpClient(host=url.hostname, port=url.port or (443 if secure else 8000),
                                   ssl=secure, settings=settings)
    path = index_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)
