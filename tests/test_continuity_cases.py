"""The labelled set (tests/data/continuity_cases.yaml) held to floors: the issue's goals,
precision >= 0.90 and recall >= 0.80 per kind over every passage, and the sample chapters
clean."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from retrieval.continuity import KINDS
from retrieval.continuity.evaluate import Score, evaluate, load_cases

CASES = Path(__file__).resolve().parent / "data" / "continuity_cases.yaml"


@pytest.fixture(scope="module")
def score() -> Score:
    return evaluate(load_cases(CASES))


def test_the_set_is_big_enough_and_covers_every_kind():
    raw = yaml.safe_load(CASES.read_text())
    assert len(raw) >= 150
    planted = {e["kind"] for case in raw for e in case.get("expect") or ()}
    assert planted == set(KINDS)
    assert sum(1 for case in raw if not case.get("expect")) >= 60


@pytest.mark.parametrize("kind", KINDS)
def test_precision_and_recall_per_kind(score, kind):
    assert score.precision(kind) >= 0.90, score.alarms
    assert score.recall(kind) >= 0.80, score.misses


def test_the_sample_chapters_come_out_clean(score):
    assert [alarm for alarm in score.alarms if alarm.startswith("chapter-")] == []
