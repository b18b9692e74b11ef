"""A style profile of the whole corpus and the system prompt written from it.

Deterministic: the same corpus gives the same numbers and the same words. Measures
vocabulary level (mean word length, share of words of 7+ letters, type-token ratio over
1,000-word windows), the sentence-length pattern (mean, spread, share of short and long
sentences), paragraph length, the share of text inside dialogue quotes, point of view
and tense.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import asdict, dataclass

from training.chunking import split_sentences

_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_QUOTED = re.compile(r"[\"“][^\"“”]*[\"”]")
_FIRST = {"i", "me", "my", "mine", "we", "us", "our"}
_THIRD = {"he", "she", "him", "her", "his", "hers", "they", "them", "their"}
_PAST = {"was", "were", "had", "did", "said", "went", "came", "looked", "thought", "knew"}
_PRESENT = {"is", "are", "has", "does", "says", "goes", "comes", "looks", "thinks", "knows"}


@dataclass(frozen=True)
class StyleProfile:
    words: int
    mean_word_length: float
    long_word_share: float
    type_token_ratio: float
    sentence_mean: float
    sentence_stdev: float
    short_sentence_share: float
    long_sentence_share: float
    paragraph_mean_words: float
    one_line_paragraph_share: float
    dialogue_share: float
    point_of_view: str
    tense: str

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def _windowed_ttr(words: list[str], window: int = 1000) -> float:
    if len(words) < window:
        return len(set(words)) / max(1, len(words))
    ratios = [
        len(set(words[i : i + window])) / window for i in range(0, len(words) - window + 1, window)
    ]
    return statistics.fmean(ratios)


def analyse(paragraphs: list[str]) -> StyleProfile:
    text = "\n\n".join(paragraphs)
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        raise ValueError("the corpus has no words to analyse")
    sentences = [len(_WORD.findall(s)) for p in paragraphs for s in split_sentences(p)]
    sentences = [n for n in sentences if n] or [len(words)]
    paragraph_words = [len(_WORD.findall(p)) for p in paragraphs] or [len(words)]
    quoted = sum(len(_WORD.findall(q)) for q in _QUOTED.findall(text))
    first = sum(w in _FIRST for w in words)
    third = sum(w in _THIRD for w in words)
    past = sum(w in _PAST for w in words) + sum(w.endswith("ed") for w in words)
    present = sum(w in _PRESENT for w in words)
    return StyleProfile(
        words=len(words),
        mean_word_length=round(statistics.fmean(len(w) for w in words), 2),
        long_word_share=round(sum(len(w) >= 7 for w in words) / len(words), 3),
        type_token_ratio=round(_windowed_ttr(words), 3),
        sentence_mean=round(statistics.fmean(sentences), 1),
        sentence_stdev=round(statistics.pstdev(sentences), 1),
        short_sentence_share=round(sum(n <= 6 for n in sentences) / len(sentences), 3),
        long_sentence_share=round(sum(n >= 30 for n in sentences) / len(sentences), 3),
        paragraph_mean_words=round(statistics.fmean(paragraph_words), 1),
        one_line_paragraph_share=round(
            sum(len(split_sentences(p)) == 1 for p in paragraphs) / max(1, len(paragraphs)), 3
        ),
        dialogue_share=round(quoted / len(words), 3),
        point_of_view="first person" if first > third else "third person",
        tense="present tense" if present > past / 2 else "past tense",
    )


def _vocabulary(p: StyleProfile) -> str:
    if p.mean_word_length < 4.2 and p.long_word_share < 0.15:
        level = "plain"
    elif p.mean_word_length > 4.8 or p.long_word_share > 0.25:
        level = "rich, learned"
    else:
        level = "clear, concrete"
    share = f"{p.long_word_share:.0%}"
    return f"{level} vocabulary (words avg {p.mean_word_length} letters, {share} long)"


def _rhythm(p: StyleProfile) -> str:
    spread = p.sentence_stdev / max(1.0, p.sentence_mean)
    if spread > 0.75:
        pattern = "swinging hard between clipped fragments and long run-ons"
    elif spread > 0.45:
        pattern = "varied in length"
    else:
        pattern = "of even length"
    return (
        f"sentences average {p.sentence_mean} words, {pattern} "
        f"({p.short_sentence_share:.0%} ≤6 words, {p.long_sentence_share:.0%} ≥30)"
    )


def system_prompt(p: StyleProfile) -> str:
    """A compact description: it is repeated in every example, so every token costs."""
    if p.dialogue_share >= 0.3:
        dialogue = "dialogue-heavy"
    elif p.dialogue_share >= 0.12:
        dialogue = "balanced dialogue and narration"
    else:
        dialogue = "narration-led"
    return (
        f"You write fiction in the author's voice: {p.point_of_view}, {p.tense}; "
        f"{_vocabulary(p)}; {_rhythm(p)}; paragraphs about {p.paragraph_mean_words:.0f} words, "
        f"{p.one_line_paragraph_share:.0%} a single sentence; {dialogue} "
        f"({p.dialogue_share:.0%} of words in dialogue). Write only the scene's prose."
    )
