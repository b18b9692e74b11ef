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
from collections.abc import Collection, Iterable

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
        import numpy as np

        docs = {entry.id: Counter(terms(" ".join([entry.name, *entry.aliases, *entry.keys,
                                                   entry.body])))
                for entry in entries}
        self._ids = list(docs)
        lengths = [sum(doc.values()) for doc in docs.values()]
        average = sum(lengths) / max(len(lengths), 1)
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for index, (doc, length) in enumerate(zip(docs.values(), lengths, strict=True)):
            norm = K1 * (1 - B + B * length / average) if average else K1
            for term, tf in doc.items():
                rows, weights = postings.setdefault(term, ([], []))
                rows.append(index)
                weights.append(tf * (K1 + 1) / (tf + norm))
        n = len(self._ids)
        # each term's BM25 contribution to each entry, computed once: a query only adds rows
        self._postings = {
            term: (np.array(rows, dtype=np.int32),
                   np.array(weights) * math.log(1 + (n - len(rows) + 0.5) / (len(rows) + 0.5)))
            for term, (rows, weights) in postings.items()
        }

    def scores(self, text: str, without: Collection[str] = ()) -> dict[str, float]:
        """BM25 of every entry that shares a word with `text` (each query word counted once),
        leaving out the terms `without`."""
        import numpy as np

        total = np.zeros(len(self._ids))
        for term in sorted(set(terms(text)) - set(without)):  # one order: sums come out the same
            found = self._postings.get(term)
            if found is not None:
                total[found[0]] += found[1]
        hit = np.flatnonzero(total)
        return {self._ids[i]: float(total[i]) for i in hit}
