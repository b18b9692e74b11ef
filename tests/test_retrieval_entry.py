"""The entry file format: front matter fields, defaults and the line of every problem."""

from retrieval.entry import entry_id, parse_entry


def test_full_entry_parses_every_field():
    text = """---
name: Elena Vasquez
aliases: [Elena, the Chief]
keys: [chief engineer]
always: false
priority: 5
related: [tech/arm, ./places/meridian.md]
from_chapter: 2
until_chapter: 9
case_sensitive: true
---
Elena is the chief engineer.

## Voice
Short sentences.
"""
    entry, problems = parse_entry(text, "characters/elena-vasquez.md")
    assert problems == []
    assert entry is not None
    assert entry.id == "characters/elena-vasquez"
    assert entry.type == "character"  # from the folder
    assert entry.aliases == ("Elena", "the Chief")
    assert entry.keys == ("chief engineer",)
    assert entry.priority == 5
    assert entry.related == ("tech/arm", "places/meridian")
    assert (entry.from_chapter, entry.until_chapter) == (2, 9)
    assert entry.case_sensitive is True
    assert entry.body.startswith("Elena is the chief engineer.")
    assert entry.body_line == 12
    assert entry.holds_at(2) and entry.holds_at(9)
    assert not entry.holds_at(1) and not entry.holds_at(10)


def test_defaults_and_type_from_unknown_folder():
    entry, problems = parse_entry("---\nname: Thing\n---\nA thing.\n", "misc/thing.md")
    assert problems == []
    assert entry.type == "other"
    assert (entry.always, entry.priority, entry.case_sensitive) == (False, 0, None)
    assert entry.aliases == () and entry.related == ()
    assert not entry.scoped


def test_bad_yaml_reports_the_file_line():
    text = "---\nname: Elena\naliases: [Elena, Lena\nkeys: []\n---\nBody.\n"
    entry, problems = parse_entry(text, "characters/elena.md")
    assert entry is None
    assert len(problems) == 1
    assert problems[0].line in (3, 4, 5)  # the unclosed list, as YAML reports it
    assert "bad YAML" in problems[0].message


def test_unknown_field_suggests_the_known_one():
    text = "---\nname: Elena\nalias: [Lena]\n---\nBody.\n"
    entry, problems = parse_entry(text, "characters/elena.md")
    assert entry is None
    assert [(p.line, p.message) for p in problems] == [
        (3, "unknown field 'alias' (did you mean 'aliases'?)")
    ]


def test_wrong_field_types_each_reported_on_their_line():
    text = "---\nname: Elena\ntype: spaceship\npriority: high\nalways: maybe\n---\nBody.\n"
    _, problems = parse_entry(text, "characters/elena.md")
    lines = {p.line: p.message for p in problems}
    assert "spaceship" in lines[3]
    assert "whole number" in lines[4]
    assert "true or false" in lines[5]


def test_missing_name_missing_front_matter_and_empty_body():
    _, no_name = parse_entry("---\naliases: [x]\n---\nBody.\n", "a.md")
    assert any("name" in p.message and "required" in p.message for p in no_name)
    _, no_front = parse_entry("Just text.\n", "a.md")
    assert no_front[0].line == 1 and "front matter" in no_front[0].message
    _, unclosed = parse_entry("---\nname: A\nBody.\n", "a.md")
    assert "never closed" in unclosed[0].message
    _, empty = parse_entry("---\nname: A\n---\n\n", "a.md")
    assert any("no text" in p.message for p in empty)


def test_chapter_span_must_be_ordered():
    _, problems = parse_entry("---\nname: A\nfrom_chapter: 9\nuntil_chapter: 3\n---\nB.\n", "a.md")
    assert problems[0].line == 4 and "before" in problems[0].message


def test_entry_id_is_the_path_without_md():
    assert entry_id("characters/elena-vasquez.md") == "characters/elena-vasquez"
    assert entry_id("places\\meridian.MD") == "places/meridian"
