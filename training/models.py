"""Loading a base model for merge and check: fp32, optionally NF4 round-tripped.

Both steps load the base the same way (check compares the merged model with the adapter
on this very base), so the loader lives here rather than in either step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.errors import MergeError

NF4_LEVELS = (
    -1.0,
    -0.6961928009986877,
    -0.5250730514526367,
    -0.39491748809814453,
    -0.28444138169288635,
    -0.18477343022823334,
    -0.09105003625154495,
    0.0,
    0.07958029955625534,
    0.16093020141124725,
    0.24611230194568634,
    0.33791524171829224,
    0.44070982933044434,
    0.5626170039176941,
    0.7229568362236023,
    1.0,
)  # bitsandbytes' NormalFloat4 code book (QLoRA paper, appendix E)


def nf4_roundtrip(weight: Any, block: int = 64) -> Any:
    """Quantize to NF4 (absmax per block of 64, as bitsandbytes does) and dequantize.

    The absmax scales stay in fp32: bitsandbytes' double quantization of the scales moves
    weights by far less than the NF4 rounding itself.
    """
    import torch

    flat = weight.detach().float().reshape(-1)
    pad = (-flat.numel()) % block
    blocks = torch.nn.functional.pad(flat, (0, pad)).reshape(-1, block)
    scale = blocks.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)
    levels = torch.tensor(NF4_LEVELS, dtype=torch.float32)
    nearest = (blocks / scale).unsqueeze(-1).sub(levels).abs().argmin(dim=-1)
    restored = (levels[nearest] * scale).reshape(-1)[: flat.numel()]
    return restored.reshape(weight.shape).to(weight.dtype)


def _roundtrip_linears(model: Any) -> int:
    import torch

    count = 0
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and not name.endswith("lm_head"):
                module.weight.copy_(nf4_roundtrip(module.weight))
                count += 1
    return count


def base_dtype(base: Path) -> str:
    config = json.loads((base / "config.json").read_text())
    return str(config.get("dtype") or config.get("torch_dtype") or "float32")


def load_base(base: Path, nf4: bool = False) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    if not (base / "config.json").is_file():
        raise MergeError(f"base model {base} does not exist (no config.json); check base_model")
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    if nf4:
        _roundtrip_linears(model)
    return model
