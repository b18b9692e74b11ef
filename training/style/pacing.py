"""Pacing markers: physical action verbs and transition phrases, per 1,000 words.

    rate(marker set, t) = 1000 * occurrences in t / words in t
    pacing distance(a, b) = mean over the two marker sets of |ln((rate_a + 1) / (rate_b + 1))|

The log ratio treats "twice as many" the same at any level; the +1 per 1,000 words keeps a
marker that one text never uses from counting as an infinite difference.
"""

import math
import re
from dataclasses import dataclass

from training.style import text

_ACTION_STEMS = (
    "ran run runs running grab grabbed grabs seize seized struck strike hit hits kick kicked "
    "punch punched push pushed pull pulled shove shoved throw threw thrown flung fling hurl "
    "hurled jump jumped leap leaped leapt sprang spring dash dashed rush rushed race raced "
    "sprint sprinted flee fled duck ducked dodge dodged lunge lunged swing swung spun spin "
    "climb climbed crawl crawled stumble stumbled fall fell drop dropped slam slammed "
    "snatch snatched tear tore torn smash smashed break broke shatter shattered drag dragged "
    "lift lifted haul hauled yank yanked twist twisted reach reached turn turned step stepped "
    "stride strode hurry hurried rose rise stood stand sat grip gripped clutch clutched "
    "seal sealed cut slash slashed fire fired shoot shot knock knocked burst"
)
ACTION_VERBS = frozenset(_ACTION_STEMS.split())
TRANSITIONS = (
    "then",
    "suddenly",
    "meanwhile",
    "afterwards",
    "afterward",
    "finally",
    "presently",
    "immediately",
    "instantly",
    "soon",
    "later",
    "at last",
    "at once",
    "all at once",
    "after a while",
    "in the meantime",
    "at that moment",
    "a moment later",
    "moments later",
    "the next day",
    "next morning",
    "the next morning",
    "before long",
    "by the time",
    "in an instant",
    "at length",
    "by and by",
)
_TRANSITION = re.compile(r"\b(?:" + "|".join(sorted(TRANSITIONS, key=len, reverse=True)) + r")\b")


@dataclass(frozen=True)
class Pacing:
    action_verbs_per_1000: float
    transitions_per_1000: float


def pacing(passage: str) -> Pacing:
    tokens = text.words(passage)
    if not tokens:
        return Pacing(0.0, 0.0)
    actions = sum(t in ACTION_VERBS for t in tokens)
    transitions = len(_TRANSITION.findall(" ".join(tokens)))
    return Pacing(1000 * actions / len(tokens), 1000 * transitions / len(tokens))


def pacing_distance(a: Pacing, b: Pacing) -> float:
    pairs = (
        (a.action_verbs_per_1000, b.action_verbs_per_1000),
        (a.transitions_per_1000, b.transitions_per_1000),
    )
    return sum(abs(math.log((x + 1) / (y + 1))) for x, y in pairs) / len(pairs)
