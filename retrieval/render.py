"""How an entry reads inside the lore block, and where its text may be cut.

An entry is only ever shortened at a sentence, list-item or paragraph boundary, never inside
a sentence. Everything here is linear in the body's length: an entry can be up to the size
cap (1 MiB by default), and any per-cut-point copy of the text before it would be quadratic.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from retrieval.entry import Entry

_ABBREVIATIONS = {
    "dr", "mr", "mrs", "ms", "st", "lt", "capt", "cmdr", "col", "gen", "sgt", "adm", "prof",
    "no", "vs", "etc", "e.g", "i.e", "approx", "jr", "sr", "mt", "ft", "cpl", "pvt",
}
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]*_]*(?=\s)")
_WORD = re.compile(r"\S+")
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
    points = set(_sentence_ends(body))
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
    first_text = len(body) - len(body.lstrip())  # body[:p].strip() is empty up to here
    return sorted(p for p in points if p > first_text)


def _sentence_ends(body: str) -> Iterator[int]:
    """Ends of sentences, not counting a '.' after an abbreviation ("Dr. Reyes").

    The word before each end comes from one forward pass over the words: slicing the text
    before every match to find it made this quadratic."""
    words = _WORD.finditer(body)
    last = None  # the last word starting before the current match
    upcoming = next(words, None)
    for match in _SENTENCE_END.finditer(body):
        start = match.start()
        while upcoming is not None and upcoming.start() < start:
            last, upcoming = upcoming, next(words, None)
        if body[start] == "." and last is not None:
            word = body[last.start() : min(last.end(), start)]
            if word.lower().lstrip("(\"'“") in _ABBREVIATIONS:
                continue
        yield match.end()


def shortened(body: str, offset: int) -> str:
    """The body up to `offset`, without a heading left dangling at the end."""
    lines = body[:offset].rstrip().split("\n")
    while lines and (not lines[-1].strip() or _HEADING.match(lines[-1])):
        lines.pop()
    return "\n".join(lines).rstrip()


def shortening_points(body: str) -> list[int]:
    """`[p for p in cut_points(body) if shortened(body, p)]`, in one pass over the body.

    That filter copies the text before every cut point, so it is quadratic in the body's
    length; here each point is decided from facts about the lines, gathered once."""
    lines = _Lines.of(body)
    return [point for point in cut_points(body) if lines.has_text_before(point)]


@dataclass(frozen=True)
class _Lines:
    """What `shortened` needs to know about each line of a body, gathered in one pass.

    `shortened(body, p)` is empty exactly when every line before `p` is blank or a heading,
    where the last of those lines is cut at `p` and stripped of trailing spaces first."""

    starts: list[int]  # offset of each line
    first_char: list[int | None]  # offset of each line's first non-space character
    heading_text: list[int | None]  # headings: offset of the first character after '#+\s'
    heading: list[bool]  # the whole line matches '#+\s' at its start
    last_nonblank_before: list[int | None]  # index of the nearest earlier line with text
    first_text_line: int  # the first line that is neither blank nor a heading

    @classmethod
    def of(cls, body: str) -> _Lines:
        starts, first_char, heading_text, heading = [], [], [], []
        last_nonblank_before: list[int | None] = []
        first_text_line = -1
        previous: int | None = None
        offset = 0
        for index, line in enumerate(body.split("\n")):
            starts.append(offset)
            stripped = len(line) - len(line.lstrip())
            has_char = stripped < len(line)
            first_char.append(offset + stripped if has_char else None)
            match = _HEADING.match(line)
            heading.append(match is not None)
            heading_text.append(_text_after(line, match.end(), offset) if match else None)
            last_nonblank_before.append(previous)
            if has_char:
                previous = index
                if match is None and first_text_line < 0:
                    first_text_line = index
            offset += len(line) + 1
        if first_text_line < 0:
            first_text_line = len(starts)
        return cls(starts, first_char, heading_text, heading, last_nonblank_before,
                   first_text_line)

    def has_text_before(self, point: int) -> bool:
        if point <= 0:
            return False
        line = bisect_right(self.starts, point - 1) - 1  # the line holding body[point - 1]
        first = self.first_char[line]
        # the line of the last non-space character before the point: the cut's last line
        last = line if first is not None and first < point else self.last_nonblank_before[line]
        if last is None:  # nothing but spaces before the point
            return False
        if self.first_text_line < last:
            return True
        # a prefix of a line is a heading only if the line is one and the prefix reaches past
        # its '#+\s' to some text
        text = self.heading_text[last]
        return not (self.heading[last] and text is not None and text < point)


def _text_after(line: str, position: int, offset: int) -> int | None:
    rest = line[position:]
    skipped = len(rest) - len(rest.lstrip())
    return offset + position + skipped if skipped < len(rest) else None
