"""The model the built-in runner trains: the base (bf16 or NF4 on CUDA, fp32 on a CPU) with
a fresh LoRA adapter on it, or the adapter of a checkpoint to resume, ready for training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.config import RunConfig
from training.errors import TrainingError
from training.levers import Levers, resolve_levers


def load_trainable(cfg: RunConfig, resume: Path | None, levers: Levers | None = None) -> Any:
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    cuda = torch.cuda.is_available()
    levers = levers or resolve_levers(cfg, cuda)
    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if levers.packing:
        from training.speed import register_varlen_attention

        kwargs["attn_implementation"] = register_varlen_attention()
    if cuda and cfg.bf16 in (True, "auto"):
        kwargs["dtype"] = torch.bfloat16
    if cfg.load_in_4bit:
        if not cuda:
            raise TrainingError(
                "load_in_4bit needs CUDA and bitsandbytes; on CPU use configs/train_embedded.yaml "
                "(adapter: lora, load_in_4bit: false)"
            )
        from transformers import BitsAndBytesConfig

        bnb = dict(cfg.bnb_config_kwargs or {})
        compute = bnb.pop("bnb_4bit_compute_dtype", None)  # a name, e.g. bfloat16
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_compute_dtype=getattr(torch, compute) if compute else kwargs["dtype"],
            **bnb,
        )
    model = AutoModelForCausalLM.from_pretrained(str(cfg.base_model_path), **kwargs)
    if cuda and not cfg.load_in_4bit:
        model = model.to("cuda")
    model.config.use_cache = False
    # non-reentrant: needs no input gradients, and lets layers switch checkpointing per step
    checkpointing = {"use_reentrant": False}
    if cfg.load_in_4bit and not levers.bf16_autocast:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, cfg.gradient_checkpointing, checkpointing)
    else:
        for param in model.parameters():
            param.requires_grad_(False)
        if cfg.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=checkpointing)
    if resume is not None:
        return PeftModel.from_pretrained(model, str(resume), is_trainable=True)
    targets = "all-linear" if cfg.lora_target_linear else cfg.lora_target_modules
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,  # None: peft's default for the architecture
        layers_to_transform=cfg.peft_layers_to_transform,
        task_type="CAUSAL_LM",
    )
    try:
        return get_peft_model(model, lora)
    except ValueError as exc:  # e.g. target modules the architecture does not have
        raise TrainingError(f"lora_target_modules {targets}: {exc}") from exc
