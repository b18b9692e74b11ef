"""Narration versus dialogue, and how the author attributes speech.

* dialogue share = words inside quotes / all words (a quote left open at the end of a
  paragraph runs to its end, the convention for speech that continues in the next paragraph);
  quotes are double, or single where a text opens more single quotes than it has double ones
  (Garnett's Turgenev, much British fiction);
* attribution pattern of each quotation, read from the words right after it closes or right
  before it opens: `NAME said` ("Elena said", "the captain said"), `he said`, `said NAME`,
  `said he`, or `unattributed`; and its speech verb: said / asked / replied / cried / other;
* attribution distance = (TV(patterns) + TV(verbs)) / 2, with TV(p, q) = sum |p_i - q_i| / 2
  the total variation distance between the two distributions (0 = identical, 1 = disjoint);
* dialogue distance = |share(a) - share(b)| + attribution distance / 2.
"""

import re
from collections import Counter
from dataclasses import dataclass, field

from training.style import text

PATTERNS = ("NAME said", "he said", "said NAME", "said he", "unattributed")
VERB_CLASSES = {
    "said": ("said", "says", "say"),
    "asked": ("asked", "asks", "inquired", "enquired", "demanded"),
    "replied": ("replied", "replies", "answered", "rejoined", "returned", "responded"),
    "cried": ("cried", "exclaimed", "shouted", "screamed", "yelled", "called"),
    "other": (
        "whispered",
        "muttered",
        "murmured",
        "added",
        "continued",
        "observed",
        "remarked",
        "began",
        "repeated",
        "interrupted",
        "sighed",
        "laughed",
        "snapped",
        "growled",
        "declared",
        "told",
        "went on",
    ),
}
_VERB_CLASS = {verb: cls for cls, verbs in VERB_CLASSES.items() for verb in verbs}
_VERB = "(?P<verb>" + "|".join(sorted(_VERB_CLASS, key=len, reverse=True)) + ")"
_PRONOUN = r"(?P<pronoun>(?:[Hh]e|[Ss]he|I|[Tt]hey|[Ww]e|[Yy]ou|[Ii]t))"
_NAME = r"(?P<name>(?:[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)?|the\s+[a-z]+))"
_ADVERB = r"(?:\s+\w+ly)?"
_AFTER = [
    ("he said", re.compile(rf"^\s*{_PRONOUN}{_ADVERB}\s+{_VERB}\b")),
    ("NAME said", re.compile(rf"^\s*{_NAME}{_ADVERB}\s+{_VERB}\b")),
    ("said he", re.compile(rf"^\s*{_VERB}\s+{_PRONOUN}\b")),
    ("said NAME", re.compile(rf"^\s*{_VERB}\s+{_NAME}")),
]
_BEFORE = [
    ("he said", re.compile(rf"\b{_PRONOUN}{_ADVERB}\s+{_VERB}\s*[,:]?\s*$")),
    ("NAME said", re.compile(rf"{_NAME}{_ADVERB}\s+{_VERB}\s*[,:]?\s*$")),
]


@dataclass
class DialogueProfile:
    share: float
    patterns: dict[str, float]
    verbs: dict[str, float]
    attributions: Counter[str] = field(default_factory=Counter)


_SINGLE_OPEN = re.compile(r"(?:^|(?<=[\s(\[—]))'(?=[^\s'])")
_SINGLE_CLOSE = re.compile(r"(?<=[^\s'])'(?=[\s,.!?;:—)\]]|$)")


def _with_double_quotes(paragraphs: list[str]) -> list[str]:
    joined = "\n".join(paragraphs)
    if len(_SINGLE_OPEN.findall(joined)) <= joined.count('"'):
        return paragraphs
    return [_SINGLE_CLOSE.sub('"', _SINGLE_OPEN.sub('"', p)) for p in paragraphs]


def _quote_segments(paragraph: str) -> tuple[list[str], list[str]]:
    """(quoted segments, the narration around each) for one paragraph."""
    parts = paragraph.split('"')
    return parts[1::2], parts[0::2]


def _attribute(before: str, after: str) -> tuple[str, str | None, str | None]:
    for pattern, regex in _AFTER:
        if m := regex.search(after[:80]):
            return pattern, m.group("verb").lower(), m.group(0).strip()
    for pattern, regex in _BEFORE:
        if m := regex.search(before[-80:]):
            return pattern, m.group("verb").lower(), m.group(0).strip(" ,:")
    return "unattributed", None, None


def _distribution(counts: Counter[str], keys: tuple[str, ...]) -> dict[str, float]:
    total = sum(counts[k] for k in keys)
    return {k: (counts[k] / total if total else 0.0) for k in keys}


def dialogue_profile(passage: str) -> DialogueProfile:
    spoken = total = 0
    patterns: Counter[str] = Counter()
    verbs: Counter[str] = Counter()
    attributions: Counter[str] = Counter()
    for paragraph in _with_double_quotes(text.paragraphs(passage)):
        quoted, narration = _quote_segments(paragraph)
        total += len(text.words(paragraph))
        spoken += sum(len(text.words(q)) for q in quoted)
        for i in range(len(quoted)):
            after = narration[i + 1] if i + 1 < len(narration) else ""
            pattern, verb, phrase = _attribute(narration[i], after)
            patterns[pattern] += 1
            if verb:
                verbs[_VERB_CLASS[verb]] += 1
                attributions[phrase] += 1
    return DialogueProfile(
        share=spoken / total if total else 0.0,
        patterns=_distribution(patterns, PATTERNS),
        verbs=_distribution(verbs, tuple(VERB_CLASSES)),
        attributions=attributions,
    )


def total_variation(p: dict[str, float], q: dict[str, float]) -> float:
    return sum(abs(p[k] - q[k]) for k in p) / 2


def attribution_distance(a: DialogueProfile, b: DialogueProfile) -> float:
    return (total_variation(a.patterns, b.patterns) + total_variation(a.verbs, b.verbs)) / 2


def dialogue_distance(a: DialogueProfile, b: DialogueProfile) -> float:
    return abs(a.share - b.share) + attribution_distance(a, b) / 2
