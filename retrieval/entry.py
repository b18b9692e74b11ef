"""One lore entry: the markdown file format (v1) and its pure parser.

A file is YAML front matter between `---` lines followed by a markdown body. The parser takes
text and returns an `Entry` or the problems found, each with its line, so it can be tested
without touching the disk.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from retrieval.facts import Fact, fact_lines, parse_facts

ENTRY_TYPES = ("character", "place", "faction", "tech", "event", "lore", "other")
FOLDER_TYPES = {
    "characters": "character",
    "places": "place",
    "factions": "faction",
    "tech": "tech",
    "events": "event",
    "lore": "lore",
}
FIELDS = (
    "name",
    "type",
    "aliases",
    "keys",
    "always",
    "priority",
    "related",
    "from_chapter",
    "until_chapter",
    "case_sensitive",
    "whole_words",
    "derive_names",
    "secondary_keys",
    "secondary_logic",
    "scan_depth",
    "brings_related",
    "only_when_named",
    "facts",
)
SECONDARY_LOGIC = ("and_any", "and_all", "not_any", "not_all")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_KEY_LINE = re.compile(r"^([A-Za-z_][\w-]*)\s*:")
_LIST_ITEM = re.compile(r"[\[\],]|^\s*-\s")  # what separates ids in `related: [a, b]` / `- a`
MAX_MESSAGE = 500  # characters: a problem quoting a huge value must not flood the log

def _short_repr() -> reprlib.Repr:
    """Quotes values in messages: a few items and characters, however big the value."""
    short = reprlib.Repr()  # keyword arguments only from Python 3.12
    short.maxlevel, short.maxdict, short.maxlist, short.maxtuple, short.maxset = 2, 4, 4, 4, 4
    short.maxstring, short.maxother, short.maxlong = 60, 60, 40
    return short


_SHOW = _short_repr()


def clip(text: str, limit: int = MAX_MESSAGE) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: object) -> str:
    """`repr(value)`, shortened: costs a few items whatever the value's size."""
    return _SHOW.repr(value)


@dataclass(frozen=True)
class Problem:
    """A parse problem inside one file: 1-based line and a message that says what to change."""

    line: int
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", clip(self.message))


class AliasInYaml(yaml.MarkedYAMLError):
    """YAML aliases (`*name`) are refused: a few hundred bytes of them can expand to
    gigabytes (a "billion laughs"), and entries never need them."""


def load_yaml(text: str) -> Any:
    """`yaml.safe_load` (libyaml's when installed) that raises AliasInYaml for an alias."""
    if "*" in text:  # no '*', no alias: most front matter skips the extra pass
        _refuse_aliases(text)
    try:
        return yaml.load(text, Loader=_Loader)
    except RecursionError as exc:  # the pure-Python loader on deeply nested brackets
        raise yaml.YAMLError("nested too deeply") from exc


def _refuse_aliases(text: str) -> None:
    """Scan the YAML events (libyaml's parser: fast, builds nothing) for an alias."""
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            name = clip(str(event.anchor), 40)
            raise AliasInYaml(problem=f"uses a YAML alias (*{name}); write the values out",
                              problem_mark=event.start_mark)


@dataclass(frozen=True)
class Entry:
    id: str
    name: str
    type: str
    body: str
    aliases: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    always: bool = False
    priority: int = 0
    related: tuple[str, ...] = ()
    from_chapter: int | None = None
    until_chapter: int | None = None
    case_sensitive: bool | None = None  # None: decided per phrase (common-word names)
    whole_words: bool = True  # False: a trigger may also match inside a longer word
    derive_names: bool = True  # characters: first name and surname trigger on their own
    secondary_keys: tuple[str, ...] = ()  # a trigger fires only if these agree (the logic)
    secondary_logic: str = "and_any"
    scan_depth: int | None = None  # newest messages scanned for this entry; None: the default
    brings_related: bool = True  # False: its `related` entries don't come in with it
    only_when_named: bool = False  # True: never pulled in by another entry or by meaning
    facts: tuple[Fact, ...] = ()  # checked against prose by retrieval.continuity
    file: Path = Path()
    body_line: int = 1
    content_hash: str = ""
    related_lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def scoped(self) -> bool:
        return self.from_chapter is not None or self.until_chapter is not None

    def holds_at(self, chapter: int) -> bool:
        after_start = self.from_chapter is None or chapter >= self.from_chapter
        before_end = self.until_chapter is None or chapter <= self.until_chapter
        return after_start and before_end


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def entry_id(relative_path: str) -> str:
    """`characters/elena-vasquez.md` -> `characters/elena-vasquez` (posix separators)."""
    path = relative_path.replace("\\", "/")
    return path[: -len(".md")] if path.lower().endswith(".md") else path


def normalise_ref(ref: str) -> str:
    """Accept `related` written as a path: `./characters/x.md` -> `characters/x`."""
    ref = ref.strip().removeprefix("./")
    return entry_id(ref)


def parse_entry(
    text: str, relative_path: str, file: Path | None = None
) -> tuple[Entry | None, list[Problem]]:
    """Parse one entry file. Returns (entry, []) or (None, problems)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None, [Problem(1, "missing front matter: the file must start with a '---' line, "
                                 "then at least 'name: ...', then '---'")]
    closing = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if closing is None:
        return None, [Problem(1, "front matter is never closed: add a '---' line after it")]
    front_lines = lines[1:closing]
    try:
        front = load_yaml("\n".join(front_lines))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        return None, [Problem(line, yaml_problem(exc, "front matter"))]
    if front is None:
        front = {}
    if not isinstance(front, dict):
        return None, [Problem(2, "front matter must be 'key: value' lines")]

    key_lines = _key_lines(front_lines)
    problems: list[Problem] = []
    values = _FieldReader(front, key_lines, problems)
    for key in front:
        if key not in FIELDS:
            hint = difflib.get_close_matches(str(key), FIELDS, n=1)
            also = f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(FIELDS)})"
            problems.append(Problem(key_lines.get(str(key), 2), f"unknown field '{key}'{also}"))

    entry_id_ = entry_id(relative_path)
    folder = entry_id_.split("/", 1)[0] if "/" in entry_id_ else ""
    name = values.text("name", required=True)
    entry_type = values.text("type") or FOLDER_TYPES.get(folder, "other")
    if entry_type not in ENTRY_TYPES:
        problems.append(Problem(key_lines.get("type", 2),
                                f"type '{entry_type}' is not one of {', '.join(ENTRY_TYPES)}"))
    from_chapter = values.chapter("from_chapter")
    until_chapter = values.chapter("until_chapter")
    if from_chapter is not None and until_chapter is not None and from_chapter > until_chapter:
        problems.append(Problem(key_lines.get("until_chapter", 2),
                                f"until_chapter {until_chapter} is before from_chapter "
                                f"{from_chapter}"))
    related = tuple(normalise_ref(ref) for ref in values.texts("related"))
    facts_line = key_lines.get("facts", 2)
    facts, fact_problems = parse_facts(front.get("facts"), fact_lines(front_lines, facts_line),
                                       facts_line)
    problems += [Problem(line, message) for line, message in fact_problems]
    body = "\n".join(lines[closing + 1 :]).strip()
    if not body:
        problems.append(Problem(closing + 1, "the entry has no text below its front matter"))
    entry = Entry(
        id=entry_id_,
        name=name or "",
        type=entry_type,
        body=body,
        aliases=values.texts("aliases"),
        keys=values.texts("keys"),
        always=values.flag("always") or False,
        priority=values.integer("priority"),
        related=related,
        from_chapter=from_chapter,
        until_chapter=until_chapter,
        case_sensitive=values.flag("case_sensitive"),
        whole_words=_default(values.flag("whole_words"), True),
        derive_names=_default(values.flag("derive_names"), True),
        secondary_keys=values.texts("secondary_keys"),
        secondary_logic=values.choice("secondary_logic", SECONDARY_LOGIC),
        scan_depth=values.positive("scan_depth"),
        brings_related=_default(values.flag("brings_related"), True),
        only_when_named=_default(values.flag("only_when_named"), False),
        facts=facts,
        file=file or Path(relative_path),
        body_line=closing + 2,
        content_hash=content_hash(text.encode()),
        related_lines=_related_lines(related, front_lines, key_lines.get("related", 2)),
    )
    return (None, problems) if problems else (entry, [])


def yaml_problem(exc: yaml.YAMLError, where: str) -> str:
    """'<where> uses a YAML alias ...' or 'bad YAML in <where>: <libyaml's reason>'."""
    reason = clip(getattr(exc, "problem", None) or (str(exc).splitlines() or ["unreadable"])[0],
                  200)
    return f"{where} {reason}" if isinstance(exc, AliasInYaml) else f"bad YAML in {where}: {reason}"


def _key_lines(front_lines: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, line in enumerate(front_lines):
        match = _KEY_LINE.match(line)
        if match:
            found.setdefault(match.group(1), index + 2)
    return found


def _related_lines(related: tuple[str, ...], front_lines: list[str],
                   default: int) -> dict[str, int]:
    """The line naming each `related` id, found in one pass over the `related:` block (a
    search of every line for every id would be quadratic in a long list)."""
    first_seen: dict[str, int] = {}
    start = default - 2  # index in front_lines of the `related:` line
    for index in range(max(start, 0), len(front_lines)):
        line = front_lines[index]
        if index > start and _KEY_LINE.match(line):
            break  # the next field
        if index == start:
            line = line.split(":", 1)[-1]
        for item in _LIST_ITEM.split(line):
            ref = normalise_ref(item.strip().strip("\"'"))
            if ref:
                first_seen.setdefault(ref, index + 2)
    return {ref: first_seen.get(ref, default) for ref in related}


def _default(value: bool | None, default: bool) -> bool:
    return default if value is None else value


class _FieldReader:
    """Reads typed values out of the front matter, recording a Problem for each bad one."""

    def __init__(self, front: dict[Any, Any], key_lines: dict[str, int], problems: list[Problem]):
        self.front = front
        self.key_lines = key_lines
        self.problems = problems

    def _bad(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.key_lines.get(key, 2), f"{key}: {message}"))

    def text(self, key: str, required: bool = False) -> str | None:
        value = self.front.get(key)
        if value is None:
            if required:
                self._bad(key, "required (add a line 'name: <the entry's name>')")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self._bad(key, f"must be text, got {type(value).__name__} (quote it)")
            return None
        text = str(value).strip()
        if required and not text:
            self._bad(key, "must not be empty")
        return text

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.front.get(key)
        if value is None:
            return ()
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or any(
            isinstance(item, bool) or not isinstance(item, str | int | float) for item in items
        ):
            self._bad(key, "must be a list of text, e.g. [First, Second]")
            return ()
        return tuple(str(item).strip() for item in items if str(item).strip())

    def flag(self, key: str) -> bool | None:
        value = self.front.get(key)
        if value is not None and not isinstance(value, bool):
            self._bad(key, f"must be true or false, got {shown(value)}")
            return None
        return value

    def integer(self, key: str) -> int:
        value = self.front.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int):
            self._bad(key, f"must be a whole number, got {shown(value)}")
            return 0
        return value

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.front.get(key, choices[0])
        if value not in choices:
            self._bad(key, f"must be one of {', '.join(choices)}, got {shown(value)}")
            return choices[0]
        return value

    def positive(self, key: str) -> int | None:
        value = self.front.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self._bad(key, f"must be a whole number of messages (1 or more), got {shown(value)}")
            return None
        return value

    def chapter(self, key: str) -> int | None:
        value = self.front.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self._bad(key, f"must be a chapter number (0 or more), got {shown(value)}")
            return None
        return value
