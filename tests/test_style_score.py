import math

import pytest

from training.style import lengths, pacing, score
from training.style.score import Anchor


def test_anchor_gives_ninety_and_ten_percent_at_the_medians_when_groups_separate():
    anchor = Anchor(same=0.8, different=1.0, spread=0.05, weight=1)
    assert anchor.similarity(0.8) == pytest.approx(0.9)
    assert anchor.similarity(1.0) == pytest.approx(0.1)
    assert anchor.similarity(0.0) > anchor.similarity(0.9) > anchor.similarity(5.0) > 0


def test_overlapping_groups_flatten_the_curve():
    sharp = Anchor(same=0.3, different=0.4, spread=0.01, weight=1)
    flat = Anchor(same=0.3, different=0.4, spread=0.5, weight=1)
    assert flat.similarity(0.3) < sharp.similarity(0.3)
    assert flat.similarity(0.3) > 0.5


def test_overall_score_skips_components_that_cannot_be_computed(monkeypatch):
    distances = {name: a.same for name, a in score.ANCHORS.items()}
    distances["paragraph_length_distance"] = math.nan
    monkeypatch.setattr(score, "component_distances", lambda _: distances)
    components = score.component_scores(None)
    assert math.isnan(components["paragraph_length_distance"])
    assert 80 < score.overall_score(None) < 95


def test_relative_wasserstein_is_scale_free():
    assert lengths.relative_wasserstein([10, 10], [10, 10]) == 0
    assert lengths.relative_wasserstein([20, 20], [10, 10]) == pytest.approx(1.0)
    assert lengths.relative_wasserstein([200, 200], [100, 100]) == pytest.approx(1.0)
    assert math.isnan(lengths.relative_wasserstein([], [1]))


def test_pacing_counts_action_verbs_and_transitions_per_thousand_words():
    paced = pacing.pacing("Suddenly she grabbed the rail. Then she ran. It was quiet.")
    assert paced.action_verbs_per_1000 == pytest.approx(1000 * 2 / 11)
    assert paced.transitions_per_1000 == pytest.approx(1000 * 2 / 11)
    assert pacing.pacing_distance(paced, paced) == 0
