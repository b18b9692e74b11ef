"""Score the checks on a labelled set (tests/data/continuity_cases.yaml): precision and
recall per kind, and every miss and false alarm by case, so a regression names its passage.

A finding matches an expectation when kind and entry agree and one quote contains the
other (ignoring case); each expectation matches at most one finding. Findings beyond a
case's expectations are false positives, so clean passages cost precision when flagged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from retrieval.continuity.findings import KINDS, Finding
from retrieval.continuity.runner import CheckerCache

REPO = Path(__file__).resolve().parents[2]
WORLD_DIRS = (REPO / "worlds", REPO / "tests" / "data")


@dataclass(frozen=True)
class Case:
    id: str
    world: str
    chapter: int | None
    text: str
    expect: tuple[dict[str, str], ...]


@dataclass
class Score:
    true_pos: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    false_pos: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    false_neg: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    misses: list[str] = field(default_factory=list)  # "case: expected ..."
    alarms: list[str] = field(default_factory=list)  # "case: finding ..."
    words: int = 0

    def precision(self, kind: str) -> float:
        found = self.true_pos[kind] + self.false_pos[kind]
        return self.true_pos[kind] / found if found else 1.0

    def recall(self, kind: str) -> float:
        wanted = self.true_pos[kind] + self.false_neg[kind]
        return self.true_pos[kind] / wanted if wanted else 1.0

    def table(self) -> dict[str, dict[str, float | int]]:
        return {kind: {"precision": round(self.precision(kind), 3),
                       "recall": round(self.recall(kind), 3), "tp": self.true_pos[kind],
                       "fp": self.false_pos[kind], "fn": self.false_neg[kind]}
                for kind in KINDS}


def load_cases(path: Path) -> list[Case]:
    cases = []
    for raw in yaml.safe_load(path.read_text(encoding="utf-8")):
        text = raw.get("text")
        if text is None:
            text = (REPO / raw["file"]).read_text(encoding="utf-8")
        cases.append(Case(raw["id"], raw["world"], raw.get("chapter"), text,
                          tuple(raw.get("expect") or ())))
    return cases


def world_root(name: str) -> Path:
    return next((d / name for d in WORLD_DIRS if (d / name).is_dir()), WORLD_DIRS[0] / name)


def _matches(finding: Finding, expected: dict[str, Any]) -> bool:
    quote, found = str(expected["quote"]).casefold(), finding.quote.casefold()
    return (finding.kind == expected["kind"] and finding.entry == expected["entry"]
            and (quote in found or found in quote))


def score_case(case: Case, findings: list[Finding], score: Score) -> None:
    left = list(findings)
    for expected in case.expect:
        hit = next((f for f in left if _matches(f, expected)), None)
        if hit is None:
            score.false_neg[expected["kind"]] += 1
            score.misses.append(f"{case.id}: expected {expected}")
        else:
            score.true_pos[expected["kind"]] += 1
            left.remove(hit)
    for finding in left:
        score.false_pos[finding.kind] += 1
        score.alarms.append(f"{case.id}: {finding}")


def evaluate(cases: list[Case], checkers: CheckerCache | None = None) -> Score:
    checkers = checkers or CheckerCache()
    score = Score()
    for case in cases:
        findings = checkers.get(world_root(case.world)).check(case.text, case.chapter)
        score_case(case, findings, score)
        score.words += len(case.text.split())
    return score
