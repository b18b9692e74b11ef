"""The labelled requests of the three sample worlds, with the real model, the default settings
and each world's own budget (world.yaml): tests/data/retrieval_cases.yaml against
worlds/scifi_world, tests/data/harbour_cases.yaml against worlds/harbour_world and
tests/data/court_cases.yaml against worlds/court_world (written before the engine ever ran on
it: the held-out check on tuning done against the other two).

A case is right when every `named` entry is selected by the request itself (any trigger but
`related`), no `absent` entry is selected, and an `only_always` case gets nothing but the
always-entries. Per world, the goals: recall of named + described entries >= 0.97;
violations (cases that inject an absent entry, or anything but the always-entries where only
those may go in) <= 0.05; clean negatives (only_always cases that get only the
always-entries) >= 0.95; mean injected lore tokens <= 1,200. The tests hold the engine to
floors (see GOALS): the goals where they are met on every world, else what was reached less
about one case of slack.
scripts/bench_retrieval.py reports the same figures per kind."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from retrieval import LoreEngine, RetrievalSettings, load_world

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
WORLDS = {"scifi_world": DATA / "retrieval_cases.yaml",
          "harbour_world": DATA / "harbour_cases.yaml",
          "court_world": DATA / "court_cases.yaml"}
FIXTURES = {"scifi_world": "scifi_engine", "harbour_world": "harbour_engine",
            "court_world": "court_engine"}
KINDS = ("name", "alias", "title", "possessive", "first-name", "described", "related", "chapter",
         "common-word", "shared-name", "multi-turn", "off-topic", "long-draft")

# The issue's goals, which the report prints next to each figure...
GOALS = {"recall": 0.97, "violations": 0.05, "clean negatives": 0.95, "mean tokens": 1200}
# ...and the floors the engine must keep on every world, so that a change that makes precision
# worse fails here: the goals where every world meets them (violations, clean negatives, tokens)
# and otherwise what the engine reached, less about two entries of slack (recall: 0.973 on
# scifi_world, 0.967 harbour_world, 0.973 court_world). Raise them as the engine gets closer
# to the goals (README, "Lore selection").
RECALL_MIN = 0.95
VIOLATIONS_MAX = GOALS["violations"]
CLEAN_NEGATIVES_MIN = GOALS["clean negatives"]
MEAN_TOKENS_MAX = GOALS["mean tokens"]


def load_cases(world: str) -> list[dict]:
    return yaml.safe_load(WORLDS[world].read_text(encoding="utf-8"))["cases"]


CASES = {world: load_cases(world) for world in WORLDS}


def messages(case: dict) -> list[dict]:
    return case.get("messages") or [{"role": "user", "content": case["text"]}]


@dataclass(frozen=True)
class Outcome:
    triggers: dict[str, str]  # entry id -> trigger, as selected at the default budget
    always: frozenset[str]  # the world's always-entries that hold at the case's chapter
    tokens: int

    def missed_named(self, case: dict) -> list[str]:
        return [e for e in case.get("named", []) if self.triggers.get(e) in (None, "related")]

    def unwanted(self, case: dict) -> list[str]:
        found = [e for e in case.get("absent", []) if e in self.triggers]
        if case.get("only_always"):
            found += sorted(set(self.triggers) - self.always - set(found))
        return found

    def recalled(self, case: dict) -> tuple[int, int]:
        wanted = [*case.get("named", []), *case.get("described", [])]
        return sum(e in self.triggers for e in wanted), len(wanted)


class LabelledWorld:
    """One engine on one world, each case selected once and remembered."""

    def __init__(self, world: str, index_dir: Path) -> None:
        if not (REPO / "worlds" / world).is_dir():
            pytest.fail(f"the sample world worlds/{world} is missing")
        self.world = world
        self.engine = LoreEngine(RetrievalSettings(worlds_dir=REPO / "worlds",
                                                   index_dir=index_dir))
        self.engine.reindex(world)
        self._outcomes: dict[str, Outcome] = {}

    def outcome(self, case: dict) -> Outcome:
        if case["id"] not in self._outcomes:
            chapter = case.get("chapter")
            selection = self.engine.select(self.world, messages(case), chapter=chapter,
                                           budget_tokens=None)
            always = frozenset(
                e.id for e in self.engine.world(self.world).entries.values()
                if e.always and (chapter is None or e.holds_at(chapter)))
            self._outcomes[case["id"]] = Outcome(
                {hit.id: hit.trigger for hit in selection.entries}, always, selection.tokens)
        return self._outcomes[case["id"]]


def _labelled(world: str, tmp_path_factory):
    labelled = LabelledWorld(world, tmp_path_factory.mktemp(f"index-{world}"))
    yield labelled
    labelled.engine.close()


@pytest.fixture(scope="module")
def scifi_engine(tmp_path_factory):
    yield from _labelled("scifi_world", tmp_path_factory)


@pytest.fixture(scope="module")
def harbour_engine(tmp_path_factory):
    yield from _labelled("harbour_world", tmp_path_factory)


@pytest.fixture(scope="module")
def court_engine(tmp_path_factory):
    yield from _labelled("court_world", tmp_path_factory)


# the precision goals, per world -------------------------------------------------------------

def figures(labelled: LabelledWorld, cases: list[dict]) -> dict:
    """recall, violations, clean negatives and mean tokens over `cases`."""
    found = wanted = violations = negatives = clean = 0
    tokens = []
    for case in cases:
        outcome = labelled.outcome(case)
        hit, total = outcome.recalled(case)
        found, wanted = found + hit, wanted + total
        violations += bool(outcome.unwanted(case))
        if case.get("only_always"):
            negatives += 1
            clean += set(outcome.triggers) <= outcome.always
        tokens.append(outcome.tokens)
    return {"cases": len(cases),
            "recall": found / wanted if wanted else None,
            "violation_rate": violations / len(cases),
            "clean_negative_rate": clean / negatives if negatives else None,
            "mean_tokens": statistics.fmean(tokens)}


def report(labelled: LabelledWorld, cases: list[dict]) -> str:
    def show(value):
        return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else value

    lines = [f"{'kind':<12} {'cases':>5} {'recall':>7} {'violations':>10} {'clean neg':>9} "
             f"{'tokens':>7}"]
    kinds = [k for k in KINDS if any(c["kind"] == k for c in cases)]
    for kind, subset in [*((k, [c for c in cases if c["kind"] == k]) for k in kinds),
                         ("all", cases)]:
        row = figures(labelled, subset)
        lines.append(f"{kind:<12} {row['cases']:>5} {show(row['recall']):>7} "
                     f"{show(row['violation_rate']):>10} {show(row['clean_negative_rate']):>9} "
                     f"{row['mean_tokens']:>7.0f}")
    failing = [f"{c['id']}: {labelled.outcome(c).unwanted(c)}" for c in cases
               if labelled.outcome(c).unwanted(c)]
    return "\n".join([f"{labelled.world}:", *lines, "violations:", *failing[:40]])


@pytest.mark.parametrize("world", WORLDS)
def test_recall(request, world):
    labelled = request.getfixturevalue(FIXTURES[world])
    value = figures(labelled, CASES[world])["recall"]
    assert value >= RECALL_MIN, (
        f"recall {value:.3f} < {RECALL_MIN}\n{report(labelled, CASES[world])}")


@pytest.mark.parametrize("world", WORLDS)
def test_violation_rate(request, world):
    labelled = request.getfixturevalue(FIXTURES[world])
    value = figures(labelled, CASES[world])["violation_rate"]
    assert value <= VIOLATIONS_MAX, (
        f"violation rate {value:.3f} > {VIOLATIONS_MAX}\n{report(labelled, CASES[world])}")


@pytest.mark.parametrize("world", WORLDS)
def test_clean_negative_rate(request, world):
    labelled = request.getfixturevalue(FIXTURES[world])
    value = figures(labelled, CASES[world])["clean_negative_rate"]
    assert value >= CLEAN_NEGATIVES_MIN, (
        f"clean-negative rate {value:.3f} < {CLEAN_NEGATIVES_MIN}\n"
        f"{report(labelled, CASES[world])}")


@pytest.mark.parametrize("world", WORLDS)
def test_mean_tokens(request, world):
    labelled = request.getfixturevalue(FIXTURES[world])
    value = figures(labelled, CASES[world])["mean_tokens"]
    assert value <= MEAN_TOKENS_MAX, (
        f"mean lore tokens {value:.0f} > {MEAN_TOKENS_MAX}\n{report(labelled, CASES[world])}")


# the labels themselves (no model needed) ------------------------------------------------------

@pytest.mark.parametrize("world", WORLDS)
def test_labels_name_real_entries(world):
    loaded = load_world(REPO / "worlds" / world)
    assert loaded.issues == (), loaded.issues
    problems, seen = [], set()
    for case in CASES[world]:
        if case["id"] in seen:
            problems.append(f"{case['id']}: duplicate id")
        seen.add(case["id"])
        if case.get("kind") not in KINDS:
            problems.append(f"{case['id']}: kind {case.get('kind')!r} is not one of {KINDS}")
        if ("text" in case) == ("messages" in case):
            problems.append(f"{case['id']}: give either text or messages")
        wanted = [*case.get("named", []), *case.get("described", [])]
        for entry_id in [*wanted, *case.get("absent", [])]:
            if entry_id not in loaded.entries:
                problems.append(f"{case['id']}: no entry {entry_id}")
        if set(wanted) & set(case.get("absent", [])):
            problems.append(f"{case['id']}: wanted and absent at once")
        if case.get("only_always") and wanted:
            problems.append(f"{case['id']}: only_always with named or described entries")
        chapter = case.get("chapter")
        for entry_id in wanted:
            entry = loaded.entries.get(entry_id)
            if entry is not None and chapter is not None and not entry.holds_at(chapter):
                problems.append(f"{case['id']}: {entry_id} does not hold in chapter {chapter}")
        if case.get("kind") == "long-draft":
            words = len(case["text"].split())
            if not 600 <= words <= 1500:
                problems.append(f"{case['id']}: a long draft of {words} words")
    assert problems == []


def test_cases_cover_every_kind():
    every = [case for cases in CASES.values() for case in cases]
    assert all(len(cases) >= 70 for cases in CASES.values()), {w: len(c) for w, c in CASES.items()}
    kinds = Counter(case["kind"] for case in every)
    assert all(kinds[kind] >= 5 for kind in KINDS), kinds
    assert kinds["off-topic"] >= 10, kinds
    negative = Counter(case["kind"] for case in every
                       if case.get("absent") or case.get("only_always"))
    assert all(negative[kind] >= 1 for kind in KINDS), negative
    assert sum(bool(c.get("described")) for c in every) >= 20
    assert sum(bool(c.get("only_always")) for c in every) >= 20
    assert sum(bool(c.get("messages")) and len(c["messages"]) >= 3 for c in every) >= 5
