"""Which entries a text shares its rarer words with (BM25 over each entry's names and text).

Meaning from a small embedding model misses what plain words catch: "the register", "the
lantern", "the mortgage" point at one entry each. This index scores every entry of a world by
BM25, a function of counts alone, so it is exact, fast and needs no model. Pure: build a
`LexicalIndex` from entries and call `scores(text)`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

from retrieval.entry import Entry

K1, B = 1.2, 0.75  # the usual BM25 constants
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
# Words that carry no topic: pronouns, articles, auxiliaries, prepositions and the like.
_STOP_WORDS = """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each even
    ever every few for from further had has have having he her here hers herself him himself
    his how i if in into is it its itself just like made make me more most much must my
    myself never no nor not now of off on once one only or other our ours out over own said
    same says see she should so some still such than that the their theirs them themselves
    then there these they this those through to too under until up upon us very was we were
    what when where which while who whom why will with would yet you your yours yourself
    back came come get go going got know let look looked may might new now old one two three
    say tell told think thought time took want way well went
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())


def terms(text: str) -> list[str]:
    """Lowercased words, without stop words and a plural or possessive -s."""
    found = []
    for word in _WORD.findall(text.lower()):
        word = word.replace("’", "'").removesuffix("'s")
        if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
            word = word[:-1]
        if len(word) > 2 and word not in STOP_WORDS:
            found.append(word)
    return found


class LexicalIndex:
    def __init__(self, entries: Iterable[Entry]) -> None:
        self._docs: dict[str, Counter[str]] = {}
        for entry in entries:
            text = " ".join([entry.name, *entry.aliases, *entry.keys, entry.body])
            self._docs[entry.id] = Counter(terms(text))
        self._lengths = {entry_id: sum(doc.values()) for entry_id, doc in self._docs.items()}
        self._average = sum(self._lengths.values()) / max(len(self._docs), 1)
        frequency: Counter[str] = Counter()
        for doc in self._docs.values():
            frequency.update(doc.keys())
        n = len(self._docs)
        self._idf = {term: math.log(1 + (n - df + 0.5) / (df + 0.5))
                     for term, df in frequency.items()}
        self._postings: dict[str, list[str]] = {}
        for entry_id, doc in self._docs.items():
            for term in doc:
                self._postings.setdefault(term, []).append(entry_id)

    def scores(self, text: str) -> dict[str, float]:
        """BM25 of every entry that shares a word with `text` (each query word counted once)."""
        scores: dict[str, float] = {}
        for term in set(terms(text)):
            idf = self._idf.get(term)
            if idf is None:
                continue
            for entry_id in self._postings[term]:
                tf = self._docs[entry_id][term]
                norm = K1 * (1 - B + B * self._lengths[entry_id] / self._average)
                scores[entry_id] = scores.get(entry_id, 0.0) + idf * tf * (K1 + 1) / (tf + norm)
        return scores
