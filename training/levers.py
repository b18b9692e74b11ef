"""Which of `training/speed.py`'s GPU levers the built-in runner uses, and their runner-side
pieces: the optimizer by name, the selective-checkpointing plan, layer compilation, autocast.

Every lever follows `loregate.speed` (see `SpeedSettings`): "auto" means on with CUDA, so a
CPU run takes the plain path it always took.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from training.chatdata import Example, collate, collate_rows, micro_batches, packed_micro_batches
from training.config import RunConfig

BNB_OPTIMIZERS = {"paged_adamw_8bit": "PagedAdamW8bit", "adamw_bnb_8bit": "AdamW8bit"}
PROBE_LAYERS = 2


@dataclass(frozen=True)
class Levers:
    cuda: bool
    bf16_autocast: bool  # bf16 weights kept bf16 (no fp32 upcast) and the step under autocast
    packing: bool  # packed rows + per-example (varlen) attention
    ce_chunk: int | None  # chunked LM head + loss; None: one cross-entropy over all logits
    compile: bool
    memory_budget: int | None  # bytes; None: checkpoint every layer (when checkpointing)
    offload: bool = False  # checkpointed layers' inputs in pinned host memory (offload.py)

    def describe(self) -> str:
        on = [name for name, value in asdict(self).items() if value not in (False, None)]
        return ", ".join(on) if on else "none"


PLAIN = Levers(
    cuda=False, bf16_autocast=False, packing=False, ce_chunk=None, compile=False, memory_budget=None
)


def resolve_levers(cfg: RunConfig, cuda: bool) -> Levers:
    speed = cfg.loregate.speed
    packing = cfg.sample_packing and speed.on(speed.packing, cuda)
    budget = speed.memory_budget_gib
    plan = cuda and packing and cfg.gradient_checkpointing and budget is not None
    return Levers(
        cuda=cuda,
        bf16_autocast=cuda and cfg.bf16 in (True, "auto") and not speed.fp32_norms,
        packing=packing,
        ce_chunk=speed.ce_chunk_size if speed.on(speed.chunked_ce, cuda) else None,
        compile=speed.on(speed.compile, cuda),
        memory_budget=int(budget * 2**30) if plan and budget is not None else None,
        offload=cuda and cfg.gradient_checkpointing and speed.on(speed.offload_checkpoints, cuda),
    )


def make_optimizer(params: list[Any], cfg: RunConfig, cuda: bool) -> tuple[Any, str | None]:
    """The configured optimizer, and a note when it had to fall back to torch AdamW."""
    import torch

    kwargs = {"lr": cfg.learning_rate, "weight_decay": cfg.weight_decay}
    bnb_name = BNB_OPTIMIZERS.get(cfg.optimizer)
    if bnb_name is None:
        return torch.optim.AdamW(params, **kwargs), None
    if not cuda:
        return torch.optim.AdamW(params, **kwargs), f"{cfg.optimizer} needs CUDA"
    try:
        import bitsandbytes as bnb
    except ImportError:
        return torch.optim.AdamW(params, **kwargs), f"{cfg.optimizer} needs bitsandbytes"
    return getattr(bnb.optim, bnb_name)(params, **kwargs), None


def epoch_batches(train_set: list[Example], cfg: RunConfig, levers: Levers, seed: int) -> list[Any]:
    if levers.packing:
        return packed_micro_batches(train_set, cfg.micro_batch_size, cfg.sequence_len, seed)
    return micro_batches(train_set, cfg.micro_batch_size, seed, cfg.sample_packing)


def model_inputs(
    batch: list[Any], cfg: RunConfig, pad_id: int, levers: Levers, device: Any
) -> tuple[dict[str, Any], int]:
    """One micro-batch as model inputs on `device`, and its count of real (unpadded) tokens."""
    from training.speed import mark_segments_dynamic

    if not levers.packing:
        tensors = collate(batch, pad_id)
        n_tokens = int(tensors["attention_mask"].sum())
        return {k: v.to(device) for k, v in tensors.items()}, n_tokens
    packed = collate_rows(batch, cfg.sequence_len, pad_id).to(device)
    if levers.compile:  # a new example count per micro-batch must not recompile the layers
        mark_segments_dynamic(packed)
    return packed.model_inputs(varlen=True), packed.n_tokens


@contextlib.contextmanager
def autocast(levers: Levers) -> Iterator[None]:
    import torch

    if not levers.bf16_autocast:
        yield
        return
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
        yield


@contextlib.contextmanager
def uncompiled(levers: Levers) -> Iterator[None]:
    """Evaluation runs eagerly: its shapes and no-grad mode would each cost a new graph."""
    import torch

    if not levers.compile:
        yield
        return
    with torch.compiler.set_stance("force_eager"):
        yield


def compile_decoder_layers(layers: Sequence[Any]) -> None:
    import torch

    from training.speed import compile_layers

    # one graph serves every layer, but guards on each layer's module add entries
    torch._dynamo.config.cache_size_limit = max(64, torch._dynamo.config.cache_size_limit)
    compile_layers(layers)


class CheckpointPlanner:
    """Selective activation checkpointing planned from measured peaks of this run's batches.

    Micro-batch 1 (compile, first gradients) is left alone, micro-batch 2 is measured with every
    layer checkpointed, micro-batch 3 with `probe` layers kept whole; from then on as many
    layers stay whole as fit the budget. Needs one batch shape (packed rows).
    """

    def __init__(self, layers: Sequence[Any], budget: int, probe: int = PROBE_LAYERS) -> None:
        self.layers = layers
        self.budget = budget
        self.probe = min(probe, len(layers))
        self.seen = 0
        self.peaks: list[int] = []
        self.earlier_peak = 0  # before the first measurement resets the counter (loading, compile)
        self.unchecked: int | None = None

    @property
    def done(self) -> bool:
        return self.unchecked is not None

    def before(self) -> None:
        import torch

        from training.speed import set_unchecked_layers

        if self.done or self.seen == 0:
            return
        self.earlier_peak = max(self.earlier_peak, torch.cuda.max_memory_allocated())
        torch.cuda.reset_peak_memory_stats()
        if self.peaks:
            set_unchecked_layers(self.layers, self.probe)

    def after(self) -> None:
        import torch

        from training.speed import plan_unchecked_layers, set_unchecked_layers

        self.seen += 1
        if self.done or self.seen == 1:
            return
        self.peaks.append(torch.cuda.max_memory_allocated())
        if len(self.peaks) == 1 and (self.peaks[0] >= self.budget or not self.probe):
            self.unchecked = 0  # no room: a probe would only overshoot
        elif len(self.peaks) == 2:
            self.unchecked = plan_unchecked_layers(
                self.peaks[0], self.peaks[1], self.probe, self.budget, len(self.layers)
            )
        if self.done:
            set_unchecked_layers(self.layers, self.unchecked or 0)


def gpu_summary(levers: Levers, planner: CheckpointPlanner | None) -> dict[str, Any]:
    import torch

    peaks = [torch.cuda.max_memory_allocated()]
    if planner:
        peaks += [planner.earlier_peak, *planner.peaks]
    return {
        "levers": asdict(levers),
        "unchecked_layers": planner.unchecked if planner else 0,
        "peak_gib": round(max(peaks) / 2**30, 2),
    }
