"""Near-miss spellings of known names: "Elena Vasques", "Marcus Okafer", "Kera".

A capitalised word is a near miss when it is not a word the world uses, not an ordinary
English word (retrieval/common_words.txt), not a possessive or plural of a known name, and
one edit (two for names of eight letters or more) from exactly one known name word with
the same first letter; typos keep the first letter far more often than not, and a word
close to two different names can't say which it misspells.
"""

from __future__ import annotations

from functools import lru_cache

from retrieval.continuity.findings import Finding
from retrieval.continuity.model import Entity, Mention, WorldModel
from retrieval.continuity.text import Document, words_of
from retrieval.facts import RANKS
from retrieval.triggers import common_words, fold, stem

MIN_LENGTH = 4
_TITLES = frozenset(rank.casefold() for rank in RANKS)


def check_spelling(doc: Document, model: WorldModel, mentions: list[Mention],
                   chapter: int | None) -> list[Finding]:
    inside = {i for m in mentions for i in range(m.start, m.end)}
    names = _name_words(model)
    found: list[Finding] = []
    for i, token in enumerate(doc.tokens):
        if i in inside or not token.word or not token.capital or len(token.text) < MIN_LENGTH:
            continue
        word = fold(token.text.replace("’", "'")).removesuffix("'s")
        if word in model.known_words or stem(word) in model.known_words or _ordinary(word):
            continue
        match = _closest(word, names)
        if match is None:
            continue
        written, entities = match
        entity = _beside(mentions, i, entities) or entities[0]
        found.append(Finding(
            "spelling", "spelling", entity.entry_id, entity.name, f"name: {entity.name}",
            token.start, token.end, token.text,
            f"'{token.text}' looks like a misspelling of '{written}' ({entity.name})",
            f"write '{written}', or add '{token.text}' to an entry's aliases if it is "
            "someone else"))
    return found


def _ordinary(word: str) -> bool:
    common = common_words()
    return word in common or stem(word) in common or any(
        part in common for part in word.split("-") if len(word.split("-")) > 1)


def _name_words(model: WorldModel) -> dict[str, tuple[str, list[Entity]]]:
    """Folded word of a name or alias -> (as written, the entities it names). A word two
    people share ("Tarrant") is still a known spelling, so a near miss of it is still a
    misspelling; the finding names the one named beside it, or the first."""
    cached = getattr(model, "_name_words", None)
    if cached is not None:
        return cached
    words: dict[str, tuple[str, list[Entity]]] = {}
    for entity in model.entities.values():
        for written in _written_words(entity):
            folded = fold(written).replace("’", "'")
            if len(folded) >= MIN_LENGTH and folded not in _TITLES:  # 'Captan' is no name
                owners = words.setdefault(folded, (written, []))[1]
                if entity not in owners:
                    owners.append(entity)
    object.__setattr__(model, "_name_words", words)
    return words


def _beside(mentions: list[Mention], index: int, entities: list[Entity]) -> Entity | None:
    """The entity named right before or after token `index` ("Liddy Tarrent"), if it is one
    of `entities`."""
    for mention in mentions:
        if (mention.end == index or mention.start == index + 1) and mention.entity in entities:
            return mention.entity
    return None


def _written_words(entity: Entity) -> list[str]:
    found = []
    for entry in entity.entries:
        for phrase in (entry.name, *entry.aliases):
            found += [w for w in words_of(phrase) if w[0].isupper()]
    return found


def _closest(word: str, names: dict[str, tuple[str, list[Entity]]]
             ) -> tuple[str, list[Entity]] | None:
    """The one name word `word` is near; None for none, or for two (it can't say which)."""
    hits = [value for name, value in names.items() if _near(word, name)]
    return hits[0] if len(hits) == 1 else None


@lru_cache(maxsize=65536)
def _near(word: str, name: str) -> bool:
    if word == name or word[0] != name[0] or abs(len(word) - len(name)) > 2:
        return False
    limit = 2 if len(name) >= 8 else 1
    return _distance(word, name, limit) <= limit


def _distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein (adjacent swaps count one), stopping early past `limit`."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = ca != cb
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]
