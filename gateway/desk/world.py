"""The World view's data: entries by type, one entry in full, what holds at a chapter, and
the problems `python -m retrieval check` reports. Plain dicts, so the page and its JSON twin
show the same thing; the templates only loop over them."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.continuity.cli import fact_issues
from retrieval.entry import ENTRY_TYPES
from retrieval.world import Entry, ParseCache, World, WorldIssue, load_world

Stamp = tuple[tuple[str, int, int], ...]  # (path, mtime_ns, size) of every entry file


@dataclass(frozen=True)
class OnDisk:
    stamp: Stamp
    world: World
    problems: list[WorldIssue]  # what `python -m retrieval check` prints, in file order


class WorldSource:
    """The world as the engine loaded it (what requests see), and as it is on disk (what
    `python -m retrieval check` sees).

    Entries come from the engine once it is ready, so the page shows what selection uses;
    before that, or with a fake engine, from the folder. Problems always come from the folder:
    a file fixed in another editor drops off the list at the next page view. The folder is
    re-read only when a file's size or time changed (one stat per file), and then only the
    changed files are parsed again (the loader's parse cache).
    """

    def __init__(self, worlds_dir: Path, max_entry_bytes: int) -> None:
        self.worlds_dir = worlds_dir
        self.max_entry_bytes = max_entry_bytes
        self._disk: dict[str, OnDisk] = {}
        self._caches: dict[str, ParseCache] = {}
        self._lock = threading.Lock()  # one re-read at a time: the parse cache is shared

    def load(self, engine: Any, name: str, ready: bool) -> World:
        if ready and hasattr(engine, "world"):
            return engine.world(name)
        return self.on_disk(name).world

    def on_disk(self, name: str) -> OnDisk:
        root = self.worlds_dir / name
        stamp = _stamp(root)
        with self._lock:
            known = self._disk.get(name)
            if known is not None and known.stamp == stamp:
                return known
            world = load_world(root, self._caches.setdefault(name, {}),
                               max_entry_bytes=self.max_entry_bytes)
            problems = sorted([*world.issues, *fact_issues(world)],
                              key=lambda issue: (str(issue.file), issue.line))
            fresh = OnDisk(stamp, world, problems)
            self._disk[name] = fresh
            return fresh


def _stamp(root: Path) -> Stamp:
    """Every entry file's size and time (links to files followed, to folders not: a folder
    link can lead back into itself, and such edits show at the next index)."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.endswith(".md") or name == "world.yaml":
                path = os.path.join(folder, name)
                try:
                    info = os.stat(path)
                except OSError:
                    continue
                found.append((path, info.st_mtime_ns, info.st_size))
    return tuple(sorted(found))


def is_stale(loaded: World, disk: World) -> bool:
    """Whether the files changed since the engine loaded them (requests use the old ones)."""
    return loaded is not disk and loaded.hashes() != disk.hashes()


def relative(world: World, path: Path) -> str:
    """`path` inside the world folder, as the writer sees it (posix, no leading folder)."""
    try:
        return path.relative_to(world.root).as_posix()
    except ValueError:
        return path.name


def span(entry: Entry) -> str:
    if entry.from_chapter is None and entry.until_chapter is None:
        return ""
    start = "" if entry.from_chapter is None else str(entry.from_chapter)
    end = "" if entry.until_chapter is None else str(entry.until_chapter)
    return f"ch. {start}–{end}" if start and end else (f"from ch. {start}" if start
                                                        else f"until ch. {end}")


def _row(world: World, entry: Entry) -> dict[str, Any]:
    return {"id": entry.id, "name": entry.name, "type": entry.type,
            "aliases": list(entry.aliases), "keys": list(entry.keys), "always": entry.always,
            "from": entry.from_chapter, "until": entry.until_chapter, "span": span(entry),
            "file": relative(world, entry.file),
            "search": " ".join((entry.id, entry.name, *entry.aliases, *entry.keys)).casefold()}


def _matches(row: dict[str, Any], query: str) -> bool:
    return all(word in row["search"] for word in query.casefold().split())


def _holds(row: dict[str, Any], chapter: int) -> bool:
    return ((row["from"] is None or chapter >= row["from"])
            and (row["until"] is None or chapter <= row["until"]))


def problem_rows(world: World, problems: list[WorldIssue]) -> list[dict[str, Any]]:
    return [{"file": relative(world, issue.file), "line": issue.line,
             "message": issue.message} for issue in problems]


class RowCache:
    """The list rows of a loaded world, built once per snapshot (the engine swaps in a new
    World object on every re-index, so identity says when they are stale), with whatever the
    page layer renders from them (`extra`: each row's HTML)."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[World, list[dict[str, Any]], dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, world: World,
            render: Any = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        with self._lock:
            known = self._rows.get(world.name)
        if known is not None and known[0] is world:
            return known[1], known[2]
        rows = [_row(world, entry) for entry in world.entries.values()]
        extra = render(world, rows) if render else {}
        with self._lock:
            self._rows[world.name] = (world, rows, extra)
        return rows, extra


def world_view(world: World, problems: list[WorldIssue], names: list[str], *,
               query: str = "", chapter: int | None = None,
               rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Entries grouped by type (the types in the format's order), filtered by `query` (every
    word must appear in the id, name, aliases or keys) and by `chapter` (entries that hold).
    `rows`: the world's rows from a RowCache (built here when not given)."""
    rows = rows if rows is not None else [_row(world, e) for e in world.entries.values()]
    shown = [r for r in rows if (not query or _matches(r, query))
             and (chapter is None or _holds(r, chapter))]
    groups = {kind: [r for r in shown if r["type"] == kind] for kind in ENTRY_TYPES}
    bounds = [b for r in rows for b in (r["from"], r["until"]) if b is not None]
    return {
        "world": world.name, "title": world.title or world.name, "worlds": names,
        "description": world.description, "budget_tokens": world.budget_tokens,
        "voice": world.voice, "total": len(rows), "shown": len(shown),
        "query": query, "chapter": chapter,
        "max_chapter": max(bounds, default=0) + 1,
        "groups": [{"type": kind, "entries": entries}
                   for kind, entries in groups.items() if entries],
        "problems": problem_rows(world, problems),
    }


def entry_view(world: World, entry: Entry, problems: list[WorldIssue]) -> dict[str, Any]:
    """One entry: its settings, text, related entries (with names), facts, rivals (the
    other files of the same name: its other story spans) and its own problems."""
    related = [{"id": ref, "name": world.entries[ref].name if ref in world.entries else ref,
                "known": ref in world.entries} for ref in entry.related]
    rivals = [{"id": other.id, "span": span(other) or "no span"}
              for other in world.entries.values()
              if other.id != entry.id and other.name.casefold() == entry.name.casefold()]
    facts = [{"key": f.key, "accepted": list(f.values), "detail": f.detail,
              "span": _fact_span(f.from_chapter, f.until_chapter), "line": f.line}
             for f in entry.facts]
    file = relative(world, entry.file)
    return {
        "world": world.name, "id": entry.id, "name": entry.name, "type": entry.type,
        "file": file, "aliases": list(entry.aliases), "keys": list(entry.keys),
        "secondary_keys": list(entry.secondary_keys),
        "secondary_logic": entry.secondary_logic if entry.secondary_keys else None,
        "always": entry.always, "priority": entry.priority, "span": span(entry),
        "from": entry.from_chapter, "until": entry.until_chapter,
        "case_sensitive": entry.case_sensitive, "only_when_named": entry.only_when_named,
        "related": related, "rivals": rivals, "facts": facts, "body": entry.body,
        "problems": [p for p in problem_rows(world, problems) if p["file"] == file],
    }


def _fact_span(start: int | None, end: int | None) -> str:
    if start is None and end is None:
        return ""
    return f"ch. {'' if start is None else start}–{'' if end is None else end}"
