"""Throughput and peak memory of the built-in runner (`python -m training train`) on the 8B shape.

    python scripts/bench_runner.py --mode qlora --steps 12 --skip-steps 2 --base /tmp/llama8b \
        --out scripts/results/qlora-h100-runner-qlora-levers.json
    python scripts/bench_runner.py --mode qlora --steps 6 --skip-steps 2 --base /tmp/llama8b \
        --code /tmp/baseline-checkout      # the same, with another commit's training package

No weights can be downloaded, so this writes a random-weight Llama-3.1-8B-shaped bf16
checkpoint (about 15 GiB; kept in --base for the next run, else a temporary folder) with the
SmolLM2 tokenizer beside it (its ids fit the larger vocabulary), prepares the repo's sample
prose with the recipe's passage lengths, and runs the runner as it is for --steps optimizer
steps of the recipe (micro batch 4, accumulation 4; on CUDA the runner's `loregate.speed`
levers are on by default). The runner counts non-padding tokens; the steady rate leaves the
first --skip-steps out (compilation and the checkpointing probe happen in step 1).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_setup import LLAMA_31_8B, REPO, environment, parameter_count, random_base, write_json

TOKENIZER_DIR = REPO / "models/SmolLM2-135M-Instruct"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
H100_BF16_PEAK = 790e12  # FLOP/s, measured dense bf16 matmul on this workplace's H100


def write_base(target: Path, seed: int, tokenizer: Path) -> None:
    import torch

    if (target / "config.json").is_file():
        print(f"bench: reusing the base in {target}")
        return
    model = random_base(dict(LLAMA_31_8B), "cuda", seed)
    tmp = target.with_name(target.name + ".tmp")
    model.save_pretrained(tmp)
    del model
    torch.cuda.empty_cache()
    for name in TOKENIZER_FILES:
        if (tokenizer / name).exists():
            shutil.copy2(tokenizer / name, tmp / name)
    tmp.replace(target)


def write_config(
    work: Path,
    mode: str,
    steps: int,
    base: Path,
    memory_budget_gib: float | None = None,
    eval_steps: int | None = None,
) -> Path:
    import yaml

    config: dict[str, Any] = {
        "extends": str(REPO / "configs/qlora_style_transfer.yaml"),
        "base_model": str(base),
        "datasets": [
            {
                "path": str(work / "prepared/training.jsonl"),
                "ds_type": "json",
                "type": "chat_template",
                "field_messages": "messages",
                "roles_to_train": ["assistant"],
                "train_on_eos": "turn",
            }
        ],
        "test_datasets": [],
        "output_dir": str(work / "runs"),
        "max_steps": steps,
        "logging_steps": 1,
        "eval_steps": 1000,
        "save_steps": 1000,
        "special_tokens": {"pad_token": "<|endoftext|>"},
        "loregate": {"backend": "peft", "prepare": {"output": str(work / "prepared")}},
    }
    if mode == "lora":
        config |= {"load_in_4bit": False, "bnb_config_kwargs": None, "adapter": "lora"}
    if eval_steps:  # the validation split, at step 0, every eval_steps and at the end
        config["test_datasets"] = [
            dict(config["datasets"][0], path=str(work / "prepared/validation.jsonl"))
        ]
        config["eval_steps"] = eval_steps
    if memory_budget_gib is not None:
        config["loregate"]["speed"] = {"memory_budget_gib": memory_budget_gib}
    path = work / f"{mode}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def steady_rate(metrics: list[dict[str, Any]], skip: int = 1) -> float:
    """Tokens/s from the end of step `skip` to the last (the runner logs cumulative rates)."""
    first, last = metrics[skip - 1], metrics[-1]
    tokens = last["tokens_per_s"] * last["seconds"] - first["tokens_per_s"] * first["seconds"]
    return tokens / (last["seconds"] - first["seconds"])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=("qlora", "lora"), default="qlora")
    p.add_argument("--steps", type=int, default=6, help="optimizer steps")
    p.add_argument("--skip-steps", type=int, default=1, help="steps left out of the steady rate")
    p.add_argument("--workdir", type=Path, help="room for the run (default: /tmp)")
    p.add_argument("--base", type=Path, help="keep the 15 GiB base here and reuse it if present")
    p.add_argument("--tokenizer", type=Path, default=TOKENIZER_DIR, help="tokenizer folder")
    p.add_argument("--code", type=Path, help="import `training` from this checkout (a baseline)")
    p.add_argument("--memory-budget-gib", type=float, help="loregate.speed.memory_budget_gib")
    p.add_argument(
        "--eval-steps", type=int, help="evaluate on the validation split (its time counts)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    if args.code:
        sys.path.insert(0, str(args.code.resolve()))
    import torch

    from training.cli import main as training_main

    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: the 8B runner benchmark needs a GPU")
    if args.steps < args.skip_steps + 2:
        raise SystemExit("--steps must leave at least 2 steps after --skip-steps for the rate")
    if not (args.tokenizer / "tokenizer.json").exists():
        raise SystemExit(f"{args.tokenizer} has no tokenizer: run `make model` first")
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        base = args.base or work / "base"
        write_base(base, args.seed, args.tokenizer)
        config = write_config(
            work, args.mode, args.steps, base, args.memory_budget_gib, args.eval_steps
        )
        for step in ("prepare", "train"):
            torch.cuda.reset_peak_memory_stats()
            if training_main([step, "--config", str(config)]):
                raise SystemExit(f"training {step} failed; see its message above")
        run = next((work / "runs").glob("run-*"))
        lines = (run / "metrics.jsonl").read_text().splitlines()
        records = list(map(json.loads, lines))
        metrics = [m for m in records if "loss" in m]
        evals = [m for m in records if "eval_loss" in m]
        summary = json.loads((run / "summary.json").read_text())
    import training

    rate = steady_rate(metrics, args.skip_steps)
    # the runner resets the peak counter while it plans checkpointing; it reports the max itself
    peak = max(torch.cuda.max_memory_allocated() / 2**30, summary.get("peak_gib", 0.0))
    result = {
        "mode": args.mode,
        "code": str(Path(training.__file__).resolve().parent),
        "steady_tokens_per_s": rate,
        "steady_from_step": args.skip_steps,
        "first_step_s": metrics[0]["seconds"],
        "mfu_4n": rate * 4 * parameter_count(LLAMA_31_8B) / H100_BF16_PEAK,
        "peak_gib": peak,
        "peak_reserved_gib": torch.cuda.max_memory_reserved() / 2**30,
        "summary": summary,
        "metrics": metrics,
        "evals": evals,
        "data": "the repo's sample prose (training/data/raw), passages of 500..2000 tokens",
    }
    print(
        f"runner {args.mode}: {rate:.0f} tok/s steady (after step {args.skip_steps}), "
        f"MFU(4N) {result['mfu_4n']:.1%}, peak {peak:.1f} GiB, step 1 "
        f"{result['first_step_s']:.0f}s, {summary['examples']} examples, "
        f"levers {summary.get('levers')}, unchecked layers {summary.get('unchecked_layers')}, "
        f"eval losses {[round(e['eval_loss'], 4) for e in evals]}"
    )
    if args.out:
        write_json(
            args.out,
            {
                "environment": environment("cuda"),
                "result": result,
                "command": " ".join(["python", "scripts/bench_runner.py", *(argv or sys.argv[1:])]),
            },
        )


if __name__ == "__main__":
    main()
