"""The evaluation loss: mean cross-entropy per assistant token over fixed validation
batches, with its own progress bar; on several ranks each evaluates its share."""

from __future__ import annotations

from typing import Any

from training import distributed
from training.levers import PLAIN, Levers, autocast, uncompiled
from training.loss import eval_batch_loss


def evaluate_loss(
    model: Any,
    batches: list[list[Any]],
    pad_id: int,
    levers: Levers | None = None,
    desc: str = "eval",
    group: distributed.Group = distributed.SINGLE,
) -> float | None:
    """Mean loss per assistant token over `batches` (unpacked, uncompiled), with a progress
    bar; Ctrl-C stops it between micro-batches and leaves the model in training mode. On
    several ranks each evaluates its share and the sums are added up."""
    import torch
    from tqdm import tqdm

    if not batches:
        return None
    levers = levers or PLAIN
    model.eval()
    total, count = 0.0, 0
    bar = tqdm(distributed.share(batches, group), desc=desc, unit="batch", leave=False,
               dynamic_ncols=True, disable=not group.main)
    try:
        with torch.no_grad(), uncompiled(levers), autocast(levers):
            for batch in bar:
                loss, predicted = eval_batch_loss(model, batch, pad_id, levers)
                total += loss
                count += predicted
    finally:
        bar.close()
        model.train()
    total, count = distributed.sum_floats([total, count], group)
    return total / max(1, count)
