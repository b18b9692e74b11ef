"""A world folder on disk -> a `World`: its entries, its settings and every problem found.

Loading never raises for a bad entry: each malformed file becomes a `WorldIssue` (file, line,
message) and is skipped, so one typo can't hide the rest of the world.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from retrieval.entry import Entry, Problem, content_hash, parse_entry

WORLD_NAME = re.compile(r"^[a-z0-9_-]+$")
WORLD_FILE = "world.yaml"
WORLD_FIELDS = ("name", "description", "budget_tokens")

__all__ = ["WORLD_NAME", "Entry", "ParseCache", "World", "WorldIssue", "load_world"]

# relative path -> (content hash, parsed entry or None, problems); reused across reloads so a
# re-index after one edit parses one file.
ParseCache = dict[str, tuple[str, Entry | None, list[Problem]]]


@dataclass(frozen=True)
class WorldIssue:
    file: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{_display(self.file)}:{self.line}: {self.message}"


@dataclass(frozen=True)
class World:
    name: str
    root: Path
    entries: dict[str, Entry]  # sorted by id
    issues: tuple[WorldIssue, ...] = ()
    description: str = ""
    budget_tokens: int | None = None
    title: str = ""
    files: dict[str, Path] = field(default_factory=dict)  # id -> file, for every valid entry

    def hashes(self) -> dict[str, str]:
        return {entry.id: entry.content_hash for entry in self.entries.values()}


def load_world(root: Path, cache: ParseCache | None = None) -> World:
    """Load `root` (a folder under the worlds directory). Raises only if it isn't a folder."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"world folder not found: {root}")
    cache = {} if cache is None else cache
    issues: list[WorldIssue] = []
    title, description, budget = _read_world_yaml(root, issues)

    parsed: dict[str, Entry] = {}
    seen_keys: dict[str, Entry] = {}
    present: set[str] = set()
    for path in _entry_files(root):
        relative = path.relative_to(root).as_posix()
        present.add(relative)
        try:
            data = path.read_bytes()
        except OSError as exc:
            issues.append(WorldIssue(path, 1, f"cannot read the file: {exc.strerror}"))
            continue
        entry, problems = _parse_cached(data, relative, path, cache)
        issues.extend(WorldIssue(path, p.line, p.message) for p in problems)
        if entry is None:
            continue
        duplicate = seen_keys.get(entry.id.casefold())
        if duplicate is not None:
            issues.append(WorldIssue(path, 1, f"duplicate id '{entry.id}': "
                                              f"{_display(duplicate.file)} already defines it"))
            continue
        seen_keys[entry.id.casefold()] = entry
        parsed[entry.id] = entry
    for stale in set(cache) - present:
        del cache[stale]

    entries: dict[str, Entry] = {}
    for entry_id in sorted(parsed):
        entry = parsed[entry_id]
        dangling = [ref for ref in entry.related if ref not in parsed]
        for ref in dangling:
            hint = _closest(ref, parsed)
            issues.append(WorldIssue(entry.file, entry.related_lines.get(ref, 2),
                                     f"related: no entry '{ref}' in this world{hint}"))
        if not dangling:
            entries[entry_id] = entry
    issues.sort(key=lambda issue: (str(issue.file), issue.line))
    return World(
        name=root.name,
        root=root,
        entries=entries,
        issues=tuple(issues),
        description=description,
        budget_tokens=budget,
        title=title,
        files={entry.id: entry.file for entry in entries.values()},
    )


def _parse_cached(data: bytes, relative: str, path: Path,
                  cache: ParseCache) -> tuple[Entry | None, list[Problem]]:
    digest = content_hash(data)
    hit = cache.get(relative)
    if hit is not None and hit[0] == digest:
        return hit[1], hit[2]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        result: tuple[Entry | None, list[Problem]] = (
            None, [Problem(line, "not UTF-8 text: save the file as UTF-8")])
    else:
        result = parse_entry(text, relative, path)
    cache[relative] = (digest, result[0], result[1])
    return result


def _entry_files(root: Path) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            lowered = name.lower()
            if lowered.endswith(".md") and lowered != "readme.md" and not name.startswith("."):
                found.append(Path(folder) / name)
    return found


def _read_world_yaml(root: Path, issues: list[WorldIssue]) -> tuple[str, str, int | None]:
    path = root / WORLD_FILE
    if not path.exists():
        return root.name, "", None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        issues.append(WorldIssue(path, mark.line + 1 if mark else 1,
                                 f"bad world.yaml, using defaults: {exc}".splitlines()[0]))
        return root.name, "", None
    if not isinstance(data, dict):
        issues.append(WorldIssue(path, 1, "world.yaml must be 'key: value' lines"))
        return root.name, "", None
    for key in data:
        if key not in WORLD_FIELDS:
            issues.append(WorldIssue(path, _yaml_key_line(path, str(key)),
                                     f"unknown field '{key}' (known: {', '.join(WORLD_FIELDS)})"))
    budget = data.get("budget_tokens")
    valid = isinstance(budget, int) and not isinstance(budget, bool) and budget >= 0
    if budget is not None and not valid:
        issues.append(WorldIssue(path, _yaml_key_line(path, "budget_tokens"),
                                 f"budget_tokens must be a whole number >= 0, got {budget!r}"))
        budget = None
    return str(data.get("name") or root.name), str(data.get("description") or "").strip(), budget


def _yaml_key_line(path: Path, key: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith(f"{key}:"):
            return number
    return 1


def _closest(ref: str, known: dict[str, Entry]) -> str:
    match = difflib.get_close_matches(ref, list(known), n=1)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
