"""The loregate runner against Unsloth and plain transformers + peft: one workload, one card.

    python scripts/bench_peers.py --mode qlora --steps 10 --skip-steps 4 --base /tmp/llama8b \
        --runs unsloth,runner,runner:memory_budget_gib=match,peft --out peers-qlora.json

One process tree: this parent never touches CUDA; each run is a subprocess of this script
(`--worker`), alone on the card, so peaks are its own. The workload is the runner's: a
random-weight Llama-3.1-8B-shaped bf16 base (written once, `bench_runner.write_base`), the
repo's sample prose prepared with the recipe, and the exact micro-batches the runner trains on
(packed 2,048-token rows, micro batch 4, accumulation 4, seeded order), saved once and fed to
the peers as the same token ids and labels. Every run uses the recipe (r 64, alpha 128,
dropout 0.05, seven projections), paged AdamW 8-bit, the runner's learning-rate schedule,
gradient clipping and the step's mean loss over its trained tokens.

Runs: `runner` (the built-in runner as `python -m training train` runs it; `runner:k=v;k=v`
sets `loregate.speed` keys, `memory_budget_gib=match` = 1.1x the Unsloth run's peak, and
`dropout_seed=N` reseeds after set-up so only dropout masks change: the noise yardstick),
`unsloth` (FastLanguageModel, gradient checkpointing "unsloth") and `peft` (transformers +
peft + bitsandbytes as their docs show: prepare_model_for_kbit_training, SDPA). The peers see
each packed row as one causal sequence (their default); the runner keeps examples apart.
tokens/s counts non-padding tokens after --skip-steps; MFU = 4N FLOPs per token.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_runner import TOKENIZER_DIR, write_base, write_config
from bench_setup import environment, write_json

MATCH = 1.1  # memory_budget_gib=match: this times Unsloth's peak


def parse_run(spec: str) -> tuple[str, dict[str, Any]]:
    """`runner:offload_checkpoints=true;ce_chunk_size=1024` -> ("runner", {...})."""
    kind, _, rest = spec.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(";")):
        key, _, value = item.partition("=")
        options[key] = value if value == "match" else json.loads(value)
    if kind not in ("runner", "unsloth", "peft"):
        raise SystemExit(f"unknown run {spec!r}: runner[:k=v;...], unsloth or peft")
    return kind, options


def step_batches(config: Path) -> list[list[dict[str, Any]]]:
    """The micro-batches of each optimizer step, as the runner's `_train_step` slices them."""
    from training.chatdata import collate_rows, load_tokenizer, read_examples
    from training.config import load_config
    from training.levers import epoch_batches, resolve_levers

    cfg = load_config(config)
    tokenizer = load_tokenizer(cfg.base_model_path, cfg.special_tokens.pad_token)
    train_set, _ = read_examples(cfg.train_file, tokenizer, cfg.sequence_len)
    levers = resolve_levers(cfg, cuda=True)
    accum = cfg.gradient_accumulation_steps
    per_epoch = max(1, math.ceil(len(epoch_batches(train_set, cfg, levers, cfg.seed)) / accum))
    steps = []
    for step in range(cfg.max_steps):
        epoch, within = divmod(step, per_epoch)
        batches = epoch_batches(train_set, cfg, levers, cfg.seed + epoch)
        micro = []
        for rows in batches[within * accum : (within + 1) * accum]:
            packed = collate_rows(rows, cfg.sequence_len, tokenizer.pad_token_id)
            micro.append(
                {"input_ids": packed.input_ids, "labels": packed.labels, "n": packed.n_tokens}
            )
        steps.append(micro)
    return steps


def worker(args: argparse.Namespace) -> None:
    if args.worker == "base":
        write_base(args.base, args.seed, args.tokenizer)
        return
    from peer_workers import worker_peer, worker_runner

    kind, options = parse_run(args.run)
    result = worker_runner(args, options) if kind == "runner" else worker_peer(args, kind)
    write_json(args.work / f"{args.name}.json", result | {"environment": environment("cuda")})


# ---------------------------------------------------------------- the parent


def run_worker(args: argparse.Namespace, extra: list[str], log: Path) -> int:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        *extra,
        "--base",
        str(args.base),
        "--mode",
        args.mode,
        "--seed",
        str(args.seed),
        "--skip-steps",
        str(args.skip_steps),
        "--tokenizer",
        str(args.tokenizer),
    ]
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            return proc.wait(timeout=args.run_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return -9


def run_all(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    import torch

    from training.cli import main as training_main

    if run_worker(args, ["--worker", "base"], work / "base.log"):
        raise SystemExit((work / "base.log").read_text()[-3000:])
    config = write_config(work, args.mode, args.steps, args.base)
    if training_main(["prepare", "--config", str(config)]):
        raise SystemExit("prepare failed")
    torch.save(step_batches(config), work / "batches.pt")
    results: list[dict[str, Any]] = []
    for i, spec in enumerate(args.runs.split(",")):
        unsloth = next((r for r in results if r["spec"] == "unsloth" and "error" not in r), None)
        if "=match" in spec:
            if unsloth is None:
                results.append({"spec": spec, "error": "needs an Unsloth run before it"})
                continue
            budget = round(MATCH * unsloth["peak_allocated_gib"] * 0.97, 2)
            spec = spec.replace("=match", f"={budget}")
        name = f"{i}-{spec.split(':')[0]}"
        log = work / f"{name}.log"
        began = time.perf_counter()
        code = run_worker(
            args,
            [
                "--worker",
                "run",
                "--run",
                spec,
                "--name",
                name,
                "--work",
                str(work),
                "--config",
                str(config),
                "--batches",
                str(work / "batches.pt"),
            ],
            log,
        )
        out = work / f"{name}.json"
        result = (
            json.loads(out.read_text())
            if code == 0 and out.exists()
            else {"run": name, "error": f"exit {code}", "log_tail": log.read_text()[-4000:]}
        )
        result |= {"spec": spec, "wall_s": round(time.perf_counter() - began, 1)}
        results.append(result)
        print(row(result), flush=True)
    return results


def row(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"| {r['spec']} | failed: {r['error']} |"
    return (
        f"| {r['spec']} | {r['tokens_per_s']:,.0f} | {r['peak_allocated_gib']:.1f} | "
        f"{r['peak_reserved_gib']:.1f} | {r['mfu_4n']:.1%} | {r['loss_first']:.4f} | "
        f"{r['loss_last']:.4f} |"
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=("qlora", "lora"), default="qlora")
    p.add_argument("--runs", default="unsloth,runner,runner:memory_budget_gib=match,peft")
    p.add_argument("--steps", type=int, default=10, help="optimizer steps")
    p.add_argument("--skip-steps", type=int, default=4, help="steps left out of tokens/s")
    p.add_argument("--base", type=Path, default=Path("/tmp/llama8b"), help="kept for reuse")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/peers"))
    p.add_argument("--tokenizer", type=Path, default=TOKENIZER_DIR)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run-timeout", type=float, default=420.0, help="seconds for one run")
    p.add_argument("--out", type=Path)
    p.add_argument("--worker", choices=("base", "run"), help=argparse.SUPPRESS)
    for hidden in ("--run", "--name", "--work", "--config", "--batches"):
        p.add_argument(hidden, help=argparse.SUPPRESS, type=Path if hidden != "--run" else str)
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if args.worker:
        args.name = str(args.name)
        worker(args)
        return
    work = args.workdir / args.mode
    work.mkdir(parents=True, exist_ok=True)
    results = run_all(args, work)
    print(
        f"\n{args.mode}, {args.steps} steps, tokens/s after step {args.skip_steps}\n"
        "| run | tokens/s | peak alloc GiB | peak reserved GiB | MFU (4N) | loss step 1 | "
        "loss last |\n|---|---|---|---|---|---|---|"
    )
    print("\n".join(row(r) for r in results))
    if args.out:
        command = " ".join(["python", "scripts/bench_peers.py", *(argv or sys.argv[1:])])
        write_json(
            args.out,
            {
                "command": command,
                "mode": args.mode,
                "steps": args.steps,
                "skip_steps": args.skip_steps,
                "results": results,
            },
        )


if __name__ == "__main__":
    main()
