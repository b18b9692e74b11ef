"""Sentence- and paragraph-length distributions and the distance between them.

    distance(a, b) = W1(lengths(a), lengths(b)) / mean(lengths(b))

W1 is the first Wasserstein (earth mover's) distance between the two empirical distributions
of lengths in words (`scipy.stats.wasserstein_distance`): how many words, on average, each
sentence of `a` would have to grow or shrink to match `b`. Dividing by the reference's mean
length makes it scale-free, so the calibration holds for terse and for long-winded authors.
"""

from scipy.stats import wasserstein_distance


def relative_wasserstein(candidate: list[int], reference: list[int]) -> float:
    if not candidate or not reference:
        return float("nan")
    return float(wasserstein_distance(candidate, reference) / (sum(reference) / len(reference)))
