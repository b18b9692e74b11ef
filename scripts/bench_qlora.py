"""Throughput and peak memory of the LoRA/QLoRA recipe on a Llama-3.1-8B-shaped model.

    python scripts/bench_qlora.py --mode qlora --levers bf16,chunked_ce,varlen --steps 8 \
        --micro-batch 4 --out scripts/results/qlora-x.json

The model is built the way a transformers + peft runner builds it (bitsandbytes NF4 with double
quantisation and bf16 compute for QLoRA, peft LoRA on the recipe's modules, gradient
checkpointing, paged AdamW 8-bit, bf16 autocast), from a config, with random weights: no
download is possible and the cost is the same. Token ids are Zipf(1.2)-distributed over a random
permutation of the vocabulary; document lengths are uniform over the prepare step's
min_tokens..max_tokens. Documents are packed into rows of sequence_len.

Levers (comma separated; none = the plain runner):
  bf16        QLoRA: keep embeddings, norms and LM head in bf16 (skip peft's fp32 upcast)
  varlen      position ids restart per document; flash varlen attention per document
  blockmask   position ids restart per document; SDPA with transformers' block-diagonal mask
  chunked_ce  LM head + loss in chunks, gradients in the same pass (no full logits)
  selective   leave as many layers un-checkpointed as fit in --memory-budget-gib
  no_ckpt     no gradient checkpointing at all
  compile     torch.compile each decoder layer (regional)
  compile_eager4bit  the same, with bitsandbytes' 4-bit linears left eager (graph breaks)
  no_dropout  lora_dropout 0 (changes the recipe: less regularisation)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_setup import (
    LLAMA_31_8B,
    REPO,
    TINY,
    environment,
    load_recipe,
    make_documents,
    parameter_count,
    quantize_linears_nf4,
    random_base,
    write_json,
)

from training import speed

LEVERS = (
    "bf16",
    "varlen",
    "blockmask",
    "chunked_ce",
    "selective",
    "no_ckpt",
    "compile",
    "compile_eager4bit",
    "no_dropout",
)
H100_BF16_PEAK = 790e12  # FLOP/s, measured dense bf16 matmul on this workplace's H100


def make_batches(
    args: argparse.Namespace,
    recipe: dict[str, Any],
    vocab: int,
    seq_len: int,
    micro: int,
    reset: bool,
) -> list[speed.PackedBatch]:
    """Pack a whole data set (like a real epoch would) and draw the steps' rows from it.

    Packing only the few documents the timed steps need would leave far more padding
    than a real data set of --dataset-tokens does.
    """
    import random

    n_rows = (args.warmup + args.steps) * micro
    lengths = (min(recipe["min_tokens"], seq_len), min(recipe["max_tokens"], seq_len))
    pool = max(args.dataset_tokens, int(n_rows * seq_len * 1.3))
    rows = speed.pack_documents(make_documents(pool, vocab, lengths, args.seed), seq_len)
    random.Random(args.seed).shuffle(rows)
    if len(rows) < n_rows:
        raise SystemExit(f"only {len(rows)} packed rows for {n_rows}; raise --dataset-tokens")
    return [
        speed.collate_packed(rows[i : i + micro], seq_len, pad_id=0, reset_positions=reset)
        for i in range(0, n_rows, micro)
    ]


def build_model(args: argparse.Namespace, recipe: dict[str, Any], levers: set[str]) -> Any:
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    cfg = dict(LLAMA_31_8B) | (TINY if args.tiny else {})
    if args.layers:
        cfg["num_hidden_layers"] = args.layers
    attn = speed.register_varlen_attention() if "varlen" in levers else "sdpa"
    model = random_base(cfg, args.device, args.seed, attn)
    ckpt_kwargs = {"use_reentrant": False}
    if args.mode == "qlora":
        quantize_linears_nf4(model.model.layers, torch.bfloat16)
        model.is_loaded_in_4bit = True
        if "bf16" in levers:
            for param in model.parameters():
                param.requires_grad_(False)
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=ckpt_kwargs)
        else:
            prepare_model_for_kbit_training(model, True, ckpt_kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=ckpt_kwargs)
    if "no_ckpt" in levers or not recipe["gradient_checkpointing"]:
        model.gradient_checkpointing_disable()
    lora = LoraConfig(
        r=recipe["lora_r"],
        lora_alpha=recipe["lora_alpha"],
        lora_dropout=0.0 if "no_dropout" in levers else recipe["lora_dropout"],
        target_modules=list(recipe["lora_target_modules"]),
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    return model, cfg


def make_optimizer(params: list[Any], recipe: dict[str, Any]) -> Any:
    import torch

    if recipe["optimizer"] == "paged_adamw_8bit" and torch.cuda.is_available():
        import bitsandbytes as bnb

        return bnb.optim.PagedAdamW8bit(
            params, lr=recipe["learning_rate"], weight_decay=recipe["weight_decay"]
        )
    return torch.optim.AdamW(
        params, lr=recipe["learning_rate"], weight_decay=recipe["weight_decay"]
    )


def loss_of(model: Any, batch: speed.PackedBatch, levers: set[str], chunk: int) -> Any:
    import torch

    varlen = "varlen" in levers
    if "chunked_ce" not in levers:
        return model(**batch.model_inputs(varlen)).loss
    causal_lm = model.get_base_model()
    inputs = batch.model_inputs(varlen)
    labels = inputs.pop("labels")
    hidden = causal_lm.model(**inputs).last_hidden_state
    # bf16 like the autocast LM head it replaces (the fp32-upcast recipe hands over fp32)
    hidden = hidden.reshape(-1, hidden.shape[-1]).to(torch.bfloat16)
    targets = speed.shift_labels(labels).reshape(-1)
    return speed.chunked_linear_cross_entropy(hidden, causal_lm.lm_head.weight, targets, chunk)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    levers = {lever for lever in args.levers.split(",") if lever and lever != "none"}
    unknown = levers - set(LEVERS)
    if unknown:
        raise SystemExit(f"unknown lever(s) {sorted(unknown)}; choose from {', '.join(LEVERS)}")
    recipe, recipe_source = load_recipe(Path(args.recipe))
    seq_len = args.seq_len or (256 if args.tiny else recipe["sequence_len"])
    micro = args.micro_batch or recipe["micro_batch_size"]
    cuda = args.device == "cuda"
    if args.profile and not cuda:
        raise SystemExit("--profile reads CUDA kernel times; run it on a GPU")
    if "selective" in levers and not cuda:
        raise SystemExit("the selective lever plans from CUDA memory peaks; run it on a GPU")
    t0 = time.perf_counter()
    model, cfg = build_model(args, recipe, levers)
    layers = model.get_base_model().model.layers
    if levers & {"compile", "compile_eager4bit"}:
        torch._dynamo.config.cache_size_limit = 64
        eager: tuple[type, ...] = ()
        if "compile_eager4bit" in levers:
            import bitsandbytes as bnb

            eager = (bnb.nn.Linear4bit,)
        speed.compile_layers(layers, eager_types=eager)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(trainable, recipe)
    build_s = time.perf_counter() - t0

    n_steps = args.warmup + args.steps
    batches = make_batches(
        args,
        recipe,
        cfg["vocab_size"],
        seq_len,
        micro,
        reset=bool(levers & {"varlen", "blockmask"}),
    )
    batches = [b.to(args.device) for b in batches[:n_steps]]
    if levers & {"compile", "compile_eager4bit"}:
        for batch in batches:
            speed.mark_segments_dynamic(batch)

    model.train()
    unchecked = 0
    losses: list[Any] = []
    peaks: list[int] = []

    def step(batch: speed.PackedBatch) -> None:
        with torch.autocast(device_type=args.device, dtype=torch.bfloat16):
            loss = loss_of(model, batch, levers, args.ce_chunk)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.detach())

    probe = min(2, len(layers))
    for i in range(args.warmup):
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        if "selective" in levers and i == 1:
            speed.set_unchecked_layers(layers, probe)
        step(batches[i])
        if cuda:
            peaks.append(torch.cuda.max_memory_allocated())
        if "selective" in levers and i == 1:
            budget = int(args.memory_budget_gib * 2**30)
            unchecked = speed.plan_unchecked_layers(peaks[0], peaks[1], probe, budget, len(layers))
            speed.set_unchecked_layers(layers, unchecked)
        print(f"warm-up step {i + 1}/{args.warmup}: loss {losses[-1].item():.4f}", flush=True)

    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    graphs_before = _compiled_graphs()
    tokens = 0
    start = time.perf_counter()
    for batch in batches[args.warmup :]:
        step(batch)
        tokens += batch.n_tokens
    if cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    graphs_timed = _compiled_graphs() - graphs_before

    profile = profile_step(lambda: step(batches[-1])) if args.profile else None
    n_params = parameter_count(cfg)
    tok_s = tokens / elapsed
    checked = sum(bool(layer.gradient_checkpointing) for layer in layers) / len(layers)
    layer_params = n_params - 2 * cfg["vocab_size"] * cfg["hidden_size"]
    hw_flops_per_token = 4 * n_params + 2 * layer_params * checked
    result = {
        "mode": args.mode,
        "levers": sorted(levers),
        "micro_batch": micro,
        "sequence_len": seq_len,
        "steps_measured": args.steps,
        "warmup_steps": args.warmup,
        "tokens_measured": tokens,
        "padding_share": 1 - tokens / (args.steps * micro * seq_len),
        "seconds": elapsed,
        "tokens_per_s": tok_s,
        "step_s": elapsed / args.steps,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "peak_reserved_gib": torch.cuda.max_memory_reserved() / 2**30 if cuda else None,
        "warmup_peaks_gib": [p / 2**30 for p in peaks],
        "mfu_4n": tok_s * 4 * n_params / H100_BF16_PEAK,
        "hfu_with_recompute": tok_s * hw_flops_per_token / H100_BF16_PEAK,
        "unchecked_layers": sum(not layer.gradient_checkpointing for layer in layers),
        "params_n": n_params,
        "trainable_params": sum(p.numel() for p in trainable),
        "losses": [round(loss.item(), 4) for loss in losses],
        "lm_head_dtype": str(model.get_base_model().lm_head.weight.dtype),
        "lora_layer_type": type(layers[0].self_attn.q_proj).__module__,
        "compiled_graphs": _compiled_graphs(),
        "graphs_compiled_while_timed": graphs_timed,
        "build_s": build_s,
        "recipe_source": recipe_source,
        "recipe": recipe,
        "model_config": cfg,
        "profile_top_kernels": profile,
        "token_ids": "Zipf(1.2) ranks over a random vocabulary permutation (seeded)",
    }
    return result


def profile_step(step: Any, top: int = 30) -> list[dict[str, Any]]:
    """GPU time per kernel over one step, largest first (where the step's time goes)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        step()
    events = [e for e in prof.key_averages() if e.device_time_total > 0]
    events.sort(key=lambda e: e.device_time_total, reverse=True)
    total = sum(e.device_time_total for e in events)
    return [
        {
            "kernel": e.key[:120],
            "ms": e.device_time_total / 1e3,
            "calls": e.count,
            "share": e.device_time_total / total,
        }
        for e in events[:top]
    ]


def _compiled_graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=("qlora", "lora"), default="qlora")
    p.add_argument("--levers", default="none", help=f"comma list of: {', '.join(LEVERS)}")
    p.add_argument("--steps", type=int, default=8, help="measured steps")
    p.add_argument("--warmup", type=int, default=3, help="steps before timing (compile, probe)")
    p.add_argument("--micro-batch", type=int, default=0, help="rows per step (0: the recipe's)")
    p.add_argument("--seq-len", type=int, default=0, help="0: the recipe's sequence_len")
    p.add_argument("--layers", type=int, default=0, help="fewer decoder layers (smoke tests)")
    p.add_argument("--tiny", action="store_true", help="tiny model shape for CPU smoke tests")
    p.add_argument("--memory-budget-gib", type=float, default=23.5, help="for --levers selective")
    p.add_argument("--ce-chunk", type=int, default=2048, help="rows per chunk for chunked_ce")
    p.add_argument("--recipe", default=str(REPO / "configs/qlora_style_transfer.yaml"))
    p.add_argument("--device", default="cuda")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--dataset-tokens",
        type=int,
        default=1_300_000,
        help="size of the packed data set the rows come from (~1M words of prose)",
    )
    p.add_argument("--profile", action="store_true", help="kernel time table of one more step")
    p.add_argument("--out", type=Path, help="write the result JSON here")
    args = p.parse_args(argv)
    if args.warmup < (2 if "selective" in args.levers else 1):
        p.error("--warmup must be at least 1 (2 with selective: one step probes memory)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run on a GPU machine, or pass --device cpu --tiny")
    result = {
        "environment": environment(args.device),
        "result": run(args),
        "command": " ".join(["python", "scripts/bench_qlora.py", *(argv or sys.argv[1:])]),
    }
    r = result["result"]
    peak = f"{r['peak_gib']:.1f} GiB" if r["peak_gib"] is not None else "n/a"
    print(
        f"{r['mode']} [{','.join(r['levers']) or 'none'}] mb{r['micro_batch']}: "
        f"{r['tokens_per_s']:.0f} tok/s, peak {peak}, MFU(4N) {r['mfu_4n']:.1%}, "
        f"unchecked {r['unchecked_layers']}, losses {r['losses']}"
    )
    if args.out:
        write_json(args.out, result)


if __name__ == "__main__":
    main()
