"""`python -m retrieval continuity FILE... --world W [--chapter N]`, and the facts part of
`python -m retrieval check`.

One line per finding, `file:line:column: kind/check: message ["quote"] -> fix`, so editors
and pre-commit hooks can jump to it; exit 1 when there are findings, 2 for an unknown world
or a file that can't be read as UTF-8 text (one clear line, and no other file is checked:
a hook must not pass because half the manuscript was skipped).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from retrieval.continuity.findings import Finding
from retrieval.continuity.runner import Checker
from retrieval.errors import UnknownWorld
from retrieval.facts import shared_name_problems
from retrieval.settings import RetrievalSettings
from retrieval.world import WORLD_NAME, World, WorldIssue, load_world

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
_HEADING = re.compile(r"^#+\s*chapter\s+(\d+)\b", re.IGNORECASE | re.MULTILINE)


def fact_issues(world: World) -> list[WorldIssue]:
    """Facts that contradict each other across entries of one name (one file per span)."""
    return [WorldIssue(entry.file, line, message)
            for entry, line, message in shared_name_problems(world.entries.values())]


def open_world(settings: RetrievalSettings, name: str) -> World:
    root = settings.worlds_dir
    names = sorted(p.name for p in root.iterdir()
                   if p.is_dir() and WORLD_NAME.match(p.name)) if root.is_dir() else []
    if name not in names:
        raise UnknownWorld(name, names)
    return load_world(root / name, max_entry_bytes=settings.max_entry_bytes)


def read_text(path: Path) -> str:
    """The file as UTF-8 text; ValueError with one line saying what is wrong."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start}); save it as UTF-8") from exc


def chapter_of(text: str) -> int | None:
    """The chapter a '# Chapter 12: ...' heading gives, if the file has one."""
    match = _HEADING.search(text)
    return int(match.group(1)) if match else None


def format_finding(path: Path, text: str, finding: Finding) -> str:
    line = finding.line_in(text)
    column = finding.start - (text.rfind("\n", 0, finding.start) + 1) + 1
    return (f"{path}:{line}:{column}: {finding.kind}/{finding.check}: {finding.message} "
            f"[{finding.quote!r}] -> {finding.fix}")


def continuity_files(settings: RetrievalSettings, world_name: str, files: list[Path],
                     chapter: int | None) -> int:
    world = open_world(settings, world_name)  # UnknownWorld: the caller's one message
    try:
        texts = [(path, read_text(path)) for path in files]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    checker = Checker(world)
    total = 0
    for path, text in texts:
        at = chapter if chapter is not None else chapter_of(text)
        findings = checker.check(text, at)
        total += len(findings)
        for finding in findings:
            print(format_finding(path, text, finding))
    print(f"{len(files)} file(s), {total} finding(s)", file=sys.stderr)
    return EXIT_FINDINGS if total else EXIT_OK
