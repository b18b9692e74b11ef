"""Lore retrieval for loregate: world folders of markdown -> the lore block for a chat."""

from retrieval.engine import LoreEngine
from retrieval.errors import RetrievalError, UnknownWorld
from retrieval.select import LoreHit, Selection
from retrieval.settings import RetrievalSettings
from retrieval.world import Entry, World, WorldIssue, load_world

__all__ = [
    "Entry",
    "LoreEngine",
    "LoreHit",
    "RetrievalError",
    "RetrievalSettings",
    "Selection",
    "UnknownWorld",
    "World",
    "WorldIssue",
    "load_world",
]
