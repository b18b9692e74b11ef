"""CPU LoRA training speed of the embedded model (tokens/s), recipe vs baseline, one run.

Runs the built-in runner's own pieces (model loading, batching, assistant-only loss) on
the prepared sample data: 1 warm-up step, then N measured optimizer steps, for
  - recipe:   configs/train_embedded.yaml as is (LoRA on the top 12 layers, no dropout);
  - baseline: the same with LoRA on all 30 layers and lora_dropout 0.05 (the GPU recipe's
              shape on CPU).
tokens/s counts every non-pad token through forward+backward. Also reports the process
CPU time per token, which is less sensitive to other jobs sharing the cores, and an
estimate of the `train` step of `make train` from the recipe's speed. Needs
`python -m training prepare` first. Results: scripts/results/train-<date>.json.

    .venv/bin/python scripts/bench_train.py [--steps 4]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_results import save_results  # noqa: E402
from training.artifacts import versions  # noqa: E402
from training.chatdata import collate, load_tokenizer, micro_batches, read_examples  # noqa: E402
from training.config import RunConfig, load_config  # noqa: E402
from training.loss import predicted_tokens as _predicted  # noqa: E402
from training.loss import summed_loss  # noqa: E402
from training.trainable import load_trainable  # noqa: E402

SEED = 1234


def measure(cfg: RunConfig, steps: int) -> dict[str, float]:
    import torch

    torch.manual_seed(SEED)
    tokenizer = load_tokenizer(cfg.base_model_path, cfg.special_tokens.pad_token)
    examples, _ = read_examples(cfg.train_file, tokenizer, cfg.sequence_len)
    batches = micro_batches(examples, cfg.micro_batch_size, SEED, cfg.sample_packing)
    model = load_trainable(cfg, None)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate)
    accum = cfg.gradient_accumulation_steps
    tokens = wall = cpu = 0.0
    for step in range(steps + 1):  # step 0 warms up (allocator, kernels) and is not counted
        group = [
            collate(b, tokenizer.pad_token_id) for b in batches[step * accum : (step + 1) * accum]
        ]
        predicted = sum(_predicted(t["labels"]) for t in group)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for t in group:
            (summed_loss(model, t) / predicted).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step:
            wall += time.perf_counter() - wall0
            cpu += time.process_time() - cpu0
            tokens += sum(int(t["attention_mask"].sum()) for t in group)
    threads = torch.get_num_threads()
    return {
        "tokens": tokens,
        "seconds": round(wall, 2),
        "tokens_per_s": round(tokens / wall, 1),
        "cpu_seconds_per_1k_tokens": round(1000 * cpu / tokens, 2),
        "tokens_per_s_if_cores_were_free": round(tokens / (cpu / threads), 1),
        "trainable_parameters": sum(p.numel() for p in params),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--config", default="configs/train_embedded.yaml")
    args = parser.parse_args()
    random.seed(SEED)
    recipe = load_config(args.config)
    if not recipe.train_file.is_file():
        sys.exit("bench_train: no prepared data; run `python -m training prepare` first")
    if recipe.loregate.torch_threads:
        import torch

        torch.set_num_threads(recipe.loregate.torch_threads)
    baseline = load_config(args.config, {"peft_layers_to_transform": None, "lora_dropout": 0.05})
    results = {}
    for name, cfg in (("recipe", recipe), ("baseline_all_layers_dropout", baseline)):
        results[name] = measure(cfg, args.steps)
        print(f"{name}: {results[name]}", flush=True)

    examples = sum(1 for _ in recipe.train_file.open())
    per_epoch = math.ceil(examples / (recipe.micro_batch_size * recipe.gradient_accumulation_steps))
    per_step = results["recipe"]["tokens"] / args.steps
    train_tokens = per_step * per_epoch * recipe.num_epochs
    result = {
        "benchmark": "train",
        "date": datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load_avg_1m_at_end": os.getloadavg()[0]},
        "versions": versions(),
        "settings": {
            "config": args.config,
            "measured_steps": args.steps,
            "warmup_steps": 1,
            "micro_batch_size": recipe.micro_batch_size,
            "gradient_accumulation_steps": recipe.gradient_accumulation_steps,
            "lora_r": recipe.lora_r,
            "layers": recipe.peft_layers_to_transform,
            "sequence_len": recipe.sequence_len,
            "seed": SEED,
        },
        "results": results,
        "estimate": {
            "train_tokens_per_run": round(train_tokens),
            "train_minutes_at_measured_speed": round(
                train_tokens / results["recipe"]["tokens_per_s"] / 60, 1
            ),
            "train_minutes_if_cores_were_free": round(
                train_tokens / results["recipe"]["tokens_per_s_if_cores_were_free"] / 60, 1
            ),
        },
    }
    path = save_results("train", result)
    print(json.dumps(result["estimate"], indent=2))
    print(f"bench_train: → {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
