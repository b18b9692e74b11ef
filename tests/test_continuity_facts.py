"""Facts in front matter: closed vocabularies, story spans, contradictions with their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.continuity.cli import fact_issues
from retrieval.entry import parse_entry
from retrieval.facts import Fact
from retrieval.world import load_world


def _entry(front: str):
    return parse_entry(f"---\nname: Will Tarrant\n{front}\n---\nBody text.\n",
                       "characters/will-tarrant.md")


def test_block_and_flow_styles_give_the_same_facts():
    block, problems = _entry("facts:\n  pronouns: he\n  eyes: Gray\n  arm: left, wooden\n"
                             "  rank: dr\n  age: 34")
    assert problems == []
    flow, _ = _entry('facts: {pronouns: he/him, eyes: grey, arm: "left, wooden", rank: Doctor,'
                     ' age: 34}')
    strip = [(f.key, f.values, f.detail) for f in block.facts]
    assert strip == [(f.key, f.values, f.detail) for f in flow.facts]
    assert ("arm", ("left",), "wooden") in strip and ("rank", ("Doctor",), "") in strip


def test_spans_hold_only_in_their_chapters():
    entry, problems = _entry("facts:\n  status:\n    - {value: alive, until_chapter: 4}\n"
                             "    - {value: dead, from_chapter: 5}")
    assert problems == []
    alive, dead = entry.facts
    assert alive.holds_at(4) and not alive.holds_at(5)
    assert dead.holds_at(5) and not dead.holds_at(4)
    assert not dead.holds_at(None)  # with no chapter, a scoped fact may not yet be true
    assert Fact("eyes", ("grey",)).holds_at(None)


@pytest.mark.parametrize(("front", "line", "says"), [
    ("facts:\n  eyse: blue", 4, "unknown fact 'eyse'"),
    ("facts:\n  eyes: purple-ish", 4, "'purple-ish' is not one of"),
    ("facts:\n  pronouns: xe", 4, "not one of she/her"),
    ("facts:\n  age: old", 4, "must be a whole number"),
    ("facts:\n  arm: cybernetic", 4, "a side and what the limb is"),
    ("facts:\n  status: {value: dead, from_chapter: 9, until_chapter: 2}", 4, "before"),
    ("facts:\n  status: {value: dead, chapter: 9}", 4, "not 'chapter'"),
    ("facts: [eyes, grey]", 3, "must be 'key: value' pairs"),
])
def test_bad_facts_are_problems_with_their_line(front, line, says):
    entry, problems = _entry(front)
    assert entry is None
    assert [(p.line, says in p.message) for p in problems] == [(line, True)]


def test_a_fact_contradicting_itself_across_spans_names_both_lines():
    _, problems = _entry("facts:\n  status:\n    - {value: alive, until_chapter: 9}\n"
                         "    - {value: dead, from_chapter: 9}")
    assert len(problems) == 1
    assert problems[0].line == 6
    assert "'dead' contradicts 'alive' (line 5) in chapter 9" in problems[0].message
    _, unscoped = _entry("facts:\n  status:\n    - {value: alive}\n"
                         "    - {value: dead, from_chapter: 9}")
    assert "from chapter 9" in unscoped[0].message
    _, apart = _entry("facts:\n  status:\n    - {value: alive, until_chapter: 8}\n"
                      "    - {value: dead, from_chapter: 9}")
    assert apart == []


def test_check_reports_two_entries_of_one_name_that_disagree(tmp_path: Path):
    folder = tmp_path / "w" / "characters"
    folder.mkdir(parents=True)
    (folder / "a.md").write_text("---\nname: Marcus\nuntil_chapter: 11\n"
                                 "facts: {rank: Captain}\n---\nCaptain.\n")
    (folder / "b.md").write_text("---\nname: Marcus\nfrom_chapter: 11\n"
                                 "facts: {rank: none}\n---\nRelieved.\n")
    issues = fact_issues(load_world(tmp_path / "w"))
    assert [(i.file.name, i.line) for i in issues] == [("b.md", 4)]
    assert "in chapter 11" in issues[0].message
    (folder / "b.md").write_text("---\nname: Marcus\nfrom_chapter: 12\n"
                                 "facts: {rank: none}\n---\nRelieved.\n")
    assert fact_issues(load_world(tmp_path / "w")) == []


def test_the_sample_world_carries_valid_facts():
    world = load_world(Path(__file__).resolve().parents[1] / "worlds" / "scifi_world")
    assert world.issues == () and fact_issues(world) == []
    elena = world.entries["characters/elena-vasquez"]
    assert ("arm", ("left",), "cybernetic") in [(f.key, f.values, f.detail) for f in elena.facts]
