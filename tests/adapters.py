"""Real peft LoRA adapters of the embedded model, made in seconds for serving tests.

`init_lora_weights=False` starts B random too, so the adapter changes the model's output
from the first token (a trained adapter would, a freshly initialised one would not).
"""

from __future__ import annotations

import json
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
