"""A world compiled for checking: who can be named, by which phrases, with which facts.

Entries that share a name are one entity (one character over several spans, one file per
span); its facts at a chapter come from the entries that hold then. Mentions are found the
way writers write names: the name, an alias or a name part, capitalised as the world writes
it, possessive allowed ("Elena's"). A phrase two entities share is nobody's: a check must not
guess who is meant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from retrieval.continuity.text import Document, Token, words_of, wordset
from retrieval.entry import Entry
from retrieval.facts import Fact
from retrieval.triggers import fold, name_parts

MAX_PHRASE = 4  # words; longer names are matched on their first four
_ARTICLES = frozenset({"the", "a", "an"})
# People the prose may mean without a name: a pronoun after one of them is not resolvable to
# the last named character.
PERSON_NOUNS = wordset("""
man woman men women boy girl child children stranger guard guards officer officers soldier
soldiers someone somebody figure pilot medic doctor captain admiral sailor crewman crewwoman
engineer engineers friend mother father brother sister husband wife son daughter widow
fisherman driver voice people person others other nobody anyone everyone aide clerk
""")


@dataclass
class Entity:
    key: str  # folded name
    name: str
    entries: list[Entry] = field(default_factory=list)

    @property
    def entry_id(self) -> str:
        return self.entries[0].id

    def entry_at(self, chapter: int | None) -> Entry:
        live = [e for e in self.entries if chapter is None or e.holds_at(chapter)]
        return (live or self.entries)[-1]

    def facts(self, key: str, chapter: int | None) -> list[tuple[Entry, Fact]]:
        """The entity's facts with this key that hold at `chapter`, each with its entry."""
        found = []
        for entry in self.entries:
            if chapter is not None and not entry.holds_at(chapter):
                continue
            spanned = chapter is None and entry.scoped and len(self.entries) > 1
            for fact in entry.facts:
                if fact.key == key and (fact.holds_at(chapter) or (
                        chapter is None and not spanned and fact.from_chapter is None
                        and fact.until_chapter is None)):
                    found.append((entry, fact))
        return found

    @cached_property
    def pronouns(self) -> frozenset[str]:
        """Every pronoun set any of its entries gives (a character may accept several)."""
        return frozenset(v for e in self.entries for f in e.facts if f.key == "pronouns"
                         for v in f.values)


@dataclass(frozen=True)
class Mention:
    entity: Entity
    start: int  # token range [start, end)
    end: int
    possessive: bool

    def first(self, doc: Document) -> Token:
        return doc.tokens[self.start]


@dataclass
class WorldModel:
    entities: dict[str, Entity]
    phrases: dict[tuple[str, ...], Entity | None]  # None: shared by two entities
    known_words: frozenset[str]  # folded: every word of every name, alias and key
    first_words: frozenset[str] = frozenset()  # first words of the phrases: a cheap filter

    def find_mentions(self, doc: Document) -> list[Mention]:
        """Longest phrase first at each position; a mention never starts inside another."""
        tokens, found, i = doc.tokens, [], 0
        folded = [_fold(t.lower) if t.word else "" for t in tokens]
        starts = self.first_words
        while i < len(tokens):
            first = folded[i]
            match = (self._match_at(tokens, folded, i)
                     if first in starts or first.removesuffix("'s") in starts else None)
            if match is None:
                i += 1
                continue
            entity, end, possessive = match
            if entity is not None:
                found.append(Mention(entity, i, end, possessive))
            i = end
        return found

    def _match_at(self, tokens: tuple[Token, ...], folded: list[str],
                  i: int) -> tuple[Entity | None, int, bool] | None:
        for size in range(min(MAX_PHRASE, len(tokens) - i), 0, -1):
            words_ = folded[i:i + size]
            last = words_[-1]
            possessive = last.endswith("'s")
            key = (*words_[:-1], last[:-2] if possessive else last)
            if key not in self.phrases or not self._capitalised(tokens[i:i + size], key):
                continue
            return self.phrases[key], i + size, possessive
        return None

    def _capitalised(self, tokens: tuple[Token, ...], key: tuple[str, ...]) -> bool:
        """Every name word must be capitalised (leading articles excepted): "Patience" the
        character, not "patience"; "the Chief", not "the chief"."""
        return all(t.capital or (n == 0 and word in _ARTICLES)
                   for n, (t, word) in enumerate(zip(tokens, key, strict=True)))


def _phrases(entry: Entry) -> Iterable[str]:
    yield entry.name
    yield from entry.aliases
    yield from name_parts(entry)


def build_model(entries: Iterable[Entry]) -> WorldModel:
    """Characters (and anything with facts) can be mentioned; every entry's words are known,
    so the spelling check never calls a place or a ship a misspelt person."""
    entities: dict[str, Entity] = {}
    phrases: dict[tuple[str, ...], Entity | None] = {}
    known: set[str] = set()
    for entry in entries:
        for phrase in (*_phrases(entry), *entry.keys):
            known.update(fold(w).replace("’", "'") for w in words_of(phrase))
        # the names the world's own text uses (Luna, Kessler, Valparaíso) are not misspellings
        known.update(fold(w).replace("’", "'") for w in words_of(entry.body) if w[0].isupper())
        if entry.type != "character" and not entry.facts:
            continue
        entity = entities.setdefault(fold(entry.name), Entity(fold(entry.name), entry.name))
        entity.entries.append(entry)
        for phrase in _phrases(entry):
            key = tuple(fold(w).replace("’", "'") for w in words_of(phrase))
            if not key:
                continue
            owner = phrases.get(key, entity)
            phrases[key] = entity if owner is entity else None
    for entity in entities.values():
        entity.entries.sort(key=lambda e: (e.from_chapter or 0, e.id))
    return WorldModel(entities, phrases, frozenset(known),
                      frozenset(key[0] for key in phrases))


@lru_cache(maxsize=65536)
def _fold(word: str) -> str:
    return fold(word)
