"""Lore retrieval for loregate: world folders of markdown -> the lore block for a chat."""

from typing import Any, Protocol, runtime_checkable

from retrieval.engine import LoreEngine
from retrieval.errors import RetrievalError, UnknownWorld
from retrieval.select import LoreHit, Selection
from retrieval.settings import RetrievalSettings
from retrieval.world import Entry, World, WorldIssue, load_world


@runtime_checkable
class LoreIndex(Protocol):
    """What the gateway needs of a lore engine: `LoreEngine` is one, tests bring a fake."""

    def open(self) -> None: ...
    def close(self) -> None: ...
    def interrupt(self) -> None: ...
    def world_names(self) -> list[str]: ...
    def world_budget(self, world: str) -> int: ...
    def status(self) -> dict[str, dict[str, Any]]: ...
    def select(self, world: str, messages: list[dict[str, Any]], *, chapter: int | None = None,
               budget_tokens: int | None = None) -> Selection: ...


__all__ = [
    "Entry",
    "LoreEngine",
    "LoreHit",
    "LoreIndex",
    "RetrievalError",
    "RetrievalSettings",
    "Selection",
    "UnknownWorld",
    "World",
    "WorldIssue",
    "load_world",
]
