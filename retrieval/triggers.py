"""Keyword triggers: which entries a conversation names, by name, alias or key.

Matching is on whole words, case-insensitively, and forgives possessives and plurals on the
last word ("Elena's", "the Arcturians"). A phrase that is only ordinary words ("Patience",
"the Narrows") must appear capitalised as written, so everyday use of the word stays quiet.
Everything here is pure: build a `TriggerIndex` from entries and call `find(texts)`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files

from retrieval.entry import Entry

KINDS = ("name", "alias", "key")  # strongest first
_TOKEN = re.compile(r"\w+(?:['’]\w+)*")
_FUNCTION_WORDS = frozenset({"the", "a", "an", "of", "and", "in", "on", "at", "to", "for"})
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)


@dataclass(frozen=True)
class Trigger:
    entry_id: str
    phrase: str
    kind: str
    case_sensitive: bool


@dataclass(frozen=True)
class KeywordHit:
    entry_id: str
    kind: str  # the strongest kind that fired
    count: int  # mentions across the scanned messages
    age: int  # 0 = mentioned in the newest message, 1 = the one before, ...


@cache
def common_words() -> frozenset[str]:
    text = files("retrieval").joinpath("common_words.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def fold(text: str) -> str:
    """Case- and accent-insensitive form: 'Vásquez' -> 'vasquez'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def stem(word: str) -> str:
    """Strip a possessive, then a plural: Elena's -> Elena, Arcturians -> Arcturian."""
    word = _POSSESSIVE.sub("", word)
    lowered = word.lower()
    if len(word) > 4 and lowered.endswith("ies"):
        return word[:-3] + ("Y" if word[-3].isupper() else "y")
    sibilant = lowered[:-2].endswith(("s", "x", "z", "ch", "sh"))
    if len(word) > 4 and lowered.endswith("es") and sibilant:
        return word[:-2]
    if len(word) > 3 and lowered.endswith("s") and not lowered.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    return _TOKEN.findall(text)


@lru_cache(maxsize=65536)
def phrase_key(phrase: str) -> tuple[str, ...]:
    """The lookup key of a phrase: folded words, the last one stemmed."""
    tokens = [fold(token) for token in words(phrase)]
    if tokens:
        tokens[-1] = stem(tokens[-1])
    return tuple(tokens)


def is_common_phrase(phrase: str) -> bool:
    """True when every word is an ordinary English word (so capitals are the only signal)."""
    common = common_words()
    tokens = [fold(token) for token in words(phrase)]
    return bool(tokens) and all(t in common or stem(t) in common for t in tokens)


def entry_triggers(entry: Entry) -> list[Trigger]:
    found: dict[tuple[str, ...], Trigger] = {}
    phrases = [(entry.name, "name")] + [(a, "alias") for a in entry.aliases]
    phrases += [(k, "key") for k in entry.keys]
    for phrase, kind in phrases:
        key = phrase_key(phrase)
        if not key or key in found:  # keep the strongest kind for a repeated phrase
            continue
        if entry.case_sensitive is None:
            sensitive = phrase != phrase.lower() and is_common_phrase(phrase)
        else:
            sensitive = entry.case_sensitive
        found[key] = Trigger(entry.id, phrase, kind, sensitive)
    return list(found.values())


class TriggerIndex:
    """All trigger phrases of a world, looked up by word n-grams (no regex per entry)."""

    def __init__(self, entries: Iterable[Entry], cache_size: int = 4096) -> None:
        self._by_key: dict[tuple[str, ...], list[Trigger]] = {}
        for entry in entries:
            for trigger in entry_triggers(entry):
                self._by_key.setdefault(phrase_key(trigger.phrase), []).append(trigger)
        self._lengths_longest_first = sorted({len(key) for key in self._by_key}, reverse=True)
        # chats re-send earlier messages every turn: scan each message text once
        self._scan_cached = lru_cache(maxsize=cache_size)(self._scan)

    def clear_cache(self) -> None:
        self._scan_cached.cache_clear()

    def __len__(self) -> int:
        return sum(len(triggers) for triggers in self._by_key.values())

    def find(self, texts: Sequence[str]) -> list[KeywordHit]:
        """Entries named in `texts` (oldest first), best first: by kind, recency, mentions."""
        best: dict[str, KeywordHit] = {}
        for age, text in enumerate(reversed(texts)):
            for entry_id, kind, count in self._scan_cached(text)[0]:
                seen = best.get(entry_id)
                if seen is None:
                    best[entry_id] = KeywordHit(entry_id, kind, count, age)
                    continue
                stronger = min(seen.kind, kind, key=KINDS.index)
                best[entry_id] = KeywordHit(entry_id, stronger, seen.count + count, seen.age)
        return sorted(best.values(), key=_rank)

    def ordinary_uses(self, text: str) -> frozenset[str]:
        """Entries whose common-word name appears in `text` only as the ordinary word ("have
        patience"): semantic search must not bring them back in through the word's meaning."""
        return self._scan_cached(text)[1]

    def _scan(self, text: str) -> tuple[tuple[tuple[str, str, int], ...], frozenset[str]]:
        originals = words(text)
        folded = [fold(token) for token in originals]
        counts: dict[str, list] = {}  # entry id -> [kind, mentions, end of the last mention]
        lowercase: set[str] = set()
        for start in range(len(folded)):
            for length in self._lengths_longest_first:
                end = start + length
                if end > len(folded):
                    continue
                key = (*folded[start : end - 1], stem(folded[end - 1]))
                for trigger in self._by_key.get(key, ()):
                    if trigger.case_sensitive and not _capitalised_as_written(
                        trigger.phrase, originals[start:end]
                    ):
                        lowercase.add(trigger.entry_id)
                        continue
                    slot = counts.setdefault(trigger.entry_id, [trigger.kind, 0, 0])
                    slot[0] = min(slot[0], trigger.kind, key=KINDS.index)
                    if start >= slot[2]:  # "Elena" inside "Elena Vasquez" is one mention
                        slot[1] += 1
                        slot[2] = end
        hits = tuple((entry_id, kind, count) for entry_id, (kind, count, _) in counts.items())
        return hits, frozenset(lowercase - counts.keys())


def _rank(hit: KeywordHit) -> tuple[int, int, int, str]:
    return KINDS.index(hit.kind), hit.age, -hit.count, hit.entry_id


def _capitalised_as_written(phrase: str, seen: list[str]) -> bool:
    """Each word written with capitals in the phrase must carry the same capitals in the text,
    except lowercase words and small words leading into the next one, such as an article:
    "The Narrows" matches "the Narrows", not "the narrows". The last word always counts, so
    "Plan A" stays quiet on "Plan a route" and a name that is only "An" on every "an"."""
    wanted = words(phrase)
    if len(wanted) != len(seen):
        return False
    last = len(wanted) - 1
    for index, (want, got) in enumerate(zip(wanted, seen, strict=True)):
        if want == want.lower() or (index < last and want.lower() in _FUNCTION_WORDS):
            continue
        if index == last:
            want, got = stem(want), stem(got)
        if fold(want) != fold(got) or _caps(want) != _caps(got):
            return False
    return True


def _caps(word: str) -> tuple[bool, ...]:
    return tuple(c.isupper() for c in word)
