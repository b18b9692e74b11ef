"""Structured facts in an entry's front matter, checked against closed vocabularies.

    facts:
      pronouns: she/her
      eyes: brown
      hair: [black, grey]            # a list: any of these is right
      arm: left, cybernetic          # a side, then what the limb is
      rank: Chief
      age: 49
      introduced: 1                  # the chapter the character first appears in
      status:                        # one value per story span
        - {value: alive, until_chapter: 8}
        - {value: dead, from_chapter: 9}

Every key and every value comes from a closed list, so the continuity checks
(`retrieval/continuity/`) can compare prose against them without guessing, and a typo is an
error here rather than a silent miss there. Parsing is pure: it takes the YAML value and the
front matter's lines and returns facts and (line, message) problems; `retrieval/entry.py`
turns those into its own `Problem`s.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

STATUSES = ("alive", "dead", "gone")
PRONOUNS = ("she/her", "he/him", "they/them", "it/its")
_PRONOUN_SHORT = {"she": "she/her", "he": "he/him", "they": "they/them", "it": "it/its"}
COLOURS = (
    "black", "brown", "grey", "blue", "green", "hazel", "amber", "red", "white", "silver",
    "blond", "auburn", "gold", "violet", "copper",
)
_COLOUR_SPELLINGS = {"gray": "grey", "blonde": "blond", "golden": "gold", "ginger": "red"}
RANKS = (
    "Captain", "Commander", "Admiral", "Lieutenant", "Ensign", "Major", "Colonel", "General",
    "Sergeant", "Corporal", "Ambassador", "Doctor", "Professor", "Chief", "Elder", "Speaker",
    "Skipper", "Coxswain", "none",
)
_RANK_SPELLINGS = {"dr": "Doctor", "dr.": "Doctor", "capt": "Captain", "cmdr": "Commander",
                   "lt": "Lieutenant", "prof": "Professor", "sgt": "Sergeant"}
SIDES = ("left", "right")
LIMBS = ("arm", "hand", "leg", "foot", "eye")
REPLACEMENTS = (
    "cybernetic", "prosthetic", "artificial", "metal", "mechanical", "bionic", "wooden",
    "hook", "iron", "steel", "alloy", "glass", "synthetic",
)
KEYS = ("status", "introduced", "pronouns", "eyes", "hair", "rank", "age", *LIMBS)
SPAN_FIELDS = ("value", "from_chapter", "until_chapter")

FactProblem = tuple[int, str]  # (line, message)


@dataclass(frozen=True)
class Fact:
    """One fact over one story span: `values` are the accepted values (any of them)."""

    key: str
    values: tuple[str, ...]
    detail: str = ""  # limbs: what replaced it ("cybernetic"); the side is in `values`
    from_chapter: int | None = None
    until_chapter: int | None = None
    line: int = 1

    def holds_at(self, chapter: int | None) -> bool:
        """At no chapter, only an unscoped fact holds (a scoped one may not yet be true)."""
        if chapter is None:
            return self.from_chapter is None and self.until_chapter is None
        return ((self.from_chapter is None or chapter >= self.from_chapter)
                and (self.until_chapter is None or chapter <= self.until_chapter))

    def shown(self) -> str:
        value = " or ".join(self.values) + (f", {self.detail}" if self.detail else "")
        return f"{self.key}: {value}{span_text(self.from_chapter, self.until_chapter)}"


def span_text(start: int | None, end: int | None) -> str:
    if start is None and end is None:
        return ""
    if end is None:
        return f" (from chapter {start})"
    if start is None:
        return f" (until chapter {end})"
    return f" (chapter {start})" if start == end else f" (chapters {start}-{end})"


def fact_lines(front_lines: Sequence[str], facts_line: int) -> dict[str, list[int]]:
    """Lines of each fact key and of each `- ` item under it, for messages; `facts_line` is
    the 1-based file line of `facts:` (front matter starts on file line 2)."""
    found: dict[str, list[int]] = {}
    start = facts_line - 2
    if 0 <= start < len(front_lines):
        for key in re.findall(r"([A-Za-z_]\w*)\s*:", front_lines[start].split(":", 1)[-1]):
            found.setdefault(key, [facts_line])  # flow style: `facts: {eyes: grey, ...}`
    current = None
    for index in range(start + 1, len(front_lines)):
        line = front_lines[index]
        if line and not line[0].isspace():
            break  # the next top-level field
        match = re.match(r"\s+([A-Za-z_]\w*)\s*:", line)
        if match and (current is None or match.group(1) not in SPAN_FIELDS):
            current = match.group(1)
            found.setdefault(current, []).append(index + 2)
        elif current is not None and re.match(r"\s*-", line):
            found[current].append(index + 2)
    return found


def parse_facts(raw: Any, lines: dict[str, list[int]],
                default_line: int) -> tuple[tuple[Fact, ...], list[FactProblem]]:
    """The facts of one entry, or the problems that make them unusable (each with its line)."""
    if raw is None:
        return (), []
    if not isinstance(raw, dict):
        return (), [(default_line, "facts: must be 'key: value' pairs, e.g. "
                                   "facts: {eyes: grey, pronouns: she/her}")]
    facts: list[Fact] = []
    problems: list[FactProblem] = []
    for key, value in raw.items():
        key_lines = lines.get(str(key)) or [default_line]
        if key not in KEYS:
            hint = difflib.get_close_matches(str(key), KEYS, n=1)
            also = f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(KEYS)})"
            problems.append((key_lines[0], f"facts: unknown fact '{key}'{also}"))
            continue
        forms = value if _is_span_list(value) else [value]
        for index, form in enumerate(forms):
            line = key_lines[min(index + (len(key_lines) > len(forms)), len(key_lines) - 1)]
            fact, problem = _one_form(str(key), form, line)
            if problem:
                problems.append((line, problem))
            elif fact is not None:
                facts.append(fact)
    problems += [(line, message) for line, message in contradictions(facts)]
    return tuple(facts), problems


def _is_span_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _one_form(key: str, form: Any, line: int) -> tuple[Fact | None, str]:
    start = until = None
    if isinstance(form, dict):
        unknown = [k for k in form if k not in SPAN_FIELDS]
        if unknown or "value" not in form:
            return None, (f"facts: {key}: a span is {{value: ..., from_chapter: N, "
                          f"until_chapter: N}}" + (f", not '{unknown[0]}'" if unknown else ""))
        start, until = form.get("from_chapter"), form.get("until_chapter")
        for name, bound in (("from_chapter", start), ("until_chapter", until)):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int)
                                      or bound < 0):
                return None, f"facts: {key}: {name} must be a chapter number (0 or more)"
        if start is not None and until is not None and start > until:
            return None, f"facts: {key}: until_chapter {until} is before from_chapter {start}"
        form = form["value"]
    values, detail, problem = _values(key, form)
    if problem:
        return None, f"facts: {key}: {problem}"
    return Fact(key, values, detail, start, until, line), ""


def _values(key: str, form: Any) -> tuple[tuple[str, ...], str, str]:
    """(accepted values, detail, problem) for one value as written."""
    if key in ("age", "introduced"):
        if isinstance(form, bool) or not isinstance(form, int) or form < 0:
            return (), "", f"must be a whole number, got {form!r}"
        return (str(form),), "", ""
    items = form if isinstance(form, list) else [form]
    if not items or any(isinstance(i, bool) or not isinstance(i, str | int) for i in items):
        return (), "", "must be text or a list of text"
    if key in LIMBS:
        return _limb(" ".join(str(i) for i in items))
    vocab, spellings = _VOCABULARIES[key]
    values = []
    for item in items:
        text = str(item).strip()
        value = spellings.get(text.casefold()) or next(
            (v for v in vocab if v.casefold() == text.casefold()), None)
        if value is None:
            hint = difflib.get_close_matches(text, vocab, n=1)
            return (), "", (f"'{text}' is not one of {', '.join(vocab)}"
                            + (f" (did you mean '{hint[0]}'?)" if hint else ""))
        values.append(value)
    return tuple(dict.fromkeys(values)), "", ""


def _limb(text: str) -> tuple[tuple[str, ...], str, str]:
    words = re.findall(r"[a-z]+", text.casefold())
    sides = [w for w in words if w in SIDES]
    details = [w for w in words if w in REPLACEMENTS]
    if len(sides) != 1 or len(details) != 1 or len(words) != 2:
        return (), "", (f"write a side and what the limb is, e.g. 'left, cybernetic' "
                        f"(sides: left, right; kinds: {', '.join(REPLACEMENTS)})")
    return (sides[0],), details[0], ""


_VOCABULARIES: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "status": (STATUSES, {}),
    "pronouns": (PRONOUNS, _PRONOUN_SHORT),
    "eyes": (COLOURS, _COLOUR_SPELLINGS),
    "hair": (COLOURS, _COLOUR_SPELLINGS),
    "rank": (RANKS, _RANK_SPELLINGS),
}


def _overlap(a: tuple[int | None, int | None],
             b: tuple[int | None, int | None]) -> tuple[int | None, int | None] | None:
    """The chapters two spans share, or None; None bounds are open."""
    start = max((x for x in (a[0], b[0]) if x is not None), default=None)
    end = min((x for x in (a[1], b[1]) if x is not None), default=None)
    return None if start is not None and end is not None and start > end else (start, end)


def contradictions(facts: Iterable[Fact], span_a: tuple[int | None, int | None] = (None, None),
                   span_b: tuple[int | None, int | None] | None = None,
                   other: Iterable[Fact] | None = None) -> list[FactProblem]:
    """Pairs of facts with one key, different values and a chapter in common: the second of
    each pair is the problem. With `other` (a second entry's facts, within `span_b`), pairs
    are taken across the two lists, each fact cut to its entry's span."""
    mine = list(facts)
    theirs = mine if other is None else list(other)
    span_b = span_a if span_b is None else span_b
    problems: list[FactProblem] = []
    for i, first in enumerate(theirs):
        for second in (mine[i + 1:] if other is None else mine):
            if first.key != second.key or set(first.values) & set(second.values):
                continue
            a = _overlap(span_b, (first.from_chapter, first.until_chapter))
            b = _overlap(span_a, (second.from_chapter, second.until_chapter))
            shared = _overlap(a, b) if a is not None and b is not None else None
            if shared is None:
                continue
            where = span_text(*shared).strip(" ()") or "every chapter"
            problems.append((second.line, (
                f"facts: {second.key}: '{' or '.join(second.values)}' contradicts "
                f"'{' or '.join(first.values)}' (line {first.line}) in {where}; give each "
                "value its own span (from_chapter / until_chapter) so they don't overlap")))
    return problems


class HasFacts(Protocol):
    """What `shared_name_problems` reads of an entry (retrieval.entry.Entry has it)."""

    name: str
    facts: tuple[Fact, ...]
    from_chapter: int | None
    until_chapter: int | None
    file: Path


def shared_name_problems(entries: Iterable[HasFacts]) -> list[tuple[HasFacts, int, str]]:
    """Entries of one name (one character over several spans, one file per span) whose facts
    disagree in a chapter both entries hold in: (the later entry, its line, the message)."""
    by_name: dict[str, list[HasFacts]] = {}
    for entry in entries:
        if entry.facts:
            by_name.setdefault(entry.name.casefold(), []).append(entry)
    found: list[tuple[HasFacts, int, str]] = []
    for group in by_name.values():
        for i, first in enumerate(group):
            for second in group[i + 1:]:
                pairs = contradictions(second.facts, (second.from_chapter, second.until_chapter),
                                       (first.from_chapter, first.until_chapter), first.facts)
                found += [(second, line, message + f" (in the other '{first.name}' entry)")
                          for line, message in pairs]
    return found
