"""Attributes stated near a mention: eye and hair colour, and which limb is the replaced one.

Only noun phrases with a clear owner are read: "Elena's brown eyes", "her eyes were green",
"his prosthetic right arm", "her right arm, the metal one". The owner is a possessive name
or a pronoun resolved by `resolve.owner_of`; "the left hand of the man beside her" and "the
woman's grey eyes" have no owner the world knows, so nothing is said about them. A negation
between the noun and the colour ("her eyes were not green") silences the phrase too.
"""

from __future__ import annotations

from retrieval.continuity.findings import Finding
from retrieval.continuity.model import Entity, Mention, WorldModel
from retrieval.continuity.resolve import POSSESSIVES, owner_of
from retrieval.continuity.text import Document, wordset
from retrieval.facts import COLOURS, REPLACEMENTS, SIDES

_COLOUR_WORDS = {**{c: c for c in COLOURS}, "gray": "grey", "blonde": "blond",
                 "golden": "gold", "ginger": "red"}
_FEATURES = {"eyes": "eyes", "eye": "eyes", "hair": "hair"}
_LINKS = wordset("was were is are looked look had gone turned gone grown gleamed")
_NEGATIONS = wordset("not never no n't without nor")
_DETERMINERS = wordset("the a an this that these those one some")
_FLESH = wordset("flesh natural organic")
# Which fact covers a word: a cybernetic arm is a cybernetic hand too.
_LIMB_FACTS = {
    "arm": ("arm",), "forearm": ("arm",), "elbow": ("arm",), "shoulder": ("arm",),
    "hand": ("hand", "arm"), "fingers": ("hand", "arm"), "fist": ("hand", "arm"),
    "wrist": ("hand", "arm"), "palm": ("hand", "arm"),
    "leg": ("leg",), "knee": ("leg",), "foot": ("foot", "leg"), "ankle": ("foot", "leg"),
    "eye": ("eye",),
}
MAX_MODIFIERS = 3


def check_attributes(doc: Document, model: WorldModel, mentions: list[Mention],
                     chapter: int | None) -> list[Finding]:
    found: list[Finding] = []
    for i, token in enumerate(doc.tokens):
        feature = _FEATURES.get(token.lower)
        if feature is not None:
            found += _colour_finding(doc, model, mentions, i, feature, chapter)
        elif token.lower in SIDES:
            found += _limb_finding(doc, model, mentions, i, chapter)
    return found


def _owner_before(doc: Document, model: WorldModel, mentions: list[Mention], index: int,
                  reach: int = MAX_MODIFIERS + 1) -> tuple[Entity | None, int]:
    """The possessor a few words before `index` ("her [dark] grey"), and where it is."""
    for j in range(index - 1, max(index - 1 - reach, -1), -1):
        token = doc.tokens[j]
        if not token.word or token.lower in _DETERMINERS:
            return None, j
        if token.lower in POSSESSIVES or token.lower.endswith("'s"):
            return owner_of(doc, model, mentions, j), j
    return None, index


# Words that name a range of colours: "dark hair" is black or brown, never blond.
_SHADES = {"dark": ("black", "brown", "auburn"), "fair": ("blond", "white", "silver"),
           "sandy": ("blond", "red"), "raven": ("black",)}


def _colours_in(text: str) -> list[tuple[str, ...]]:
    """Each colour word in `text` ("iron-grey", "dark"), as the colours it can mean."""
    parts = text.split("-")
    found = [(_COLOUR_WORDS[p],) for p in parts if p in _COLOUR_WORDS]
    return found or [_SHADES[p] for p in parts if p in _SHADES]


def _colour_finding(doc: Document, model: WorldModel, mentions: list[Mention], index: int,
                    feature: str, chapter: int | None) -> list[Finding]:
    tokens = doc.tokens
    colours = _colours_in(tokens[index - 1].lower) if index else []
    owner, start, end = None, index - 1, index + 1
    if colours:  # "her grey eyes"
        owner, start = _owner_before(doc, model, mentions, index - 1)
    else:  # "her eyes were grey"
        j = index + 1
        while j < len(tokens) and j <= index + 4 and tokens[j].word and not colours:
            if tokens[j].lower in _NEGATIONS or tokens[j].lower.endswith("n't"):
                return []
            colours = _colours_in(tokens[j].lower) if tokens[j - 1].lower in _LINKS or \
                tokens[j - 1].lower in ("very", "quite", "still", "now") else []
            j += 1
        if colours:
            owner, start = _owner_before(doc, model, mentions, index, reach=1)
            end = j
    if owner is None or not colours:
        return []
    for entry, fact in owner.facts(feature, chapter):
        if not {c for shade in colours for c in shade} & set(fact.values):
            quote = doc.quote(start, end)
            said = "-".join(shade[0] if len(shade) == 1 else "/".join(shade) for shade in colours)
            return [Finding("attribute", feature, entry.id, owner.name, fact.shown(),
                            tokens[start].start, tokens[end - 1].end, quote,
                            f"{owner.name}'s {feature} {_be(feature)} {' or '.join(fact.values)}, "
                            f"not {said}",
                            f"write {' or '.join(fact.values)} {feature}")]
    return []


def _limb_finding(doc: Document, model: WorldModel, mentions: list[Mention], index: int,
                  chapter: int | None) -> list[Finding]:
    tokens = doc.tokens
    side = tokens[index].lower
    limb_at = index + 1
    words = [] if limb_at >= len(tokens) else [tokens[limb_at].lower]
    if words and words[0] in REPLACEMENTS and limb_at + 1 < len(tokens):
        limb_at += 1  # "her right prosthetic arm"
    limb = tokens[limb_at].lower if limb_at < len(tokens) else ""
    limb = limb.removesuffix("s") if limb not in ("fingers",) else limb
    if limb not in _LIMB_FACTS:
        return []
    owner, start = _owner_before(doc, model, mentions, index)
    if owner is None:
        return []
    before = {tokens[j].lower for j in range(start + 1, limb_at + 1)}
    after = _appositive(doc, limb_at)
    marked = bool((before | after) & set(REPLACEMENTS))
    flesh = bool((before | after) & _FLESH)
    if not marked and not flesh:
        return []
    for key in _LIMB_FACTS[limb]:
        for entry, fact in owner.facts(key, chapter):
            wrong = (marked and side != fact.values[0]) or (flesh and side == fact.values[0])
            if wrong:
                end = limb_at + 1 + (len(after) and _appositive_length(doc, limb_at))
                other = "right" if fact.values[0] == "left" else "left"
                return [Finding("attribute", key, entry.id, owner.name, fact.shown(),
                                tokens[start].start, tokens[end - 1].end, doc.quote(start, end),
                                f"{owner.name}'s {fact.detail} {key} is the "
                                f"{fact.values[0]} one",
                                f"write '{fact.values[0]}' for the {fact.detail} {key}, or "
                                f"'{other}' for the other")]
    return []


def _appositive(doc: Document, limb_at: int) -> set[str]:
    """Words of ", the metal one" / "— the prosthetic" right after a limb."""
    n = _appositive_length(doc, limb_at)
    return {doc.tokens[j].lower for j in range(limb_at + 1, limb_at + 1 + n)}


def _appositive_length(doc: Document, limb_at: int) -> int:
    tokens = doc.tokens
    j = limb_at + 1
    if j + 1 < len(tokens) and tokens[j].text in (",", "—", "–") and \
            tokens[j + 1].lower == "the":
        k = j + 2
        while k < len(tokens) and k < j + 5 and tokens[k].word:
            if tokens[k].lower in REPLACEMENTS or tokens[k].lower in _FLESH:
                return k - limb_at
            k += 1
    return 0


def _be(feature: str) -> str:
    return "are" if feature == "eyes" else "is"
