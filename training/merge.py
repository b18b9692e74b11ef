"""`merge(cfg)`: base + LoRA adapter → a plain model folder vLLM can serve.

The base is loaded in 32-bit (never 4-bit), the adapter merged with peft's
`safe_merge` (which refuses non-finite weights), and the result cast back to the base's
own dtype. For QLoRA runs `merge_nf4_roundtrip` first rounds every linear weight of the
base through NF4 and back, so the merge adds the adapter to the weights it was trained
against. Written next to the weights: tokenizer (with a pad token distinct from eos),
chat template, the base's generation_config, and `loregate_merge.json` (config +
versions). `quantization_config` is dropped. Everything is written to a temp folder and
renamed at the end, so a full disk never leaves half a model behind.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any

from training.artifacts import provenance, replace_dir, write_json_atomic
from training.chatdata import load_tokenizer
from training.config import RunConfig

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


class MergeError(RuntimeError):
    """The merge could not produce a whole model; nothing was deployed."""


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


def default_adapter(cfg: RunConfig) -> Path:
    from training.train import latest_run

    return latest_run(cfg.path(cfg.output_dir)) / "best"


def run_name(adapter: Path) -> str:
    return adapter.parent.name if adapter.name in ("best", "final") else adapter.name


def merge(cfg: RunConfig, adapter: Path | None = None, output: Path | None = None) -> Path:
    import torch
    from peft import PeftModel

    adapter = adapter or default_adapter(cfg)
    if not (adapter / "adapter_config.json").is_file():
        raise MergeError(
            f"{adapter} is not a LoRA adapter (no adapter_config.json); pass --adapter"
        )
    base = cfg.base_model_path
    output = output or cfg.path(cfg.loregate.merged_dir) / run_name(adapter)
    if output.name == "current":
        raise MergeError("refusing to write into merged_models/current; deploy switches that link")
    nf4 = cfg.loregate.merge_nf4_roundtrip
    print(f"merge: {adapter} into {base} ({'NF4 round-tripped, ' if nf4 else ''}fp32) → {output}")

    model = load_base(base, nf4)
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload(safe_merge=True)
    dtype = base_dtype(base)
    merged = merged.to(getattr(torch, dtype, torch.float32))
    tokenizer = load_tokenizer(base, cfg.special_tokens.pad_token)
    merged.config.pad_token_id = tokenizer.pad_token_id
    if hasattr(merged.config, "quantization_config"):
        del merged.config.quantization_config

    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".tmp-{output.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        merged.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        if (base / "generation_config.json").is_file():
            shutil.copy2(base / "generation_config.json", tmp / "generation_config.json")
        _drop_quantization_config(tmp / "config.json")
        write_json_atomic(
            tmp / "loregate_merge.json",
            provenance(
                "merge",
                cfg.model_dump(mode="json"),
                adapter=str(adapter),
                base=str(base),
                dtype=dtype,
                nf4_roundtrip=nf4,
            ),
        )
        replace_dir(tmp, output)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.errno == errno.ENOSPC:
            raise MergeError(
                f"disk full while writing the merged model under {output.parent}; free space and "
                "rerun `python -m training merge` (nothing was deployed)"
            ) from exc
        raise
    print(f"merge: wrote {output}")
    return output


def _drop_quantization_config(config_path: Path) -> None:
    config = json.loads(config_path.read_text())
    if config.pop("quantization_config", None) is not None:
        write_json_atomic(config_path, config)
