"""Read the writer's files and strip what is not prose.

Reads `.txt` and `.md` recursively. A file that is not UTF-8, is empty or looks binary
is reported (path and reason) and skipped; the rest go on. Stripped: author notes
(`A/N:` lines), TODO/FIXME lines, bracketed editing comments (`[check …]`, `[[…]]`,
`[TK]`) and HTML comments. Paragraph breaks are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SUFFIXES = (".txt", ".md")

_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_AUTHOR_NOTE = re.compile(r"^\s*(?:[-*>#]+\s*)?(?:A/N|AN)\s*:", re.IGNORECASE)
_TODO = re.compile(r"^\s*(?:[-*>#/]+\s*)?(?:TODO|FIXME|XXX)\b", re.IGNORECASE)
_EDIT_WORDS = (
    "check|fix|fixme|todo|tk|note|notes|ed|editor|edit|cut|add|insert|rewrite|research|"
    "expand|verify|confirm|source|cite|placeholder|comment|nb|q|query|name|rename|tbd|tba"
)
_BRACKET_EDIT = re.compile(
    rf"\s*(?:\[\[.*?\]\]|\[(?:{_EDIT_WORDS})\b[^\]\n]*\]|\[\s*\?+\s*\])", re.IGNORECASE
)


@dataclass
class SourceText:
    path: Path
    relative: str
    text: str
    sha256: str


@dataclass
class ReadReport:
    sources: list[SourceText] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    lines_stripped: int = 0


def clean_text(raw: str) -> tuple[str, int]:
    """Prose only, paragraph breaks kept; returns the text and how many lines went."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    without_comments = _HTML_COMMENT.sub("", text)
    stripped = without_comments.count("\n") != text.count("\n")
    kept: list[str] = []
    removed = 1 if stripped else 0
    for line in without_comments.split("\n"):
        if _AUTHOR_NOTE.match(line) or _TODO.match(line):
            removed += 1
            continue
        cleaned = _BRACKET_EDIT.sub("", line)
        if cleaned != line:
            removed += 1
            if not cleaned.strip():
                continue
        kept.append(cleaned.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip() + "\n", removed


def _problem(data: bytes) -> str | None:
    if not data.strip():
        return "empty file"
    if b"\x00" in data[:8192]:
        return "binary file (contains NUL bytes)"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (
            f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); re-save it as UTF-8"
        )
    return None


def read_sources(folder: Path) -> ReadReport:
    """Every usable prose file under `folder`, in a stable (sorted) order."""
    import hashlib

    report = ReadReport()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    for path in files:
        relative = path.relative_to(folder).as_posix()
        data = path.read_bytes()
        problem = _problem(data)
        if problem:
            report.skipped.append((relative, problem))
            continue
        text, removed = clean_text(data.decode("utf-8"))
        report.lines_stripped += removed
        if not text.strip():
            report.skipped.append((relative, "nothing left after stripping notes and comments"))
            continue
        digest = hashlib.sha256(data).hexdigest()
        report.sources.append(SourceText(path, relative, text, digest))
    return report
