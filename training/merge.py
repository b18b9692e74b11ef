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

from training import layout
from training.artifacts import provenance, replace_dir, write_json_atomic
from training.chatdata import load_tokenizer
from training.config import RunConfig
from training.errors import MergeError
from training.models import NF4_LEVELS, base_dtype, load_base, nf4_roundtrip
from training.step import StepResult


def merge(cfg: RunConfig) -> StepResult:
    import torch
    from peft import PeftModel

    options = cfg.loregate.run
    adapter = Path(options.adapter) if options.adapter else layout.default_adapter(cfg)
    if not (adapter / "adapter_config.json").is_file():
        raise MergeError(
            f"{adapter} is not a LoRA adapter (no adapter_config.json); pass --adapter"
        )
    base = cfg.base_model_path
    output = Path(options.merged) if options.merged else layout.merged_model(cfg, adapter)
    if output.name == layout.CURRENT:
        raise MergeError(f"refusing to write into {layout.DEPLOYED}; deploy switches that link")
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
    return StepResult("merge", output)


def _drop_quantization_config(config_path: Path) -> None:
    config = json.loads(config_path.read_text())
    if config.pop("quantization_config", None) is not None:
        write_json_atomic(config_path, config)


__all__ = ["NF4_LEVELS", "MergeError", "base_dtype", "load_base", "merge", "nf4_roundtrip"]
