"""Benchmark `python -m training prepare` on a 1,000,000-word corpus (goal: ≤ 30 s on 2 cores).

The corpus is the sample prose (`training/data/raw/`) repeated with variations so dedupe
does not collapse it: each copy shuffles sentences inside paragraphs and swaps ~15% of
the words for other corpus words (so 5-word shingles differ), keeping chapter headings
and scene breaks. Corpus generation is not timed. The whole step is timed twice, then
each stage once on its own (read+clean, structure+chunk, dedupe, style+prompts) so the
cost of each is visible. Results: scripts/results/prepare-<date>.json.

    .venv/bin/python scripts/bench_prepare.py [--words 1000000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_results import save_results  # noqa: E402
from training.artifacts import versions  # noqa: E402
from training.chunking import chunk_scenes, split_sentences, split_structure  # noqa: E402
from training.config import load_config  # noqa: E402
from training.dedupe import dedupe  # noqa: E402
from training.prepare import prepare, token_counter  # noqa: E402
from training.prompts import scene_request  # noqa: E402
from training.sources import read_sources  # noqa: E402
from training.voice import analyse, system_prompt  # noqa: E402

SEED = 1234


def vary(text: str, rng: random.Random, vocabulary: list[str]) -> str:
    lines = []
    for block in text.split("\n\n"):
        if block.startswith("#") or block.strip() in ("***", "* * *"):
            lines.append(block)
            continue
        sentences = split_sentences(block)
        rng.shuffle(sentences)
        words = " ".join(sentences).split(" ")
        words = [rng.choice(vocabulary) if rng.random() < 0.15 else w for w in words]
        lines.append(" ".join(words))
    return "\n\n".join(lines)


def build_corpus(target_words: int, folder: Path) -> int:
    sources = sorted((ROOT / "training" / "data" / "raw").glob("chapter-*.md"))
    if not sources:
        sys.exit("bench_prepare: no sample chapters in training/data/raw/")
    texts = [p.read_text(encoding="utf-8") for p in sources]
    vocabulary = sorted({w for t in texts for w in re.findall(r"[a-z]{3,}", t)})
    rng = random.Random(SEED)
    written, copy = 0, 0
    while written < target_words:
        for i, text in enumerate(texts):
            varied = vary(text, rng, vocabulary)
            (folder / f"copy{copy:03d}-chapter{i:02d}.md").write_text(varied, encoding="utf-8")
            written += len(varied.split())
            if written >= target_words:
                break
        copy += 1
    return written


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--config", default="configs/train_embedded.yaml")
    args = parser.parse_args()
    random.seed(SEED)

    with tempfile.TemporaryDirectory() as tmp:
        raw, out = Path(tmp) / "raw", Path(tmp) / "prepared"
        raw.mkdir()
        words = build_corpus(args.words, raw)
        # the guide's defaults: 500..2000 tokens per passage, 90/10 split
        overrides = {
            "loregate": {
                "prepare": {
                    "input": str(raw),
                    "output": str(out),
                    "min_tokens": 500,
                    "max_tokens": 2000,
                    "split": 0.9,
                    "continuation_share": 0.2,
                }
            },
            "sequence_len": 4096,
        }
        cfg = load_config(args.config, overrides)
        totals = [timed(lambda: prepare(cfg))[1] for _ in range(args.repeats)]
        stats = json.loads((out / "stats.json").read_text())

        count = token_counter(cfg.base_model_path)
        read, t_read = timed(lambda: read_sources(raw))
        scenes, t_structure = timed(
            lambda: [s for src in read.sources for s in split_structure(src.text, src.relative)]
        )
        chunks, t_chunk = timed(lambda: chunk_scenes(scenes, count, 500, 2000))
        texts = [p.text for p in chunks.passages]
        _, t_dedupe = timed(lambda: dedupe(texts))
        _, t_style = timed(
            lambda: system_prompt(analyse([p for s in scenes for p in s.paragraphs]))
        )
        _, t_prompts = timed(lambda: [scene_request(t, i) for i, t in enumerate(texts)])

    result = {
        "benchmark": "prepare",
        "date": datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load_avg_1m_at_end": os.getloadavg()[0]},
        "versions": versions(),
        "settings": {
            "words": words,
            "min_tokens": 500,
            "max_tokens": 2000,
            "split": 0.9,
            "prompts": "heuristic",
            "continuation_share": 0.2,
            "seed": SEED,
            "base_model": cfg.base_model,
        },
        "results": {
            "seconds": [round(t, 2) for t in totals],
            "best_seconds": round(min(totals), 2),
            "words_per_second": round(words / min(totals)),
            "goal_seconds": 30,
            "meets_goal": min(totals) <= 30,
            "examples": stats["examples"],
            "dropped": stats["dropped"],
            "stage_seconds": {
                "read_clean": round(t_read, 2),
                "structure": round(t_structure, 2),
                "tokenize_chunk": round(t_chunk, 2),
                "dedupe": round(t_dedupe, 2),
                "style": round(t_style, 2),
                "prompts": round(t_prompts, 2),
            },
        },
    }
    path = save_results("prepare", result)
    print(json.dumps(result["results"], indent=2))
    print(f"bench_prepare: {words} words in {min(totals):.1f}s (goal ≤ 30s) → {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
