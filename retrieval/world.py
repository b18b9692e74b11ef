"""A world folder on disk -> a `World`: its entries, its settings and every problem found.

Loading never raises for a bad entry: each malformed file becomes a `WorldIssue` (file, line,
message) and is skipped, so one typo can't hide the rest of the world. Nor can a hostile one
stall it: only regular files are read, each up to a size cap, never through a link that leads
out of the world folder (see `WorldReader`).
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from retrieval.entry import (
    Entry,
    Problem,
    clip,
    content_hash,
    load_yaml,
    parse_entry,
    shown,
    yaml_problem,
)
from retrieval.errors import RetrievalError
from training.voices import VOICE_NAME  # standard library only, like the rest of a voice

WORLD_NAME = re.compile(r"^[a-z0-9_-]+$")
WORLD_FILE = "world.yaml"
WORLD_FIELDS = ("name", "description", "budget_tokens", "voice")
MAX_ENTRY_BYTES = 1 << 20  # RetrievalSettings.max_entry_bytes' default

__all__ = ["MAX_ENTRY_BYTES", "WORLD_NAME", "Entry", "Interrupted", "ParseCache", "World",
           "WorldIssue", "load_world", "raise_if_stopped"]

# relative path -> (content hash, parsed entry or None, problems); reused across reloads so a
# re-index after one edit parses one file.
ParseCache = dict[str, tuple[str, Entry | None, list[Problem]]]


class Interrupted(RetrievalError):
    """Loading or indexing stopped because the engine is closing (a shutdown)."""


def raise_if_stopped(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise Interrupted("loading the lore was interrupted: the engine is closing")


@dataclass(frozen=True)
class WorldIssue:
    file: Path
    line: int
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", clip(self.message))

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
    voice: str | None = None  # the voice `model: loregate` gets for this world
    files: dict[str, Path] = field(default_factory=dict)  # id -> file, for every valid entry

    def hashes(self) -> dict[str, str]:
        return {entry.id: entry.content_hash for entry in self.entries.values()}


def load_world(root: Path, cache: ParseCache | None = None, *,
               max_entry_bytes: int = MAX_ENTRY_BYTES,
               stop: threading.Event | None = None) -> World:
    """Load `root` (a folder under the worlds directory). Raises only if it isn't a folder, or
    Interrupted once `stop` is set (checked before each file and folder)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"world folder not found: {root}")
    cache = {} if cache is None else cache
    issues: list[WorldIssue] = []
    reader = WorldReader(root, max_entry_bytes, stop, issues)
    title, description, budget, voice = _read_world_yaml(reader, issues)

    parsed: dict[str, Entry] = {}
    seen_keys: dict[str, Entry] = {}
    present: set[str] = set()
    for path, real in reader.entry_files():
        raise_if_stopped(stop)
        relative = path.relative_to(root).as_posix()
        present.add(relative)
        data = reader.read(path, real)
        if data is None:
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
        voice=voice,
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


class _Refused(Exception):
    """A file that is not read, and why (the WorldIssue's message)."""


class WorldReader:
    """Finds and reads a world's files, refusing what could stall the load or leak other
    files: anything but a regular file (reading a FIFO blocks forever, /dev/zero never ends),
    a file over the size cap, and a link that leads out of the world folder. Each refusal
    becomes a WorldIssue; nothing refused is read, and no file beyond `max_bytes` + 1."""

    def __init__(self, root: Path, max_bytes: int, stop: threading.Event | None,
                 issues: list[WorldIssue]) -> None:
        self.root = root
        self.real_root = root.resolve()
        self.max_bytes = max_bytes
        self.stop = stop
        self.issues = issues

    def entry_files(self) -> list[tuple[Path, Path]]:
        """(path inside the world, the real file it names) for each entry file, in the order
        ids are claimed: a folder's files by name, then its subfolders by name."""
        found: list[tuple[Path, Path]] = []
        self._walk(self.root, self.real_root, frozenset({self.real_root}), set(), found)
        return found

    def real_path(self, path: Path) -> Path | None:
        """Where `path` really is, if that is inside the world (else None, and an issue)."""
        return self._inside(path, path.is_symlink(), self.real_root / path.relative_to(self.root))

    def read(self, path: Path, real: Path) -> bytes | None:
        """The file's bytes, or None once the reason it can't be read is recorded."""
        try:
            return _read_regular(real, self.max_bytes)
        except _Refused as refused:
            self._issue(path, str(refused))
        except OSError as exc:
            self._issue(path, f"cannot read the file: {exc.strerror}")
        return None

    def _walk(self, folder: Path, real_folder: Path, ancestors: frozenset[Path],
              linked: set[Path], found: list[tuple[Path, Path]]) -> None:
        raise_if_stopped(self.stop)
        try:
            with os.scandir(folder) as scan:
                children = sorted((c for c in scan if not c.name.startswith(".")),
                                  key=lambda child: child.name)
        except OSError as exc:
            self._issue(folder, f"cannot read the folder: {exc.strerror}")
            return
        subfolders: list[tuple[Path, Path, bool]] = []
        for child in children:
            path, is_link = folder / child.name, child.is_symlink()
            real = self._inside(path, is_link, real_folder / child.name)
            if real is None:
                continue
            if os.path.isdir(real) if is_link else child.is_dir(follow_symlinks=False):
                subfolders.append((path, real, is_link))
            elif _is_entry_name(child.name):
                found.append((path, real))
        for path, real, is_link in subfolders:
            if real in ancestors:  # a link to a folder it is in: following it never ends
                self._issue(path, "is a link to a folder that contains it; not followed")
                continue
            if is_link:
                if real in linked:  # a folder linked many times: read once, not 2^n times
                    self._issue(path, f"links to {_display(real)}, already read through "
                                      "another link; not followed")
                    continue
                linked.add(real)
            self._walk(path, real, ancestors | {real}, linked, found)

    def _inside(self, path: Path, is_link: bool, real: Path) -> Path | None:
        """`real` for a plain file or folder; a link's target if that is inside the world."""
        if not is_link:
            return real
        target = Path(os.path.realpath(path))
        if target.is_relative_to(self.real_root):
            return target
        if _is_entry_name(path.name) or path.name == WORLD_FILE or os.path.isdir(target):
            self._issue(path, f"is a link to {clip(str(target), 200)}, outside the world "
                              "folder; not read. Copy the file into the world (links within "
                              "it are fine)")
        return None

    def _issue(self, path: Path, message: str) -> None:
        self.issues.append(WorldIssue(path, 1, message))


def _is_entry_name(name: str) -> bool:
    lowered = name.lower()
    return lowered.endswith(".md") and lowered != "readme.md" and not name.startswith(".")


_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)  # a FIFO opens without a writer
               | getattr(os, "O_NOFOLLOW", 0)  # `real` has no links; one swapped in is refused
               | getattr(os, "O_CLOEXEC", 0))


def _read_regular(real: Path, cap: int) -> bytes:
    """The bytes of `real`, a regular file of at most `cap` bytes; raises _Refused otherwise.
    Checked before opening (nothing odd is opened) and again on the open file (it may have
    been swapped in between)."""
    _check_regular(os.stat(real, follow_symlinks=False), cap)
    fd = os.open(real, _OPEN_FLAGS)
    try:
        _check_regular(os.fstat(fd), cap)
        data = _read_at_most(fd, cap + 1)
    finally:
        os.close(fd)
    if len(data) > cap:  # it grew since the check
        raise _Refused(_too_large(len(data), cap, "at least "))
    return data


def _check_regular(info: os.stat_result, cap: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise _Refused(f"is {_kind(info.st_mode)}, not a regular file; not read. Replace it "
                       "with a plain text file")
    if info.st_size > cap:
        raise _Refused(_too_large(info.st_size, cap))


def _read_at_most(fd: int, limit: int) -> bytes:
    parts: list[bytes] = []
    left = limit
    while left > 0:
        part = os.read(fd, min(left, 1 << 20))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a folder" if stat.S_ISDIR(mode) else "a special file"


def _too_large(size: int, cap: int, qualifier: str = "") -> str:
    return (f"the file is {qualifier}{_size(size)}, over the {_size(cap)} limit for one entry; "
            "not read. Split it into smaller entries (or raise GATEWAY_MAX_ENTRY_BYTES)")


def _size(count: int) -> str:
    return f"{count / (1 << 20):.1f} MB ({count:,} bytes)"


def _read_world_yaml(reader: WorldReader,
                     issues: list[WorldIssue]) -> tuple[str, str, int | None, str | None]:
    """(title, description, budget, voice) from world.yaml; the defaults where it is absent or
    bad."""
    root = reader.root
    defaults = root.name, "", None, None
    path = root / WORLD_FILE
    if not os.path.lexists(path):
        return defaults
    real = reader.real_path(path)
    data = reader.read(path, real) if real is not None else None
    if data is None:
        return defaults
    try:
        text = data.decode("utf-8")
        values = load_yaml(text) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = yaml_problem(exc, WORLD_FILE) if isinstance(exc, yaml.YAMLError) else (
            "world.yaml is not UTF-8 text: save it as UTF-8")
        issues.append(WorldIssue(path, mark.line + 1 if mark else 1,
                                 f"{reason}; using the defaults"))
        return defaults
    if not isinstance(values, dict):
        issues.append(WorldIssue(path, 1, "world.yaml must be 'key: value' lines"))
        return defaults
    return _world_fields(path, text, values, issues)


def _world_fields(path: Path, text: str, values: dict, issues: list[WorldIssue],
                  ) -> tuple[str, str, int | None, str | None]:
    key_lines = _yaml_key_lines(text)
    for key in values:
        if key not in WORLD_FIELDS:
            issues.append(WorldIssue(path, key_lines.get(str(key), 1),
                                     f"unknown field '{key}' (known: {', '.join(WORLD_FIELDS)})"))
    budget = values.get("budget_tokens")
    valid = isinstance(budget, int) and not isinstance(budget, bool) and budget >= 0
    if budget is not None and not valid:
        issues.append(WorldIssue(path, key_lines.get("budget_tokens", 1),
                                 f"budget_tokens must be a whole number >= 0, got {shown(budget)}"))
        budget = None
    voice = values.get("voice")
    if voice is not None and not (isinstance(voice, str) and VOICE_NAME.match(voice)):
        issues.append(WorldIssue(path, key_lines.get("voice", 1),
                                 f"voice must be a voice's name (lowercase letters, digits, '-', "
                                 f"'_'), got {shown(voice)}"))
        voice = None
    title = str(values.get("name") or path.parent.name)
    return title, str(values.get("description") or "").strip(), budget, voice


def _yaml_key_lines(text: str) -> dict[str, int]:
    """Top-level key -> its line, in one pass (looking each key up anew was quadratic)."""
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        key, colon, _ = line.partition(":")
        if colon and key and not key[0].isspace():
            lines.setdefault(key, number)
    return lines


def _closest(ref: str, known: dict[str, Entry]) -> str:
    match = difflib.get_close_matches(ref, list(known), n=1)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _display(path: Path) -> str:
    """The path relative to the working folder where it is under it. A link keeps its own
    name: the issue is about the link, not what it points to."""
    for candidate in (Path(os.path.abspath(path)), path.parent.resolve() / path.name):
        try:
            return str(candidate.relative_to(Path.cwd()))
        except ValueError:
            continue
    return str(path)
