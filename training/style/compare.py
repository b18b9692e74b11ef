"""Side by side: two evaluation JSONs, their deltas, and which model is closer to the author."""

import math
from dataclasses import dataclass

HIGHER = "higher"  # closer to the author when higher
LOWER = "lower"  # closer when lower
AUTHOR = "author"  # closer when nearer the author's own value

ROWS: tuple[tuple[str, str, str], ...] = (
    ("overall score (0-100)", "overall_score", HIGHER),
    ("Cosine Delta, function words", "metrics.function_word_delta", LOWER),
    ("Cosine Delta, char 3-grams", "metrics.char_ngram_delta", LOWER),
    ("vocabulary match", "metrics.vocabulary_match", HIGHER),
    ("sentence length W1 (rel.)", "metrics.sentence_length_distance", LOWER),
    ("paragraph length W1 (rel.)", "metrics.paragraph_length_distance", LOWER),
    ("dialogue distance", "metrics.dialogue_distance", LOWER),
    ("attribution distance", "metrics.attribution_distance", LOWER),
    ("pacing distance", "metrics.pacing_distance", LOWER),
    ("dialogue share", "metrics.dialogue_share", AUTHOR),
    ("mean sentence length", "metrics.mean_sentence_length", AUTHOR),
    ("mean paragraph length", "metrics.mean_paragraph_length", AUTHOR),
    ("action verbs / 1000 words", "metrics.action_verbs_per_1000", AUTHOR),
    ("transitions / 1000 words", "metrics.transitions_per_1000", AUTHOR),
    ("held-out perplexity", "perplexity.perplexity", LOWER),
    ("copy rate (8-grams)", "copy_rate_8gram", LOWER),
)
_AUTHOR_KEYS = {
    "metrics.dialogue_share": "dialogue_share",
    "metrics.mean_sentence_length": "mean_sentence_length",
    "metrics.mean_paragraph_length": "mean_paragraph_length",
    "metrics.action_verbs_per_1000": "action_verbs_per_1000",
    "metrics.transitions_per_1000": "transitions_per_1000",
}


def lookup(run: dict, dotted: str) -> float | None:
    value: object = run
    for key in dotted.split("."):
        if not isinstance(value, dict) or value.get(key) is None:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True)
class Row:
    label: str
    a: float | None
    b: float | None
    author: float | None
    closer: str  # "A", "B", "tie" or "-"


def _closer(a: float | None, b: float | None, author: float | None, rule: str) -> str:
    if a is None or b is None or math.isnan(a) or math.isnan(b):
        return "-"
    if rule == AUTHOR:
        if author is None:
            return "-"
        a, b = -abs(a - author), -abs(b - author)
    elif rule == LOWER:
        a, b = -a, -b
    return "tie" if a == b else ("A" if a > b else "B")


def rows(a: dict, b: dict) -> list[Row]:
    found = []
    for label, key, rule in ROWS:
        # The author's column: their profile's own value for plain quantities, and for
        # distances what their held-out passages scored (the ceiling).
        if key in _AUTHOR_KEYS:
            author = lookup(a, f"reference.{_AUTHOR_KEYS[key]}")
        else:
            author = lookup(a, f"author_ceiling.{key}")
        va, vb = lookup(a, key), lookup(b, key)
        found.append(Row(label, va, vb, author, _closer(va, vb, author, rule)))
    return found


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def table(a: dict, b: dict) -> str:
    name_a, name_b = a.get("model", "A"), b.get("model", "B")
    lines = [
        f"A = {name_a}   B = {name_b}",
        f"{'metric':<30}{'A':>10}{'B':>10}{'B - A':>10}{'author':>10}  closer",
    ]
    for r in rows(a, b):
        delta = None if r.a is None or r.b is None else r.b - r.a
        lines.append(
            f"{r.label:<30}{_fmt(r.a):>10}{_fmt(r.b):>10}{_fmt(delta):>10}{_fmt(r.author):>10}"
            f"  {r.closer}"
        )
    lines.append(verdict(a, b))
    return "\n".join(lines)


def verdict(a: dict, b: dict) -> str:
    by_label = {r.label: r for r in rows(a, b)}
    overall = by_label["overall score (0-100)"]
    delta = by_label["Cosine Delta, function words"]
    names = {"A": a.get("model", "A"), "B": b.get("model", "B")}
    if overall.closer not in names:
        return "overall: no difference between the two models"
    winner = names[overall.closer]
    agrees = "agrees" if delta.closer == overall.closer else "disagrees"
    return (
        f"closer to the author: {winner} (overall {_fmt(overall.a)} vs {_fmt(overall.b)}; "
        f"Cosine Delta {agrees}: {_fmt(delta.a)} vs {_fmt(delta.b)})"
    )
