"""Relatives by kinship: "Jory runs to tell his mother", "Liddy won't have her husband's name
spoken". Writers name the people of a scene by their kin to someone named as often as by their
names; the world already says who is whose (Jory's entry: "the son of the laundress Mara
Finch"; Liddy's: "Will Tarrant's wife"). Pure: entries and a `TriggerIndex` in, hits out.

A kinship word in the newest message ("his father", "her husband's") brings in the one person
that a named character's entry, or that person's own entry, ties to the named character by
that kinship or its converse, within a few words ("Cassian's elder brother", "his son
Hollis"). Two candidates, or none: nobody (a guess would put the wrong person in the scene).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from functools import lru_cache

from retrieval.entry import Entry
from retrieval.triggers import KeywordHit, TriggerIndex, fold, words

WINDOW = 5  # at most this many words between the kinship word and the name it ties

# a kinship -> the words that tie two people by it, in either direction ("his father Abel",
# "Abel's daughter Mira")
_CONVERSE = {
    "father": ("father", "son", "daughter", "child"),
    "mother": ("mother", "son", "daughter", "child"),
    "son": ("son", "father", "mother"),
    "daughter": ("daughter", "father", "mother"),
    "brother": ("brother", "sister"),
    "sister": ("sister", "brother"),
    "husband": ("husband", "wife", "widow"),
    "wife": ("wife", "husband", "widower"),
    "uncle": ("uncle", "nephew", "niece"),
    "aunt": ("aunt", "nephew", "niece"),
    "nephew": ("nephew", "uncle", "aunt"),
    "niece": ("niece", "uncle", "aunt"),
    "cousin": ("cousin",),
}
_ASKED = re.compile(
    r"\b(?:his|her|their)\s+(?:(?:own|late|dead|drowned|elder|older|younger|little|big)\s+)?"
    r"(" + "|".join(_CONVERSE) + r")(?:['’]s)?\b", re.IGNORECASE)
_KIN_WORDS = frozenset(word for words_ in _CONVERSE.values() for word in words_)
_MALE = frozenset({"father", "son", "brother", "husband", "uncle", "nephew"})
_FEMALE = frozenset({"mother", "daughter", "sister", "wife", "aunt", "niece"})
_HE, _SHE = frozenset({"he", "him", "his", "himself"}), frozenset({"she", "her", "hers", "herself"})


def gender(entry: Entry) -> str | None:
    """"m" or "f" when the entry's own pronouns say so clearly (twice as many of one), else
    None: "his mother" must not be the son of the laundress's father."""
    tokens = [fold(token) for token in words(entry.body)]
    he, she = sum(t in _HE for t in tokens), sum(t in _SHE for t in tokens)
    if he >= 2 * she and he:
        return "m"
    if she >= 2 * he and she:
        return "f"
    return None


def asked_kin(text: str) -> set[str]:
    """The kinships `text` refers someone by ("his mother" -> {"mother"})."""
    return {match.group(1).lower() for match in _ASKED.finditer(text)}


class KinIndex:
    """Who each character's entry ties to whom, and by which kinship words."""

    def __init__(self, entries: Mapping[str, Entry], triggers: TriggerIndex) -> None:
        self._entries = entries
        self._triggers = triggers
        self._ties = lru_cache(maxsize=None)(self._entry_ties)
        self._gender = lru_cache(maxsize=None)(lambda entry_id: gender(entries[entry_id]))

    def _entry_ties(self, entry_id: str) -> dict[tuple[str, str], int]:
        """(kinship word, other entry) -> the fewest words between them in the entry's text,
        for those within WINDOW; a kinship word inside a name ("Sister Frost") is a title."""
        body = self._entries[entry_id].body
        tokens = [fold(token) for token in words(body)]
        if not _KIN_WORDS.intersection(tokens):
            return {}
        mentions = self._triggers.mentions_in(body)
        inside = {i for start, end, _ in mentions for i in range(start, end + 1)}
        kin_at = [i for i, token in enumerate(tokens) if token in _KIN_WORDS and i not in inside]
        ties: dict[tuple[str, str], int] = {}
        for start, end, named in mentions:
            for i in kin_at:
                gap = start - i if i < start else i - end
                if gap > WINDOW:
                    continue
                for other in named - {entry_id}:
                    key = (tokens[i], other)
                    ties[key] = min(gap, ties.get(key, gap))
        return ties

    def relatives(self, text: str, named: Collection[str], chapter: int | None) -> list[str]:
        """Entries `text` means by a kinship to a character in `named`: the person tied most
        closely (fewest words between), when that is one person (one or more entries of one
        name: the same person at different chapters); else []. The named character's own
        entry is read first ("the son of Daniel Ashby"); the others' only when it is silent,
        since "Hollis's father" in Grace's entry is not Grace."""
        asked = asked_kin(text)
        people = [e for e in named if self._entries.get(e) is not None
                  and self._entries[e].type == "character"]
        if not asked or not people:
            return []
        tying = {word for kin in asked for word in _CONVERSE[kin]}
        wanted = {"m" if kin in _MALE else "f" if kin in _FEMALE else None for kin in asked}
        names = {fold(self._entries[e].name) for e in people}
        others = [other for other in self._entries.values()
                  if other.type == "character" and fold(other.name) not in names
                  and (chapter is None or other.holds_at(chapter))
                  and (None in wanted or self._gender(other.id) in wanted | {None})]
        for own in (True, False):
            gaps: dict[str, int] = {}
            for other in others:
                found = [gap for e in people for word in tying
                         for gap in [(self._ties(e) if own else self._ties(other.id)).get(
                             (word, other.id) if own else (word, e))] if gap is not None]
                if found:
                    gaps[other.id] = min(found)
            if gaps:
                closest = min(gaps.values())
                chosen = [e for e, gap in gaps.items() if gap == closest]
                persons = {fold(self._entries[e].name) for e in chosen}
                return sorted(chosen) if len(persons) == 1 else []
        return []


def kin_hits(kin: KinIndex, text: str, keyword: Sequence[KeywordHit],
             chapter: int | None) -> list[KeywordHit]:
    """Keyword hits for the relatives the newest message refers to, after `keyword`."""
    named = [hit.entry_id for hit in keyword if not hit.weak and not hit.loose]
    have = {hit.entry_id for hit in keyword}
    return [KeywordHit(entry_id, "alias", 1, 0, f"kin: '{kind}' of someone named")
            for entry_id in kin.relatives(text, named, chapter) if entry_id not in have
            for kind in [", ".join(sorted(asked_kin(text)))]]
