"""How an entry reads inside the lore block, and where its text may be cut.

An entry is only ever shortened at a sentence, list-item or paragraph boundary, never inside
a sentence.
"""

from __future__ import annotations

import re
from functools import lru_cache

from retrieval.entry import Entry

_ABBREVIATIONS = {
    "dr", "mr", "mrs", "ms", "st", "lt", "capt", "cmdr", "col", "gen", "sgt", "adm", "prof",
    "no", "vs", "etc", "e.g", "i.e", "approx", "jr", "sr", "mt", "ft", "cpl", "pvt",
}
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]*_]*(?=\s)")
_LIST_OR_HEADING = re.compile(r"^\s*(?:[-*+]\s|\d+[.)]\s|#)")
_HEADING = re.compile(r"^#+\s")


def header_line(world: str) -> str:
    return f"World lore for {world} (reference; do not repeat verbatim):"


def entry_block(entry: Entry, body: str | None = None) -> str:
    """`## Name (type; also: alias, ...)` then the body, its own headings one level down."""
    return _whole_block(entry) if body is None else _block(entry, body)


@lru_cache(maxsize=16384)
def _whole_block(entry: Entry) -> str:
    """Every request renders each candidate whole at least once, to count its tokens."""
    return _block(entry, entry.body)


def _block(entry: Entry, text: str) -> str:
    also = f"; also: {', '.join(entry.aliases)}" if entry.aliases else ""
    demoted = "\n".join("#" + line if _HEADING.match(line) else line for line in text.splitlines())
    return f"## {entry.name} ({entry.type}{also})\n{demoted}"


def cut_points(body: str) -> list[int]:
    """Offsets where `body[:offset]` ends on a whole sentence, list item or paragraph."""
    points: set[int] = set()
    for match in _SENTENCE_END.finditer(body):
        word = body[: match.start()].rsplit(None, 1)[-1] if body[: match.start()].strip() else ""
        if body[match.start()] == "." and word.lower().lstrip("(\"'“") in _ABBREVIATIONS:
            continue
        points.add(match.end())
    lines = body.split("\n")
    offset = 0
    for index, line in enumerate(lines[:-1]):
        offset += len(line) + 1
        following = lines[index + 1]
        if not line.strip() or not following.strip() or _LIST_OR_HEADING.match(line) or (
            _LIST_OR_HEADING.match(following)
        ):
            points.add(offset - 1)
    points.add(len(body))
    return sorted(p for p in points if body[:p].strip())


def shortened(body: str, offset: int) -> str:
    """The body up to `offset`, without a heading left dangling at the end."""
    lines = body[:offset].rstrip().split("\n")
    while lines and (not lines[-1].strip() or _HEADING.match(lines[-1])):
        lines.pop()
    return "\n".join(lines).rstrip()
