"""Real peft LoRA adapters of the embedded model, made in seconds for serving tests.

`init_lora_weights=False` starts B random too, so the adapter changes the model's output
from the first token (a trained adapter would, a freshly initialised one would not).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EMBEDDED = REPO / "models" / "SmolLM2-135M-Instruct"
PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def make_adapter(out: Path, *, rank: int = 8, seed: int = 0, base: Path = EMBEDDED) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=PROJECTIONS,
                        init_lora_weights=False, task_type="CAUSAL_LM")
    get_peft_model(model, config).save_pretrained(str(out))
    return out


def mark_checked(adapter: Path, passed: bool = True) -> None:
    """The record `python -m training check` leaves in the run folder, for deploy to find."""
    run = adapter.parent
    (run / "check.json").write_text(json.dumps({"adapter": str(adapter.resolve()),
                                                "passed": passed}))


def fake_adapter(runs: Path, run: str, *, rank: int = 8, width: int = 64,
                 checked: bool | None = True, weights: bool = True) -> Path:
    """A peft-shaped adapter folder: config, and a safetensors file whose header alone is
    real (deploy reads shapes from it, never the numbers)."""
    folder = runs / run / "best"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": rank,
                                                            "base_model_name_or_path": "base"}))
    if weights:
        name = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
        header = json.dumps({name: {"dtype": "F32", "shape": [rank, width],
                                    "data_offsets": [0, 4 * rank * width]}}).encode()
        (folder / "adapter_model.safetensors").write_bytes(
            struct.pack("<Q", len(header)) + header + bytes(4 * rank * width))
    if checked is not None:
        (runs / run / "check.json").write_text(json.dumps({"adapter": str(folder.resolve()),
                                                           "passed": checked}))
    return folder
