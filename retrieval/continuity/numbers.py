"""Numbers written out in words or digits: "forty-nine", "a hundred and ninety", "58"."""

from __future__ import annotations

from collections.abc import Sequence

_UNITS = {w: n for n, w in enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen"))}
_TENS = {w: 10 * n for n, w in enumerate(
    ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")) if w}


def _below_hundred(word: str) -> int | None:
    if word.isdigit():
        return int(word)
    parts = word.split("-")
    if len(parts) == 1:
        return _UNITS.get(word, _TENS.get(word))
    if len(parts) == 2 and parts[0] in _TENS and parts[1] in _UNITS and _UNITS[parts[1]] < 10:
        return _TENS[parts[0]] + _UNITS[parts[1]]
    return None


def parse_number(words: Sequence[str]) -> tuple[int, int] | None:
    """(value, words used) for the number at the start of `words`, or None."""
    if not words:
        return None
    i, value = 0, None
    if words[0] in ("a", "one") and len(words) > 1 and words[1] == "hundred":
        value, i = 100, 2
    else:
        first = _below_hundred(words[0])
        if first is None:
            return None
        value, i = first, 1
        if len(words) > 2 and words[1] in _TENS and words[0] in _TENS:
            return None
        if i < len(words) and words[i] in _UNITS and first in _TENS.values():
            value, i = first + _UNITS[words[i]], 2  # "forty nine"
        if i < len(words) and words[i] == "hundred":
            value, i = value * 100, i + 1
    if value >= 100 and i + 1 < len(words) and words[i] == "and":
        rest = parse_number(words[i + 1:])
        if rest is not None and rest[0] < 100:
            value, i = value + rest[0], i + 1 + rest[1]
    return value, i
