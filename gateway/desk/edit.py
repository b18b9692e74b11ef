"""Edit one entry file from the browser: validated with retrieval's own parser before a byte
is written, written atomically (a temp file beside it, then one rename), never outside the
world folder.

The path comes from the browser, so it is checked twice: as text (no absolute paths, no
`..`, only `.md` files) and after resolving every link (the real file must sit inside the
world's real folder). A link inside the world to a file inside the world is written through,
as the loader reads it; a link that leads out is refused.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from retrieval.entry import Problem, entry_id, parse_entry
from retrieval.world import World


class EditRefused(Exception):
    """The path can't be edited from the desk (outside the world, not an entry file)."""


@dataclass(frozen=True)
class Target:
    relative: str  # as the writer sees it: characters/elena-vasquez.md
    path: Path  # the path inside the world folder (maybe a link)
    real: Path  # the file that gets written


def resolve_target(world_root: Path, relative: str) -> Target:
    """The entry file `relative` names inside `world_root`, or EditRefused saying why."""
    if not relative or "\x00" in relative or "\\" in relative:
        raise EditRefused("not a file name")
    parts = PurePosixPath(relative)
    if parts.is_absolute() or ".." in parts.parts or any(p.startswith(".") for p in parts.parts):
        raise EditRefused(f"{relative}: only files inside the world folder can be edited")
    if parts.suffix.lower() != ".md" or parts.name.lower() == "readme.md":
        raise EditRefused(f"{relative}: only entry files (.md) can be edited")
    root = world_root.resolve()
    path = world_root / parts
    real = path.resolve()
    if not real.is_relative_to(root):
        raise EditRefused(f"{relative} leads outside the world folder; it is never written")
    if not real.is_file():
        raise EditRefused(f"{relative}: no such entry file")
    return Target(parts.as_posix(), path, real)


def validate(text: str, target: Target, world: World) -> list[Problem]:
    """What retrieval would report for `text` as this file: parse problems, and related ids
    missing from the world (the loader skips such an entry)."""
    entry, problems = parse_entry(text, target.relative, target.path)
    if entry is None:
        return problems
    own = entry_id(target.relative)
    missing = [ref for ref in entry.related if ref not in world.entries and ref != own]
    return [Problem(entry.related_lines.get(ref, 2), f"related: no entry '{ref}' in this world")
            for ref in missing]


def fingerprint(real: Path) -> str:
    """What the file held when the form was opened: a save over a file that changed on disk
    since (the writer's editor saved it too) is stopped and shown, not silently lost."""
    return hashlib.sha256(real.read_bytes()).hexdigest()[:20]


def write_atomically(real: Path, text: str) -> None:
    """Replace `real` with `text` in one rename: a reader (the watcher, the index) sees the
    old file or the new one, never half of one. Keeps the file's permissions."""
    mode = real.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, real)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def normalise(text: str) -> str:
    """A textarea sends CRLF line ends; the file keeps LF, and ends with one newline."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"
