"""`check(cfg)`: the merged model is proven, not trusted (cf. peft's `_test_merge_layers`).

1. size: the merged weights are within `size_tolerance` (1%) of the base's bytes;
2. config: no `quantization_config`, a chat template, an eos token;
3. logits: adapter-on-base and merged agree within `logits_atol` on fixed prompts,
   and merged differs from the base by more than that (the adapter did something);
4. stop: a greedy generation ends on the end-of-turn token within `max_new_tokens`.

Writes `loregate_check.json` into the merged folder (deploy refuses a model without a
passing one) and raises `CheckFailed` naming every failed item.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training import layout
from training.artifacts import provenance, write_json_atomic
from training.config import RunConfig
from training.errors import CheckFailed
from training.step import StepResult

CHECK_FILE = layout.CHECK_FILE  # kept for callers that import it from here
FIXED_PROMPTS = (
    "Write a short scene in which two old friends argue about a broken machine.",
    "Continue the story from here.\n\nThe storm had not reached the harbour, but the boats knew.",
)


def weight_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.safetensors"))


def _chat_ids(tokenizer: Any, system: str | None, user: str) -> Any:
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user}
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, return_tensors="pt", add_special_tokens=False)


def _validation_prompt(cfg: RunConfig) -> tuple[str | None, str]:
    """The validation scene request with the shortest reference passage, under the voice's
    own style prompt where prepare wrote one: the cheapest honest stop test (a continuation
    prompt would measure the passage it holds, and the rows under a client's prompt or none,
    which `system_prompts: varied` mixes in, ask more than a 135M base can end unaided)."""
    for candidate in (cfg.validation_file, cfg.train_file):
        if not (candidate and candidate.is_file()):
            continue
        style_file = candidate.parent / layout.STYLE_PROMPT
        style = style_file.read_text(encoding="utf-8").strip() if style_file.is_file() else None
        best: tuple[bool, int, str | None, str] | None = None
        for line in candidate.read_text(encoding="utf-8").splitlines():
            messages = {m["role"]: m["content"] for m in json.loads(line)["messages"]}
            if messages["user"].startswith("Continue the story"):
                continue
            key = (messages.get("system") != style, len(messages["assistant"]))
            if best is None or key < best[:2]:
                best = (*key, messages.get("system"), messages["user"])
        if best is not None:
            return best[2], best[3]
    return None, FIXED_PROMPTS[0]


def check(cfg: RunConfig) -> StepResult:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.models import load_base

    settings = cfg.loregate.check
    if cfg.loregate.torch_threads:
        torch.set_num_threads(cfg.loregate.torch_threads)
    options = cfg.loregate.run
    adapter = Path(options.adapter) if options.adapter else layout.default_adapter(cfg)
    merged = Path(options.merged) if options.merged else layout.merged_model(cfg, adapter)
    base = cfg.base_model_path
    results: dict[str, Any] = {}
    failures: list[str] = []

    base_bytes, merged_bytes = weight_bytes(base), weight_bytes(merged)
    ratio = merged_bytes / max(1, base_bytes)
    results["size"] = {
        "base_bytes": base_bytes,
        "merged_bytes": merged_bytes,
        "ratio": round(ratio, 5),
    }
    if abs(ratio - 1.0) > settings.size_tolerance:
        failures.append(
            f"size: merged weights are {ratio:.3f}x the base's "
            f"(tolerance {settings.size_tolerance})"
        )

    config = json.loads((merged / "config.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(str(merged))
    if "quantization_config" in config:
        failures.append("config: merged config.json still has a quantization_config")
    if not getattr(tokenizer, "chat_template", None) or tokenizer.eos_token is None:
        failures.append("config: merged tokenizer lacks a chat template or an eos token")
    if tokenizer.pad_token_id == tokenizer.eos_token_id:
        failures.append("config: pad token equals eos; the end-of-turn token could be masked")

    model = AutoModelForCausalLM.from_pretrained(str(merged), dtype=torch.float32).eval()
    reference = PeftModel.from_pretrained(
        load_base(base, cfg.loregate.merge_nf4_roundtrip), str(adapter)
    ).eval()
    adapter_diff, base_diff = 0.0, 0.0
    with torch.no_grad():
        for prompt in FIXED_PROMPTS:
            ids = _chat_ids(tokenizer, None, prompt)
            merged_logits = model(**ids).logits
            adapter_diff = max(
                adapter_diff, float((merged_logits - reference(**ids).logits).abs().max())
            )
            with reference.disable_adapter():
                base_diff = max(
                    base_diff, float((merged_logits - reference(**ids).logits).abs().max())
                )
    del reference
    results["logits"] = {
        "max_abs_diff_vs_adapter": adapter_diff,
        "max_abs_diff_vs_base": base_diff,
        "atol": settings.logits_atol,
    }
    if adapter_diff > settings.logits_atol:
        failures.append(
            f"logits: merged differs from adapter-on-base by {adapter_diff:.2e} "
            f"> {settings.logits_atol}"
        )
    if base_diff <= settings.logits_atol:
        failures.append("logits: merged equals the base; the adapter changed nothing")

    system, user = (None, settings.prompt) if settings.prompt else _validation_prompt(cfg)
    ids = _chat_ids(tokenizer, system, user)
    with torch.no_grad():
        out = model.generate(
            **ids,
            max_new_tokens=settings.max_new_tokens,
            do_sample=False,
            no_repeat_ngram_size=settings.no_repeat_ngram_size,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    new = out[0, ids["input_ids"].shape[1] :].tolist()
    stopped = bool(new) and new[-1] == tokenizer.eos_token_id
    results["generation"] = {
        "prompt": user,
        "new_tokens": len(new),
        "stopped_on_eos": stopped,
        "limit": settings.max_new_tokens,
        "text": tokenizer.decode(new, skip_special_tokens=True),
    }
    if not stopped:
        failures.append(
            f"stop: greedy generation did not end on {tokenizer.eos_token} within "
            f"{settings.max_new_tokens} tokens"
        )

    record = provenance(
        "check",
        cfg.model_dump(mode="json"),
        merged=str(merged.resolve()),
        adapter=str(adapter.resolve()),  # deploy matches the adapter it serves against this
        passed=not failures,
        failures=failures,
        results=results,
    )
    path = write_json_atomic(layout.check_marker(merged), record)
    run_dir = adapter.parent
    if (run_dir / "config.yaml").is_file():
        write_json_atomic(run_dir / "check.json", record)
    print(
        f"check: size ratio {ratio:.4f}; logits vs adapter {adapter_diff:.2e}, "
        f"vs base {base_diff:.2e}; "
        f"generation {len(new)} tokens, stopped on eos: {stopped}"
    )
    if failures:
        raise CheckFailed("check failed: " + "; ".join(failures) + f" (details in {path})")
    print(f"check: passed → {path}")
    return StepResult("check", path)
