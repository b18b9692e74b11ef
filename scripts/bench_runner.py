"""Throughput and peak memory of the built-in runner (`python -m training train`) on the 8B shape.

    python scripts/bench_runner.py --mode qlora --steps 6 \
        --out scripts/results/qlora-h100-runner-qlora.json

No weights can be downloaded, so this writes a random-weight Llama-3.1-8B-shaped bf16
checkpoint (about 15 GiB, under --workdir) with the SmolLM2 tokenizer from models/ beside it
(its ids fit the larger vocabulary), prepares the repo's sample prose with the recipe's passage
lengths, and runs the runner as it is for --steps optimizer steps of the recipe (micro batch 4,
accumulation 4). The runner counts non-padding tokens; the steady rate leaves step 1 out.
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

from bench_setup import LLAMA_31_8B, REPO, environment, random_base, write_json

TOKENIZER_DIR = REPO / "models/SmolLM2-135M-Instruct"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def write_base(target: Path, seed: int) -> None:
    import torch

    model = random_base(dict(LLAMA_31_8B), "cuda", seed)
    model.save_pretrained(target)
    del model
    torch.cuda.empty_cache()
    for name in TOKENIZER_FILES:
        if (TOKENIZER_DIR / name).exists():
            shutil.copy2(TOKENIZER_DIR / name, target / name)


def write_config(work: Path, mode: str, steps: int) -> Path:
    import yaml

    config: dict[str, Any] = {
        "extends": str(REPO / "configs/qlora_style_transfer.yaml"),
        "base_model": str(work / "base"),
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
    path = work / f"{mode}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def steady_rate(metrics: list[dict[str, Any]]) -> float:
    """Tokens/s from the end of step 1 to the last step (the runner logs cumulative rates)."""
    first, last = metrics[0], metrics[-1]
    tokens = last["tokens_per_s"] * last["seconds"] - first["tokens_per_s"] * first["seconds"]
    return tokens / (last["seconds"] - first["seconds"])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=("qlora", "lora"), default="qlora")
    p.add_argument("--steps", type=int, default=6, help="optimizer steps (at least 3)")
    p.add_argument("--workdir", type=Path, help="room for the 15 GiB checkpoint (default: /tmp)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    import torch

    from training.cli import main as training_main

    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: the 8B runner benchmark needs a GPU")
    if args.steps < 3:
        raise SystemExit("--steps must be at least 3 (step 1 is left out of the rate)")
    if not (TOKENIZER_DIR / "tokenizer.json").exists():
        raise SystemExit(f"{TOKENIZER_DIR} has no tokenizer: run `make model` first")
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        write_base(work / "base", args.seed)
        config = write_config(work, args.mode, args.steps)
        for step in ("prepare", "train"):
            torch.cuda.reset_peak_memory_stats()
            if training_main([step, "--config", str(config)]):
                raise SystemExit(f"training {step} failed; see its message above")
        run = next((work / "runs").glob("run-*"))
        lines = (run / "metrics.jsonl").read_text().splitlines()
        metrics = [m for m in map(json.loads, lines) if "loss" in m]
        summary = json.loads((run / "summary.json").read_text())
    result = {
        "mode": args.mode,
        "steady_tokens_per_s": steady_rate(metrics),
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
        "peak_reserved_gib": torch.cuda.max_memory_reserved() / 2**30,
        "summary": summary,
        "metrics": metrics,
        "data": "the repo's sample prose (training/data/raw), passages of 500..2000 tokens",
    }
    print(
        f"runner {args.mode}: {result['steady_tokens_per_s']:.0f} tok/s steady, "
        f"peak {result['peak_gib']:.1f} GiB, {summary['examples']} examples"
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
