"""The continuity guard: check prose against the facts in a world's entries.

    checker = Checker(load_world(Path("worlds/scifi_world")))
    for finding in checker.check(text, chapter=12):
        print(finding)

Three kinds of finding (`findings.KINDS`), one module each: `status` (a character dead, gone
or not yet introduced, shown acting), `attribute` (colours, the replaced limb's side, rank,
pronouns, age stated near a mention; `attributes.py`, `references.py`) and `spelling` (near
misses of known names). Every check is deterministic and says nothing when the text leaves
room for doubt.
"""

from __future__ import annotations

from retrieval.continuity.findings import KINDS, Finding
from retrieval.continuity.runner import Checker, CheckerCache

__all__ = ["KINDS", "Checker", "CheckerCache", "Finding"]
