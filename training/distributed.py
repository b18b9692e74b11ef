"""Training on several processes (`torchrun`, `accelerate launch`) with torch.distributed.

Data parallel (`loregate.distributed: ddp`): every rank holds the whole model, which is the
common case of LoRA/QLoRA on a base that fits one card. Every rank computes the same epoch
order from the seed and takes its share of each optimizer step's micro-batches (rank r gets
micro-batches r, r+W, ...). Each micro-batch's loss is divided by the step's predicted tokens
over *all* ranks, and the adapter's gradients are summed across ranks before the optimizer
step, so the summed gradient is the single-process one (up to float summation order) and the
optimizer steps, hence the adapters, agree on every rank. That is why the global batch, the
loss curve and a checkpoint mean the same on any number of ranks, and a run resumes on any
number. Rank 0 alone writes checkpoints, metrics and the progress bar.

Dropout draws its masks from each rank's own random stream, so with `lora_dropout > 0` a
2-rank run is not the 1-rank run's twin, only its statistical equal; with dropout 0 they
match within float tolerance (tests/test_training_distributed.py).

Everything here is a no-op on one process (`SINGLE`): `make train` never pays for it.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from training.errors import TrainingError

T = TypeVar("T")
# how long a rank waits at a collective for the others: past it, a dead rank ends the run
TIMEOUT_S = int(os.environ.get("LOREGATE_DIST_TIMEOUT", "300"))


class RankFailed(TrainingError):
    """Another rank died or stopped answering; the run ends with a resumable checkpoint."""


@dataclass(frozen=True)
class Group:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


SINGLE = Group()


def from_env() -> Group:
    """The group torchrun / accelerate describe in the environment (one process if none)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    return Group(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


_current = SINGLE


def current() -> Group:
    """The group `start` joined (one process until then)."""
    return _current


def start(mode: str) -> Group:
    """Join the process group torchrun started (NCCL on CUDA, gloo on a CPU); idempotent.
    Ranks other than 0 print nothing (their stdout goes nowhere): one progress bar, one log."""
    global _current
    group = from_env()
    if not group.active or _current.active:
        return _current
    if mode != "ddp":
        raise TrainingError(f"loregate.distributed: {mode!r} is not built yet; use 'ddp' "
                            "(every rank holds the whole model; QLoRA of an 8B base fits one card)")
    import torch
    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(group.local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo",
                                timeout=datetime.timedelta(seconds=TIMEOUT_S))
    if not group.main:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
    # torchrun ends the other ranks with SIGTERM when one fails: rank 0 then saves the last
    # completed step, as on Ctrl-C, instead of dying with it unsaved
    signal.signal(signal.SIGTERM, _interrupt)
    _current = group
    return group


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait while the last step is saved: torchrun sends both to the
    ranks left when one dies, and a second one mid-save would lose the checkpoint."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler)


def stop() -> None:
    global _current
    if _current.active:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    _current = SINGLE


def share(items: list[T], group: Group) -> list[T]:
    """This rank's part of one step's micro-batches: every W-th, from its rank on."""
    return items[group.rank::group.world] if group.active else items


def _collective(what: str):  # type: ignore[no-untyped-def]
    """Map a collective's failure (a rank that died, a timeout) to RankFailed."""

    @contextlib.contextmanager
    def guard():  # type: ignore[no-untyped-def]
        try:
            yield
        except (RuntimeError, OSError) as exc:  # gloo/NCCL report a lost peer this way
            raise RankFailed(f"another rank stopped during {what} ({exc.__class__.__name__}: "
                             f"{str(exc)[:200]})") from exc

    return guard()


def sum_gradients(params: list[Any], group: Group) -> None:
    """Sum every parameter's gradient over the ranks, in place, as one flat buffer (one
    collective per step: the adapter's gradients are small)."""
    if not group.active:
        return
    import torch
    import torch.distributed as dist

    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    with _collective("the gradient sum"):
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for param, grad in zip(params, grads, strict=True):
        count = grad.numel()
        param.grad = flat[offset:offset + count].view_as(param).clone()
        offset += count


def sum_floats(values: list[float], group: Group) -> list[float]:
    """`values` summed over the ranks (losses, token counts)."""
    if not group.active:
        return values
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64)
    with _collective("a sum of figures"):
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def agree(value: T, group: Group) -> T:
    """Rank 0's `value` on every rank (a plan measured once, so all ranks run the same)."""
    if not group.active:
        return value
    import torch.distributed as dist

    box = [value]
    with _collective("sharing rank 0's plan"):
        dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(group: Group) -> None:
    if group.active:
        import torch.distributed as dist

        with _collective("waiting for the other ranks"):
            dist.barrier()
