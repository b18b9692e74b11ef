"""What the GPU benchmarks share: the recipe, the Llama-3.1-8B shape, random-weight models,
synthetic documents, environment capture and atomic JSON output.

Token ids are Zipf(1.2)-distributed ranks over a seeded random permutation of the vocabulary;
document lengths are uniform over the prepare step's min_tokens..max_tokens.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

LLAMA_31_8B: dict[str, Any] = {
    "vocab_size": 128256,
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-5,
    "rope_theta": 500000.0,
    "rope_scaling": {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    },
    "bos_token_id": 128000,
    "eos_token_id": 128001,
    "tie_word_embeddings": False,
}
TINY = {
    "vocab_size": 1024,
    "hidden_size": 128,
    "intermediate_size": 384,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}

RECIPE: dict[str, Any] = {  # the guide's recipe, used where the YAML is missing
    "lora_r": 64,
    "lora_alpha": 128,
    "lora_dropout": 0.05,
    "lora_target_modules": [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ],
    "sequence_len": 2048,
    "micro_batch_size": 4,
    "optimizer": "paged_adamw_8bit",
    "learning_rate": 2e-4,
    "weight_decay": 0.01,
    "gradient_checkpointing": True,
    "min_tokens": 500,
    "max_tokens": 2000,
}


def load_recipe(path: Path) -> tuple[dict[str, Any], str]:
    if not path.exists():
        return dict(RECIPE), "built-in (guide) recipe"
    import yaml

    data = yaml.safe_load(path.read_text()) or {}
    recipe = {key: data.get(key, default) for key, default in RECIPE.items()}
    prepare = (data.get("loregate") or {}).get("prepare") or {}
    for key in ("min_tokens", "max_tokens"):
        recipe[key] = prepare.get(key, recipe[key])
    return recipe, str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)


def parameter_count(cfg: dict[str, Any]) -> int:
    """Parameters of the bf16 model (the N of 4N FLOPs per token), from the config alone."""
    h, i, v, layers = (
        cfg["hidden_size"],
        cfg["intermediate_size"],
        cfg["vocab_size"],
        cfg["num_hidden_layers"],
    )
    kv = h // cfg["num_attention_heads"] * cfg["num_key_value_heads"]
    per_layer = 2 * h * h + 2 * h * kv + 3 * h * i + 2 * h
    return 2 * v * h + layers * per_layer + h


def make_documents(
    n_tokens: int, vocab: int, lengths: tuple[int, int], seed: int
) -> list[list[int]]:
    import numpy as np

    rng = np.random.default_rng(seed)
    rank_to_id = rng.permutation(vocab)
    docs: list[list[int]] = []
    total = 0
    while total < n_tokens:
        length = int(rng.integers(lengths[0], lengths[1] + 1))
        ranks = (rng.zipf(1.2, size=length) - 1) % vocab
        docs.append(rank_to_id[ranks].tolist())
        total += length
    return docs


def random_base(cfg: dict[str, Any], device: str, seed: int, attn: str = "sdpa") -> Any:
    """A bf16 LlamaForCausalLM of this shape with random weights, built on `device`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(LlamaConfig(**cfg, attn_implementation=attn))
    finally:
        torch.set_default_dtype(default_dtype)
    model.config.use_cache = False
    return model


def quantize_linears_nf4(layers: Any, compute_dtype: Any) -> None:
    """What from_pretrained(quantization_config=BitsAndBytesConfig(nf4, double quant)) makes."""
    import bitsandbytes as bnb
    import torch

    for layer in layers:
        for parent in list(layer.modules()):
            for name, child in list(parent.named_children()):
                if type(child) is not torch.nn.Linear:
                    continue
                q = bnb.nn.Linear4bit(
                    child.in_features,
                    child.out_features,
                    bias=False,
                    compute_dtype=compute_dtype,
                    compress_statistics=True,
                    quant_type="nf4",
                    device="meta",
                )
                q.weight = bnb.nn.Params4bit(
                    child.weight.data,
                    requires_grad=False,
                    compress_statistics=True,
                    quant_type="nf4",
                    module=q,
                ).to(child.weight.device)
                setattr(parent, name, q)
    torch.cuda.empty_cache()


def environment(device: str) -> dict[str, Any]:
    import torch
    import transformers

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    for name in ("peft", "bitsandbytes", "triton"):
        try:
            env[name] = __import__(name).__version__
        except ImportError:
            env[name] = None
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        env |= {
            "card": props.name,
            "card_memory_gib": props.total_memory / 2**30,
            "sm_count": props.multi_processor_count,
            "cuda": torch.version.cuda,
        }
    return env


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
