"""How the narration refers to a character: the title before a name, the pronoun in a
self-directed phrase, and an age stated outright.

- Rank: a title word right before a name ("Commander Vasquez") against `rank`. Narration
  only: in dialogue people use old ranks, courtesy titles and rumours freely.
- Pronouns: only phrases where the pronoun can only mean the subject ("Elena shook his
  head", "Marcus braced herself"), never a pronoun that might mean someone else.
- Age: "forty-nine-year-old Elena", "Elena was fifty-three", "Elena, sixty," against `age`;
  "when Elena was twenty" is a flashback, and "nearly fifty" allows a few years.
"""

from __future__ import annotations

from retrieval.continuity.findings import Finding
from retrieval.continuity.model import Mention, WorldModel
from retrieval.continuity.numbers import parse_number
from retrieval.continuity.resolve import PRONOUN_SETS
from retrieval.continuity.text import Document, next_word, wordset
from retrieval.facts import RANKS

_TITLES = {r.casefold(): r for r in RANKS if r != "none"} | {
    "dr.": "Doctor", "capt.": "Captain", "lt.": "Lieutenant", "cmdr.": "Commander",
    "prof.": "Professor", "sgt.": "Sergeant"}
_SELF_NOUNS = {"shook": "head", "cleared": "throat", "shrugged": "shoulders", "bit": "lip",
               "held": "breath", "caught": "breath", "crossed": "arms", "folded": "arms",
               "narrowed": "eyes", "rolled": "eyes", "squared": "shoulders", "lost": "temper",
               "changed": "mind", "scratched": "head", "rubbed": "eyes"}
_REFLEXIVES = frozenset({"herself", "himself", "itself"})
_APPROXIMATE = wordset("nearly almost about around over under barely just past")
_EARLIER = wordset("when until since by before after at as once")


def check_references(doc: Document, model: WorldModel, mentions: list[Mention],
                     chapter: int | None) -> list[Finding]:
    found: list[Finding] = []
    for mention in mentions:
        for check in (_rank, _pronoun, _age):
            finding = check(doc, mention, chapter)
            if finding is not None:
                found.append(finding)
    return found


def _rank(doc: Document, mention: Mention, chapter: int | None) -> Finding | None:
    if mention.start == 0 or doc.tokens[mention.start].quoted:
        return None
    title_token = doc.tokens[mention.start - 1]
    title = _TITLES.get(title_token.lower) if title_token.capital else None
    if title is None:
        return None
    entity = mention.entity
    for entry, fact in entity.facts("rank", chapter):
        if title not in fact.values:
            right = fact.values[0]
            fix = (f"drop '{title_token.text}'" if right == "none"
                   else f"write '{right} {doc.quote(mention.start, mention.end)}'")
            return Finding("attribute", "rank", entry.id, entity.name, fact.shown(),
                           title_token.start, doc.tokens[mention.end - 1].end,
                           doc.quote(mention.start - 1, mention.end),
                           f"{entity.name}'s rank is {right}, not {title}", fix)
    return None


def _pronoun(doc: Document, mention: Mention, chapter: int | None) -> Finding | None:
    entity = mention.entity
    if mention.possessive or not entity.pronouns:
        return None
    if mention.start and doc.tokens[mention.start - 1].lower in ("and", "or", "nor", "with"):
        return None  # "Elena and Marcus shook ..." has two subjects
    verb = next_word(doc, mention.end - 1, limit=2)
    if verb is None:
        return None
    word = doc.tokens[verb].lower
    pronoun_at = verb + 1 if verb + 1 < len(doc.tokens) else None
    if pronoun_at is None or not doc.tokens[pronoun_at].word:
        return None
    pronoun = doc.tokens[pronoun_at].lower
    if pronoun in _REFLEXIVES and word.endswith("ed"):
        end = pronoun_at + 1
    elif _SELF_NOUNS.get(word) and pronoun in ("his", "her", "its") and pronoun_at + 1 < len(
            doc.tokens) and doc.tokens[pronoun_at + 1].lower == _SELF_NOUNS[word]:
        end = pronoun_at + 2
    else:
        return None
    said = PRONOUN_SETS[pronoun]
    for entry, fact in entity.facts("pronouns", chapter):
        if said not in fact.values:
            right = fact.values[0].split("/")
            return Finding("attribute", "pronouns", entry.id, entity.name, fact.shown(),
                           doc.tokens[mention.start].start, doc.tokens[end - 1].end,
                           doc.quote(mention.start, end),
                           f"{entity.name} is {' or '.join(fact.values)}, not {said}",
                           f"write '{_swap(pronoun, right)}'")
    return None


def _swap(pronoun: str, right: list[str]) -> str:
    subject = right[0]
    if pronoun in _REFLEXIVES:
        return {"she": "herself", "he": "himself", "it": "itself"}.get(subject, "themselves")
    return {"she": "her", "he": "his", "it": "its"}.get(subject, "their")


def _age(doc: Document, mention: Mention, chapter: int | None) -> Finding | None:
    stated = _stated_age(doc, mention)
    if stated is None:
        return None
    age, start, end, approximate = stated
    entity = mention.entity
    for entry, fact in entity.facts("age", chapter):
        right = int(fact.values[0])
        if abs(right - age) > (3 if approximate else 0):
            return Finding("attribute", "age", entry.id, entity.name, fact.shown(),
                           doc.tokens[start].start, doc.tokens[end - 1].end,
                           doc.quote(start, end), f"{entity.name} is {right}, not {age}",
                           f"write {right}")
    return None


def _stated_age(doc: Document, mention: Mention) -> tuple[int, int, int, bool] | None:
    """(age, token start, token end, approximate) for an age stated about the mention."""
    tokens = doc.tokens
    sentence_start, _ = doc.sentence_of(mention.start)
    if any(tokens[i].lower in _EARLIER for i in range(sentence_start, mention.start)):
        return None
    before = mention.start - 1
    if before >= 0 and tokens[before].lower.endswith("year-old"):
        number = tokens[before].lower.removesuffix("year-old").rstrip("-")
        value = parse_number([number]) if number else None
        if value is None and before >= 1:
            value = parse_number([tokens[before - 1].lower])
            before -= 1
        return None if value is None else (value[0], before, mention.end, False)
    j = mention.end
    if j < len(tokens) and tokens[j].lower in ("was", "is", ","):
        k = j + 1
        approximate = k < len(tokens) and tokens[k].lower in _APPROXIMATE
        k += approximate
        value = parse_number([t.lower for t in tokens[k:k + 6]])
        if value is None:
            return None
        after = k + value[1]
        follows = [t.lower for t in tokens[after:after + 2]]
        if follows[:2] == ["years", "old"] or (follows and follows[0] in (".", ",", ";", "and")):
            return value[0], mention.start, after, approximate
    return None
