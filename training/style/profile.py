"""Style profiles of texts, and every metric of a candidate measured against the author's.

`build_profile(text)` reads a text once (the author's reference, a model's pooled outputs, or
a window of another author); `compare(candidate, reference)` returns `StyleMetrics`, the raw
numbers (distances: lower is closer) that `score.py` turns into 0-100. Each metric's formula
is in the docstring of the module that computes it.
"""

from dataclasses import asdict, dataclass, field

import numpy as np

from training.style import dialogue, lengths, pacing, stylometry, text, vocabulary


@dataclass
class TextProfile:
    words: int
    function_word_z: np.ndarray
    char_ngram_z: np.ndarray
    terms: list[str]
    window_vocabularies: list[frozenset[str]]
    sentence_lengths: list[int]
    paragraph_lengths: list[int]
    dialogue: dialogue.DialogueProfile
    pacing: pacing.Pacing

    def summary(self) -> dict[str, float]:
        """The text's own values of the absolute (non-distance) metrics."""
        return {
            "words": self.words,
            "dialogue_share": self.dialogue.share,
            "action_verbs_per_1000": self.pacing.action_verbs_per_1000,
            "transitions_per_1000": self.pacing.transitions_per_1000,
            "mean_sentence_length": _mean(self.sentence_lengths),
            "mean_paragraph_length": _mean(self.paragraph_lengths),
        }


@dataclass
class StyleMetrics:
    words: int
    vocabulary_match: float
    sentence_length_distance: float
    paragraph_length_distance: float
    dialogue_share: float
    dialogue_distance: float
    attribution_distance: float
    action_verbs_per_1000: float
    transitions_per_1000: float
    pacing_distance: float
    function_word_delta: float
    char_ngram_delta: float
    mean_sentence_length: float
    mean_paragraph_length: float
    top_attributions: list[tuple[str, int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _mean(values: list[int]) -> float:
    return float(np.mean(values)) if values else float("nan")


def build_profile(passage: str) -> TextProfile:
    return TextProfile(
        words=len(text.words(passage)),
        function_word_z=stylometry.function_word_z(passage),
        char_ngram_z=stylometry.char_ngram_z(passage),
        terms=vocabulary.characteristic_terms(passage),
        window_vocabularies=vocabulary.window_vocabularies(passage),
        sentence_lengths=text.sentence_lengths(passage),
        paragraph_lengths=text.paragraph_lengths(passage),
        dialogue=dialogue.dialogue_profile(passage),
        pacing=pacing.pacing(passage),
    )


def compare(candidate: TextProfile, reference: TextProfile) -> StyleMetrics:
    summary = candidate.summary()
    return StyleMetrics(
        words=candidate.words,
        vocabulary_match=vocabulary.vocabulary_match(
            candidate.window_vocabularies, reference.terms
        ),
        sentence_length_distance=lengths.relative_wasserstein(
            candidate.sentence_lengths, reference.sentence_lengths
        ),
        paragraph_length_distance=lengths.relative_wasserstein(
            candidate.paragraph_lengths, reference.paragraph_lengths
        ),
        dialogue_share=candidate.dialogue.share,
        dialogue_distance=dialogue.dialogue_distance(candidate.dialogue, reference.dialogue),
        attribution_distance=dialogue.attribution_distance(candidate.dialogue, reference.dialogue),
        action_verbs_per_1000=candidate.pacing.action_verbs_per_1000,
        transitions_per_1000=candidate.pacing.transitions_per_1000,
        pacing_distance=pacing.pacing_distance(candidate.pacing, reference.pacing),
        function_word_delta=stylometry.cosine_delta(
            candidate.function_word_z, reference.function_word_z
        ),
        char_ngram_delta=stylometry.cosine_delta(candidate.char_ngram_z, reference.char_ngram_z),
        mean_sentence_length=summary["mean_sentence_length"],
        mean_paragraph_length=summary["mean_paragraph_length"],
        top_attributions=candidate.dialogue.attributions.most_common(10),
    )
