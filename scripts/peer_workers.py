"""The workers of `scripts/bench_peers.py`: one run each, in its own subprocess, alone on the card.

`worker_runner` runs the built-in runner as `python -m training train` does (with hooks that
only observe: training-only peaks, the token ids it trained on, an optional dropout reseed);
`worker_peer` trains Unsloth or plain transformers + peft on the saved micro-batches with the
runner's schedule, clipping and step loss. Both return per-step tokens, seconds and loss.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from bench_runner import steady_rate
from bench_setup import LLAMA_31_8B, RECIPE, parameter_count

PEAK_FLOPS = 790e12  # dense bf16 matmul measured on this workplace's H100 and H200


def summarise(name: str, steps: list[dict[str, Any]], skip: int) -> dict[str, Any]:
    timed = steps[skip:]
    rate = sum(s["tokens"] for s in timed) / sum(s["seconds"] for s in timed)
    return {
        "run": name,
        "tokens_per_s": round(rate, 1),
        "mfu_4n": round(rate * 4 * parameter_count(LLAMA_31_8B) / PEAK_FLOPS, 4),
        "loss_first": steps[0]["loss"],
        "loss_last": steps[-1]["loss"],
        "first_step_s": round(steps[0]["seconds"], 2),
        "steps": steps,
    }


def worker_runner(args: argparse.Namespace, options: dict[str, Any]) -> dict[str, Any]:
    import torch
    import yaml

    from training import runner
    from training.cli import main as training_main

    peaks, reset = _track_peaks()
    seed = options.pop("dropout_seed", None)
    config = yaml.safe_load(args.config.read_text())
    config["loregate"]["speed"] = config["loregate"].get("speed", {}) | options
    config["output_dir"] = str(args.work / f"runs-{args.name}")
    path = args.work / f"{args.name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    set_up, finish, inputs = runner._set_up, runner._finish, runner.model_inputs
    seen: list[int] = []

    def set_up_then_reset(*a: Any, **k: Any) -> Any:
        run = set_up(*a, **k)
        if seed is not None:  # same init and data; only the dropout masks change
            torch.manual_seed(seed)
        reset()  # the peaks of training only, not of loading
        return run

    def finish_after_peaks(run: Any) -> Any:
        peaks.update(_peaks(peaks))
        return finish(run)

    def inputs_seen(*a: Any, **k: Any) -> Any:
        out = inputs(*a, **k)
        seen.append(int(out[0]["input_ids"].sum()))
        return out

    runner._set_up, runner._finish, runner.model_inputs = (
        set_up_then_reset,
        finish_after_peaks,
        inputs_seen,
    )
    if training_main(["train", "--config", str(path)]):
        raise SystemExit("the runner failed; see above")
    run_dir = next((args.work / f"runs-{args.name}").glob("run-*"))
    metrics = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    metrics = [m for m in metrics if "loss" in m]
    summary = json.loads((run_dir / "summary.json").read_text())
    steps, last_tokens, last_s = [], 0.0, 0.0
    for m in metrics:  # the runner logs cumulative rates; per-step tokens and seconds from them
        tokens = m["tokens_per_s"] * m["seconds"]
        steps.append(
            {"tokens": tokens - last_tokens, "seconds": m["seconds"] - last_s, "loss": m["loss"]}
        )
        last_tokens, last_s = tokens, m["seconds"]
    expected = [int(mb["input_ids"].sum()) for s in torch.load(args.batches) for mb in s]
    result = summarise(args.name, steps, args.skip_steps)
    result["tokens_per_s_runner"] = round(steady_rate(metrics, args.skip_steps), 1)
    result |= peaks | {
        "same_tokens": seen == expected,
        "speed": config["loregate"]["speed"],
        "levers": summary.get("levers"),
        "unchecked_layers": summary.get("unchecked_layers"),
    }
    return result


def _peaks(previous: dict[str, float]) -> dict[str, float]:
    import torch

    return {
        "peak_allocated_gib": max(
            previous["peak_allocated_gib"], torch.cuda.max_memory_allocated() / 2**30
        ),
        "peak_reserved_gib": max(
            previous["peak_reserved_gib"], torch.cuda.max_memory_reserved() / 2**30
        ),
    }


def _track_peaks() -> tuple[dict[str, float], Any]:
    """Peaks survive the runner's own resets (its checkpointing planner resets the counter);
    returns them and the untracked reset."""
    import torch

    peaks = {"peak_allocated_gib": 0.0, "peak_reserved_gib": 0.0}
    reset = torch.cuda.reset_peak_memory_stats

    def keep_then_reset(device: Any = None) -> None:
        peaks.update(_peaks(peaks))
        reset(device)

    torch.cuda.reset_peak_memory_stats = keep_then_reset
    return peaks, reset


def build_unsloth(args: argparse.Namespace) -> Any:
    import torch
    from unsloth import FastLanguageModel

    model, _ = FastLanguageModel.from_pretrained(
        model_name=str(args.base),
        max_seq_length=RECIPE["sequence_len"],
        dtype=torch.bfloat16,
        load_in_4bit=args.mode == "qlora",
    )
    return FastLanguageModel.get_peft_model(
        model,
        r=RECIPE["lora_r"],
        lora_alpha=RECIPE["lora_alpha"],
        lora_dropout=RECIPE["lora_dropout"],
        target_modules=list(RECIPE["lora_target_modules"]),
        bias="none",
        use_gradient_checkpointing="unsloth",
        random_state=args.seed,
        max_seq_length=RECIPE["sequence_len"],
    )


def build_peft(args: argparse.Namespace) -> Any:
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    kwargs: dict[str, Any] = {"dtype": torch.bfloat16, "attn_implementation": "sdpa"}
    checkpointing = {"use_reentrant": False}
    if args.mode == "qlora":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        model = AutoModelForCausalLM.from_pretrained(str(args.base), **kwargs)
        model = prepare_model_for_kbit_training(model, True, checkpointing)
    else:
        model = AutoModelForCausalLM.from_pretrained(str(args.base), **kwargs).to("cuda")
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=checkpointing)
    model.config.use_cache = False
    lora = LoraConfig(
        r=RECIPE["lora_r"],
        lora_alpha=RECIPE["lora_alpha"],
        lora_dropout=RECIPE["lora_dropout"],
        target_modules=list(RECIPE["lora_target_modules"]),
        task_type="CAUSAL_LM",
    )
    torch.manual_seed(args.seed)
    return get_peft_model(model, lora)


def worker_peer(args: argparse.Namespace, kind: str) -> dict[str, Any]:
    if kind == "unsloth":
        import unsloth  # noqa: F401  (first, so it can patch transformers and peft)
    import bitsandbytes as bnb
    import torch

    from training.config import load_config
    from training.runner import get_lr

    model = build_unsloth(args) if kind == "unsloth" else build_peft(args)
    model.train()
    cfg = load_config(args.config)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = bnb.optim.PagedAdamW8bit(
        params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay
    )
    batches = torch.load(args.batches)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()  # the peaks of training only, not of loading
    peaks, _ = _track_peaks()
    steps = []
    for step, micro in enumerate(batches):
        began = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = get_lr(step, len(batches), cfg)
        counts = [int((mb["labels"][:, 1:] != -100).sum()) for mb in micro]
        step_loss = 0.0
        for mb, count in zip(micro, counts, strict=True):
            ids, labels = mb["input_ids"].cuda(), mb["labels"].cuda()
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = model(input_ids=ids, labels=labels).loss * (count / sum(counts))
            loss.backward()  # each micro-batch adds its share of the step's mean
            step_loss += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        steps.append(
            {
                "tokens": sum(mb["n"] for mb in micro),
                "seconds": time.perf_counter() - began,
                "loss": step_loss,
            }
        )
        print(
            f"{args.name} step {step + 1}: loss {step_loss:.4f}, {steps[-1]['seconds']:.1f}s",
            flush=True,
        )
    peaks.update(_peaks(peaks))
    return summarise(args.name, steps, args.skip_steps) | peaks
