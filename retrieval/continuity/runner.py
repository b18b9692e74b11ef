"""Run every check over one text: analyse once, find mentions once, then each check."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from retrieval.continuity.attributes import check_attributes
from retrieval.continuity.findings import Finding
from retrieval.continuity.model import Mention, WorldModel, build_model
from retrieval.continuity.references import check_references
from retrieval.continuity.spelling import check_spelling
from retrieval.continuity.status import check_status
from retrieval.continuity.text import Document, analyse
from retrieval.world import World, load_world

Check = Callable[[Document, WorldModel, list[Mention], int | None], list[Finding]]
CHECKS: tuple[Check, ...] = (check_status, check_attributes, check_references, check_spelling)


class Checker:
    """The checks for one world; build once, call `check` from any thread."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.model = build_model(world.entries.values())

    def check(self, text: str, chapter: int | None = None) -> list[Finding]:
        doc = analyse(text)
        mentions = self.model.find_mentions(doc)
        findings = [f for check in CHECKS for f in check(doc, self.model, mentions, chapter)]
        unique = {(f.kind, f.check, f.start, f.end): f for f in findings}
        return sorted(unique.values(), key=lambda f: (f.start, f.kind, f.check))


class CheckerCache:
    """One `Checker` per world folder, rebuilt when an entry file changes (by content hash:
    loading re-reads the files, parsing only the changed ones)."""

    def __init__(self, max_entry_bytes: int | None = None) -> None:
        self._lock = threading.Lock()
        self._checkers: dict[Path, tuple[dict[str, str], Checker]] = {}
        self._parsed: dict[Path, dict] = {}
        self.max_entry_bytes = max_entry_bytes

    def get(self, root: Path) -> Checker:
        with self._lock:
            cache = self._parsed.setdefault(root, {})
            kwargs = {} if self.max_entry_bytes is None else {
                "max_entry_bytes": self.max_entry_bytes}
            world = load_world(root, cache, **kwargs)
            hashes = world.hashes()
            known = self._checkers.get(root)
            if known is None or known[0] != hashes:
                known = (hashes, Checker(world))
                self._checkers[root] = known
            return known[1]
