"""Status and presence: a character who is dead, gone, or not yet introduced at the chapter,
shown acting in the narration.

"Acting" is narrow on purpose: the name (not a possessive) outside quoted speech, with a
verb right after it ("Calder walked in", "Marcus said") or before it ("said Marcus"). A
sentence that remembers, dreams, imagines or talks of a death is left alone, and so are a
past perfect ("Marcus had said") and a modal ("Marcus would have laughed"): the dead are
remembered and discussed all the time, and that is no contradiction.
"""

from __future__ import annotations

from retrieval.continuity.findings import Finding
from retrieval.continuity.model import Mention, WorldModel
from retrieval.continuity.text import Document, next_word, wordset

ACTION_VERBS = wordset("""
said says asked asks answered replied shouted whispered called laughed smiled nodded
shrugged sighed frowned grinned looked looks turned turns walked walks came comes went goes
stood stands sat sits ran runs took takes gave gives put puts held holds kept keeps left
leaves made makes got gets saw sees heard hears felt feels knew thought spoke speaks told
tells climbed climbs reached reaches pulled pulls pushed pushes opened opens closed closes
waited waits watched watches moved moves stepped steps raised raises lifted lifts dropped
began begins stopped stops tried tries wrote writes read reads drank drinks ate eats slept
sleeps woke wakes rose rises fell falls caught catches threw throws hit hits cut cuts
brought brings carried carries crossed crosses entered enters signed signs voted votes
leaned leans knelt kneels glanced glances stared stares touched touches picked picks
lit sent found lost met paid wore won drew drove flew swam sang shook bent broke chose fought
grew hid hung laid meant rang rode sold shot shut slid spun struck swore swept swung taught
tore wept sank dug fed bit led
""")
_NOT_VERBS = wordset("""
red bed shed need seed feed weed reed breed speed hundred bred led wed naked wicked
""")
_SKIP_BEFORE_VERB = wordset("""
then still just also only slowly quickly finally suddenly quietly again already even once
""")
_FLASHBACK = wordset("""
remember remembered remembers remembering recalled recall recalls memory memories dream
dreamed dreamt dreams dreaming imagined imagine imagining pictured picture photograph photo
portrait recording recorded log letter grave funeral buried died dead death dies killed
drowned ghost ago used if wished wish wondered would could might should late
""")
_SPEECH = wordset("said asked replied called shouted whispered answered cried muttered")
# Hearsay: "They say Mercy walks the reef" reports a rumour, not an event.
_HEARSAY = ("they say", "people say", "they said", "people said", "the story goes")
_HEARSAY_WORDS = wordset("rumour rumours rumoured rumor supposedly legend gossip believed")
_MODALS = wordset("would could might should must may had will shall")
_REASONS = {
    "dead": ("is dead", "remove the action or move it into a memory or flashback"),
    "gone": ("has left the story", "remove the action, or write it as a memory or a report"),
}


def check_status(doc: Document, model: WorldModel, mentions: list[Mention],
                 chapter: int | None) -> list[Finding]:
    found: list[Finding] = []
    for mention in mentions:
        if not _acting(doc, model, mention) or _remembered(doc, mention.start):
            continue
        finding = _against_facts(doc, mention, chapter)
        if finding is not None:
            found.append(finding)
    return found


def _against_facts(doc: Document, mention: Mention, chapter: int | None) -> Finding | None:
    entity = mention.entity
    quote = doc.quote(mention.start, mention.end)
    span = (doc.tokens[mention.start].start, doc.tokens[mention.end - 1].end)
    for entry, fact in entity.facts("status", chapter):
        if fact.values[0] in _REASONS:
            what, fix = _REASONS[fact.values[0]]
            at = f"at chapter {chapter}" if chapter is not None else "in this story"
            return Finding("status", "status", entry.id, entity.name, fact.shown(), *span,
                           quote, f"{entity.name} {what} {at} but is shown acting", fix)
    for entry, fact in entity.facts("introduced", None):
        first = int(fact.values[0])
        if chapter is not None and chapter < first:
            return Finding("status", "introduced", entry.id, entity.name, fact.shown(), *span,
                           quote, f"{entity.name} first appears in chapter {first}, but acts "
                           f"in chapter {chapter}",
                           f"check the chapter number, or bring {entity.name} in later")
    return None


def _acting(doc: Document, model: WorldModel, mention: Mention) -> bool:
    token = doc.tokens[mention.start]
    if token.quoted or mention.possessive:
        return False
    before = mention.start - 1
    if before >= 0 and doc.tokens[before].lower in _SPEECH:
        return not doc.tokens[before].quoted
    j = next_word(doc, _past_aside(doc, mention.end), limit=2)
    if j is not None and doc.tokens[j].capital and j == mention.end \
            and doc.tokens[j].lower not in model.known_words:
        j = next_word(doc, j, limit=1)  # a surname the world doesn't know: "Will Tarrent came"
    while j is not None and doc.tokens[j].lower in _SKIP_BEFORE_VERB:
        j = next_word(doc, j, limit=2)
    if j is None or doc.tokens[j].capital or doc.tokens[j].lower in _MODALS:
        return False
    word = doc.tokens[j].lower
    return word in ACTION_VERBS or (word.endswith("ed") and len(word) > 4
                                     and word not in _NOT_VERBS)


def _past_aside(doc: Document, end: int) -> int:
    """Where to look for the verb after a name: past an aside set off by commas ("Mira, just
    off the train, asked"), else right after the name (the index before the next token)."""
    tokens = doc.tokens
    if end < len(tokens) and tokens[end].text == ",":
        for j in range(end + 1, min(end + 10, len(tokens))):
            if tokens[j].text == ",":
                return j
            if not tokens[j].word:
                break
    return end - 1


def _remembered(doc: Document, index: int) -> bool:
    """A sentence that remembers, dreams, supposes or reports hearsay."""
    start, end = doc.sentence_of(index)
    words = [doc.tokens[i].lower for i in range(start, end) if doc.tokens[i].word]
    if any(w in _FLASHBACK or w in _HEARSAY_WORDS for w in words):
        return True
    sentence = " ".join(words)
    return any(phrase in sentence for phrase in _HEARSAY)
