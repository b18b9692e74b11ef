"""Who a pronoun or a possessive means, answered only when the text leaves no doubt.

"her grey eyes" belongs to the last named character whose pronouns include "she", if that
character was named in this sentence or the one before, and nobody else who could be "she"
(another such character, an unnamed woman, a stranger, an unknown name) came between. In
every other case the answer is "don't know", and the checks say nothing: a missed
contradiction costs less than a false one.
"""

from __future__ import annotations

from retrieval.continuity.model import PERSON_NOUNS, Entity, Mention, WorldModel
from retrieval.continuity.text import Document

PRONOUN_SETS = {
    "she": "she/her", "her": "she/her", "hers": "she/her", "herself": "she/her",
    "he": "he/him", "him": "he/him", "his": "he/him", "himself": "he/him",
    "it": "it/its", "its": "it/its", "itself": "it/its",
    "they": "they/them", "them": "they/them", "their": "they/them", "themselves": "they/them",
}
POSSESSIVES = frozenset({"her", "his", "its", "their"})


def owner_of(doc: Document, model: WorldModel, mentions: list[Mention],
             index: int) -> Entity | None:
    """The entity a possessor at token `index` means: a name ("Elena's") or a pronoun."""
    for mention in mentions:
        if mention.end - 1 == index and mention.possessive:
            return mention.entity
    word = doc.tokens[index].lower
    pronoun = PRONOUN_SETS.get(word)
    return None if pronoun is None else antecedent(doc, model, mentions, index, pronoun)


def antecedent(doc: Document, model: WorldModel, mentions: list[Mention], index: int,
               pronoun: str) -> Entity | None:
    """The one character a pronoun at `index` can mean, or None (see the module docstring)."""
    sentence = doc.tokens[index].sentence
    window_start = doc.sentence_starts[max(sentence - 1, 0)]
    before = [m for m in mentions if window_start <= m.start < index]
    if not before:
        return None
    last = before[-1]
    if pronoun not in last.entity.pronouns:
        return None
    # Named in this sentence, the last name wins over the sentence before ("Calder left.
    # Elena flexed her arm"); named only before, every name in the window is a rival.
    if doc.tokens[last.start].sentence == sentence:
        before = [m for m in before if doc.tokens[m.start].sentence == sentence]
    rivals = {m.entity.key for m in before if pronoun in m.entity.pronouns
              or not m.entity.pronouns}
    if rivals != {last.entity.key} or _someone_else(doc, model, mentions, last.end, index):
        return None
    return last.entity


def _someone_else(doc: Document, model: WorldModel, mentions: list[Mention],
                  start: int, end: int) -> bool:
    """An unnamed person, or a capitalised word the world doesn't know, between the name and
    the pronoun: either could be who the pronoun means."""
    inside = {i for m in mentions for i in range(m.start, m.end)}
    for i in range(start, end):
        token = doc.tokens[i]
        if not token.word or i in inside:
            continue
        if token.lower in PERSON_NOUNS or token.lower.removesuffix("'s") in PERSON_NOUNS:
            return True
        if token.capital and not token.opens and token.lower not in model.known_words \
                and token.lower not in PRONOUN_SETS and token.lower != "i":
            return True
    return False
