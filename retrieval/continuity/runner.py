"""Run every check over one text: analyse once, find mentions once, then each check."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from retrieval.continuity.attributes import check_attributes
from retrieval.continuity.findings import Finding
from retrieval.continuity.model import Mention, WorldModel, build_model
from retrieval.continuity.references import check_references
from retrieval.continuity.spelling import check_spelling
from retrieval.continuity.status import check_status
from retrieval.continuity.text import Document, analyse
from retrieval.world import ParseCache, World, load_world

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
    """One `Checker` per world folder, rebuilt when an entry file changes (by content hash).
    The folder is re-read at most every `max_age` seconds: a reply checked right after an
    edit may miss it by that much, and a busy gateway doesn't re-read 50 files per reply."""

    def __init__(self, max_entry_bytes: int | None = None, max_age: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._checkers: dict[Path, tuple[float, dict[str, str], Checker]] = {}
        self._parsed: dict[Path, ParseCache] = {}
        self.max_entry_bytes = max_entry_bytes
        self.max_age = max_age

    def get(self, root: Path) -> Checker:
        with self._lock:
            now = time.monotonic()
            known = self._checkers.get(root)
            if known is not None and now - known[0] < self.max_age:
                return known[2]
            kwargs = {} if self.max_entry_bytes is None else {
                "max_entry_bytes": self.max_entry_bytes}
            world = load_world(root, self._parsed.setdefault(root, {}), **kwargs)
            hashes = world.hashes()
            checker = known[2] if known is not None and known[1] == hashes else Checker(world)
            self._checkers[root] = (now, hashes, checker)
            return checker
