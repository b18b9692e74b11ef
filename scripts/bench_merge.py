"""Time merging an 8B LoRA adapter into its bf16 base, on the GPU and on the CPU.

    python scripts/bench_merge.py --out scripts/results/qlora-merge-h100.json [--save]

A Llama-3.1-8B-shaped bf16 model with random weights gets a random (non-zero) LoRA adapter of
the recipe's rank on the recipe's modules; `merge_and_unload(safe_merge=True)` is what the
merge step runs. The CPU run uses every core torch sees. `--save` also times writing the
merged model as safetensors (the merge step's other cost; loading the base is not timed:
there are no real weights to read).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_setup import (
    LLAMA_31_8B,
    REPO,
    TINY,
    environment,
    load_recipe,
    parameter_count,
    random_base,
    write_json,
)


def build_adapted(cfg: dict[str, Any], recipe: dict[str, Any], device: str, seed: int) -> Any:
    from peft import LoraConfig, get_peft_model

    model = random_base(cfg, device, seed)
    lora = LoraConfig(
        r=recipe["lora_r"],
        lora_alpha=recipe["lora_alpha"],
        target_modules=list(recipe["lora_target_modules"]),
        init_lora_weights=False,  # random A and B: a real, non-zero update to merge
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def timed_merge(model: Any, device: str) -> tuple[Any, float, float]:
    """Merge; returns the merged model, seconds, and how far one weight moved (must be > 0)."""
    import torch

    probe = model.get_base_model().model.layers[0].mlp.down_proj.base_layer.weight
    before = probe.detach().float().clone()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    merged = model.merge_and_unload(safe_merge=True, progressbar=False)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    after = merged.model.layers[0].mlp.down_proj.weight.detach().float()
    moved = ((after - before).norm() / before.norm()).item()
    return merged, seconds, moved


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path)
    p.add_argument("--save", action="store_true", help="also time save_pretrained of the result")
    p.add_argument("--tiny", action="store_true", help="tiny shape, CPU only (smoke test)")
    p.add_argument("--recipe", default=str(REPO / "configs/qlora_style_transfer.yaml"))
    args = p.parse_args(argv)
    import torch

    recipe, recipe_source = load_recipe(Path(args.recipe))
    cfg = dict(LLAMA_31_8B) | (TINY if args.tiny else {})
    result: dict[str, Any] = {
        "params_n": parameter_count(cfg),
        "recipe_source": recipe_source,
        "lora_r": recipe["lora_r"],
        "cpu_threads": torch.get_num_threads(),
    }
    gpu = torch.cuda.is_available() and not args.tiny
    if gpu:
        model = build_adapted(cfg, recipe, "cuda", seed=0)
        merged, result["gpu_merge_s"], result["gpu_weight_moved"] = timed_merge(model, "cuda")
        del model, merged
        torch.cuda.empty_cache()
        print(f"GPU merge {result['gpu_merge_s']:.2f} s", flush=True)
        model = build_adapted(cfg, recipe, "cuda", seed=0)
        start = time.perf_counter()
        model = model.to("cpu")
        result["gpu_to_cpu_s"] = time.perf_counter() - start
        torch.cuda.empty_cache()
    else:
        model = build_adapted(cfg, recipe, "cpu", seed=0)
    merged, result["cpu_merge_s"], result["cpu_weight_moved"] = timed_merge(model, "cpu")
    print(f"CPU merge {result['cpu_merge_s']:.2f} s ({result['cpu_threads']} threads)", flush=True)
    if args.save:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            merged.save_pretrained(tmp, safe_serialization=True)
            result["save_s"] = time.perf_counter() - start
            result["saved_gib"] = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 2**30
        print(f"save {result['save_s']:.1f} s for {result['saved_gib']:.1f} GiB", flush=True)
    if args.out:
        write_json(
            args.out,
            {
                "environment": environment("cuda" if gpu else "cpu"),
                "result": result,
                "command": " ".join(sys.argv),
            },
        )


if __name__ == "__main__":
    main()
