"""Speed levers for LoRA/QLoRA training on one GPU, each a small function a runner can adopt.

- `pack_documents` + `collate_packed`: sample packing that keeps documents apart, with
  position ids restarting per document and the `cu_seq_lens_*` that varlen attention reads.
- `varlen_attention` / `register_varlen_attention`: a transformers attention function that
  runs flash attention per document (no cross-document attention, no (S x S) mask).
- `chunked_linear_cross_entropy`: LM head + cross-entropy in chunks, so the
  (tokens x vocabulary) logits never exist whole; gradients are made in the same pass.
- `set_unchecked_layers` / `plan_unchecked_layers`: selective activation checkpointing by layer.
- `compile_layers`: regional `torch.compile` of each decoder layer (one graph, reused 32 times);
  `mark_segments_dynamic` keeps a new document count from recompiling it.

torch is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import functools
import inspect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

IGNORE_INDEX = -100
VARLEN_ATTENTION = "loregate_varlen"


@dataclass(frozen=True)
class PackedBatch:
    """One micro-batch of packed rows, ready for `model(**batch.model_inputs())`."""

    input_ids: torch.Tensor  # (rows, seq_len)
    labels: torch.Tensor  # (rows, seq_len); IGNORE_INDEX on padding and on each document's start
    position_ids: torch.Tensor  # (rows, seq_len)
    cu_seq_lens: torch.Tensor  # (segments + 1,) int32 offsets into the flattened rows
    max_length: int
    n_tokens: int  # real (non-padding) tokens

    def model_inputs(self, varlen: bool) -> dict[str, Any]:
        inputs: dict[str, Any] = {
            "input_ids": self.input_ids,
            "labels": self.labels,
            "position_ids": self.position_ids,
        }
        if varlen:
            inputs |= {
                "cu_seq_lens_q": self.cu_seq_lens,
                "cu_seq_lens_k": self.cu_seq_lens,
                "max_length_q": self.max_length,
                "max_length_k": self.max_length,
            }
        return inputs

    def to(self, device: str | torch.device) -> PackedBatch:
        return PackedBatch(
            input_ids=self.input_ids.to(device, non_blocking=True),
            labels=self.labels.to(device, non_blocking=True),
            position_ids=self.position_ids.to(device, non_blocking=True),
            cu_seq_lens=self.cu_seq_lens.to(device, non_blocking=True),
            max_length=self.max_length,
            n_tokens=self.n_tokens,
        )


def first_fit_decreasing(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Indices of items grouped into bins of at most `capacity`, longest items placed first."""
    if capacity <= 0:
        raise ValueError(f"seq_len must be positive, got {capacity}")
    bins: list[list[int]] = []
    free: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda j: lengths[j], reverse=True):
        for b, space in enumerate(free):
            if space >= lengths[i]:
                bins[b].append(i)
                free[b] -= lengths[i]
                break
        else:
            bins.append([i])
            free.append(capacity - lengths[i])
    return bins


def pack_documents(docs: Iterable[Sequence[int]], seq_len: int) -> list[list[list[int]]]:
    """First-fit-decreasing packing of documents into rows of at most `seq_len` tokens.

    A document longer than `seq_len` is cut to `seq_len`; documents are never split across rows,
    so no document is trained without its beginning.
    """
    if seq_len <= 0:
        raise ValueError(f"seq_len must be positive, got {seq_len}")
    kept = [list(doc[:seq_len]) for doc in docs if len(doc)]
    return [[kept[i] for i in row] for row in first_fit_decreasing([len(d) for d in kept], seq_len)]


def collate_packed(
    rows: Sequence[Sequence[Sequence[int]]],
    seq_len: int,
    pad_id: int,
    reset_positions: bool = True,
    label_rows: Sequence[Sequence[Sequence[int]]] | None = None,
) -> PackedBatch:
    """Rows of documents -> tensors; padding fills each row's tail as one segment of its own.

    With `reset_positions` each document gets positions 0..len-1 and its own `cu_seq_lens`
    segment; without it every row is one causal sequence (documents see their row neighbours).
    Labels never ask a document's last token to predict the next document's first one.
    `label_rows` (same layout as `rows`, IGNORE_INDEX where untrained) replaces the default
    of training every token; an empty row is all padding.
    """
    import torch

    input_ids = torch.full((len(rows), seq_len), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), seq_len), IGNORE_INDEX, dtype=torch.long)
    position_ids = torch.empty((len(rows), seq_len), dtype=torch.long)
    boundaries = [0]
    n_tokens = 0
    for r, docs in enumerate(rows):
        segments = [len(doc) for doc in docs]
        if sum(segments) > seq_len:
            raise ValueError(f"row {r} holds {sum(segments)} tokens, more than seq_len {seq_len}")
        start = 0
        for d, doc in enumerate(docs):
            end = start + len(doc)
            input_ids[r, start:end] = torch.tensor(doc, dtype=torch.long)
            own = input_ids[r, start:end] if label_rows is None else label_rows[r][d]
            labels[r, start + 1 : end] = torch.as_tensor(own, dtype=torch.long)[1:]
            start = end
        n_tokens += start
        if start < seq_len:
            segments.append(seq_len - start)
        if not reset_positions:
            segments = [seq_len]
        offset = 0
        for length in segments:
            position_ids[r, offset : offset + length] = torch.arange(length)
            offset += length
            boundaries.append(boundaries[-1] + length)
    return PackedBatch(
        input_ids=input_ids,
        labels=labels,
        position_ids=position_ids,
        cu_seq_lens=torch.tensor(boundaries, dtype=torch.int32),
        # the row length bounds every segment; a constant keeps compiled graphs from respecialising
        max_length=seq_len,
        n_tokens=n_tokens,
    )


def mark_segments_dynamic(batch: PackedBatch) -> None:
    """Tell torch.compile the number of documents varies, before the first compiled step.

    Otherwise the first batch with a different document count recompiles every layer's graph
    (seconds, and it lands in whatever step happens to meet it).
    """
    import torch

    torch._dynamo.maybe_mark_dynamic(batch.cu_seq_lens, 0)


def _torch_varlen_attn() -> Any | None:
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn


def _segment_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu: torch.Tensor, scale: float | None
) -> torch.Tensor:
    """Reference path (CPU, or torch without varlen): causal SDPA per segment, (T, H, D) layout."""
    import torch
    import torch.nn.functional as F

    outs = []
    bounds = cu.tolist()
    for start, end in itertools.pairwise(bounds):
        seg = [t[start:end].transpose(0, 1) for t in (q, k, v)]
        out = F.scaled_dot_product_attention(*seg, is_causal=True, scale=scale, enable_gqa=True)
        outs.append(out.transpose(0, 1))
    return torch.cat(outs, dim=0)


def varlen_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers attention function: (B, H, S, D) in, (B, S, H, D) out, causal per segment.

    Reads `cu_seq_lens_q` and `max_length_q` from the forward kwargs (see `PackedBatch`).
    """
    if dropout:
        raise ValueError("varlen_attention does not implement attention dropout; set it to 0")
    batch, heads, seq, dim = query.shape
    cu = kwargs.get("cu_seq_lens_q")
    if cu is None:
        cu = _row_boundaries(batch, seq, query.device)
    max_len = int(kwargs.get("max_length_q") or seq)
    q, k, v = (t.transpose(1, 2).reshape(batch * seq, t.shape[1], dim) for t in (query, key, value))
    varlen_attn = _torch_varlen_attn()
    if q.is_cuda and varlen_attn is not None:
        out = _call_varlen(varlen_attn, q, k, v, cu, max_len, scaling)
    else:
        out = _segment_attention(q, k, v, cu, scaling)
    return out.view(batch, seq, heads, dim), None


def _row_boundaries(batch: int, seq: int, device: torch.device) -> torch.Tensor:
    import torch

    return torch.arange(0, (batch + 1) * seq, seq, dtype=torch.int32, device=device)


def _call_varlen(
    varlen_attn: Any,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu: torch.Tensor,
    max_len: int,
    scaling: float | None,
) -> torch.Tensor:
    import torch

    # torch's varlen API grew keywords between releases; pass only the ones this one knows
    params = inspect.signature(varlen_attn).parameters
    options: dict[str, Any] = {}
    if "is_causal" in params:
        options["is_causal"] = True
    else:
        options["window_size"] = (-1, 0)
    if "scale" in params:
        options["scale"] = scaling
    elif scaling is not None and abs(scaling - q.shape[-1] ** -0.5) > 1e-6:
        raise ValueError(f"this torch's varlen_attn has no scale argument; needs {scaling}")
    if k.shape[1] != q.shape[1]:
        if "enable_gqa" in params:
            options["enable_gqa"] = True
        else:
            repeat = q.shape[1] // k.shape[1]
            k, v = k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1)
    cu = cu.to(device=q.device, dtype=torch.int32)
    return varlen_attn(q, k, v, cu, cu, max_len, max_len, **options)


def register_varlen_attention() -> str:
    """Register `varlen_attention` with transformers; returns the `attn_implementation` name."""
    from transformers import AttentionInterface

    AttentionInterface.register(VARLEN_ATTENTION, varlen_attention)
    return VARLEN_ATTENTION


def shift_labels(labels: torch.Tensor) -> torch.Tensor:
    """Next-token targets aligned with the hidden states: position i predicts labels[i + 1]."""
    import torch.nn.functional as F

    return F.pad(labels, (0, 1), value=IGNORE_INDEX)[..., 1:]


def chunked_linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    chunk_size: int = 2048,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """Mean cross-entropy of `hidden @ weight.T` against `targets`, one chunk of rows at a time.

    Equals `F.cross_entropy(hidden @ weight.T, targets)` (logits upcast to float32, as
    transformers does). The gradients are computed during the forward pass and kept (one
    hidden-sized tensor), so backward is a multiply and nothing of vocabulary size survives
    a chunk. `hidden` is (tokens, dim) in the compute dtype; `weight` is (vocab, dim).
    """
    if hidden.ndim != 2 or targets.shape != hidden.shape[:1]:
        raise ValueError(
            f"hidden must be (tokens, dim) and targets (tokens,), got "
            f"{tuple(hidden.shape)} and {tuple(targets.shape)}"
        )
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    return _chunked_ce_function().apply(hidden, weight, targets, chunk_size, ignore_index)


def _chunked_ce_forward(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    chunk_size: int,
    ignore_index: int,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    import torch

    valid_all = targets.ne(ignore_index)
    denom = valid_all.sum().clamp(min=1)
    # float32 softmax as transformers does; float64 inputs stay float64 (exact tests)
    acc_dtype = torch.promote_types(hidden.dtype, torch.float32)
    w = weight.to(hidden.dtype)
    grad_hidden = torch.empty_like(hidden) if hidden.requires_grad else None
    grad_weight = torch.zeros_like(weight, dtype=acc_dtype) if weight.requires_grad else None
    total = torch.zeros((), dtype=acc_dtype, device=hidden.device)
    for start in range(0, hidden.shape[0], chunk_size):
        h = hidden[start : start + chunk_size]
        valid = valid_all[start : start + chunk_size]
        safe_targets = targets[start : start + chunk_size].masked_fill(~valid, 0)
        logits = (h @ w.T).to(acc_dtype)
        lse = torch.logsumexp(logits, dim=-1)
        target_logit = logits.gather(1, safe_targets[:, None]).squeeze(1)
        total += ((lse - target_logit) * valid).sum()
        if grad_hidden is None and grad_weight is None:
            continue
        grad = logits.sub_(lse[:, None]).exp_()  # softmax, in place of the logits
        grad[torch.arange(h.shape[0], device=h.device), safe_targets] -= 1.0
        grad.mul_((valid.to(acc_dtype) / denom)[:, None])
        grad = grad.to(hidden.dtype)
        if grad_hidden is not None:
            grad_hidden[start : start + chunk_size] = grad @ w
        if grad_weight is not None:
            grad_weight += (grad.T @ h).to(acc_dtype)
    return total / denom, grad_hidden, grad_weight


@functools.cache
def _chunked_ce_function() -> Any:
    import torch

    class ChunkedLinearCE(torch.autograd.Function):
        @staticmethod
        def forward(
            ctx: Any, hidden: Any, weight: Any, targets: Any, chunk: int, ignore: int
        ) -> Any:
            # the matmuls run in hidden's dtype on purpose; autocast would re-cast every chunk
            with torch.autocast(device_type=hidden.device.type, enabled=False):
                loss, grad_hidden, grad_weight = _chunked_ce_forward(
                    hidden, weight, targets, chunk, ignore
                )
            ctx.weight_dtype = weight.dtype
            ctx.save_for_backward(grad_hidden, grad_weight)
            return loss

        @staticmethod
        def backward(ctx: Any, grad_loss: Any) -> Any:
            grad_hidden, grad_weight = ctx.saved_tensors
            if grad_hidden is not None:
                grad_hidden = grad_hidden * grad_loss.to(grad_hidden.dtype)
            if grad_weight is not None:
                grad_weight = (grad_weight * grad_loss).to(ctx.weight_dtype)
            return grad_hidden, grad_weight, None, None, None

    return ChunkedLinearCE


def set_unchecked_layers(layers: Sequence[Any], unchecked: int) -> None:
    """Checkpoint every decoder layer except the last `unchecked` ones.

    transformers' `GradientCheckpointingLayer` reads its own `gradient_checkpointing` flag on
    each call, so this can change between steps. Layers kept whole trade memory for the
    recompute of their forward (about a third of their backward cost).
    """
    if not 0 <= unchecked <= len(layers):
        raise ValueError(f"unchecked must be within 0..{len(layers)}, got {unchecked}")
    for i, layer in enumerate(layers):
        layer.gradient_checkpointing = i < len(layers) - unchecked


def plan_unchecked_layers(
    peak_all_checked: int, peak_probe: int, probe_unchecked: int, budget: int, n_layers: int
) -> int:
    """How many layers can skip checkpointing within `budget` bytes of peak memory.

    `peak_all_checked` and `peak_probe` are peaks measured with 0 and `probe_unchecked`
    layers unchecked; each unchecked layer is assumed to add the same activation memory.
    """
    if probe_unchecked <= 0:
        raise ValueError("probe_unchecked must be positive")
    per_layer = max((peak_probe - peak_all_checked) / probe_unchecked, 1.0)
    headroom = budget - peak_all_checked
    if headroom <= 0:
        return 0
    return max(0, min(n_layers, int(headroom // per_layer)))


def compile_layers(
    layers: Sequence[Any], eager_types: tuple[type, ...] = (), **compile_options: Any
) -> None:
    """Regional compilation: each layer's call is compiled; gradient checkpointing stays outside.

    All layers share one code path, so one graph is traced and reused (builtin nn.Module
    inlining treats their parameters as inputs rather than constants). Submodules of
    `eager_types` (e.g. bitsandbytes' Linear4bit, whose quantised weight is a tensor
    subclass) run eagerly between the compiled pieces.
    """
    import torch

    for layer in layers:
        for module in layer.modules():
            if eager_types and isinstance(module, eager_types):
                module.forward = torch.compiler.disable(module.forward, recursive=True)
        layer.compile(**compile_options)
