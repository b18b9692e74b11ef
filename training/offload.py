"""Checkpointed decoder layers whose saved input waits in pinned host memory, not on the GPU.

Plain activation checkpointing keeps one tensor per layer on the card: the layer's input
(micro batch 4 x 2,048 tokens x 4,096 of an 8B Llama in bf16 is 64 MiB, 2 GiB for 32 layers).
`HostOffload.checkpoint` replaces transformers' checkpoint function for a layer:

- forward: the input is copied to a pinned host buffer on a side stream while the layer runs
  on the main stream; the layer's own activations are dropped (its graph is detached), as
  in any checkpointing. The forward runs with gradients enabled, so a compiled layer runs
  the same graph (and draws the same dropout masks) as in the recompute.
- backward: the input comes back on the side stream (the next layer down is fetched while
  this one recomputes and runs backward), the layer is recomputed with the forward's random
  state and autocast settings, and its gradients flow as usual.

Host buffers are kept per checkpoint slot and reused every micro-batch; the side stream
orders each slot's copies, and `record_stream` keeps the allocator from reusing a device
block before a copy has read or written it. The same idea as Unsloth's "unsloth" gradient
checkpointing (unsloth_zoo/gradient_checkpointing.py), written for this runner.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class _Saved:
    slot: int
    host: torch.Tensor
    shape: torch.Size
    device: torch.device
    on_device: torch.Tensor | None = None
    loaded: Any = None  # torch.cuda.Event once the copy back is queued (CUDA only)


class HostOffload:
    """One per model: the side stream, the pinned buffers, and the stack of saved inputs.

    On a CPU device there is no stream and nothing to pin: the same bookkeeping runs with
    plain copies, so the tests can check the arithmetic without a GPU.
    """

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.stream = torch.cuda.Stream(self.device) if self.cuda else None
        self.buffers: dict[tuple[int, int, torch.dtype], torch.Tensor] = {}
        self.stack: list[_Saved] = []
        # makes every output require grad even when no input does (layer 0 of a frozen base)
        self.anchor = torch.empty(0, device=self.device, requires_grad=True)

    def host_bytes(self) -> int:
        return sum(b.numel() * b.element_size() for b in self.buffers.values())

    def save(self, hidden: torch.Tensor) -> _Saved:
        slot = len(self.stack)
        key = (slot, hidden.numel(), hidden.dtype)
        host = self.buffers.get(key)
        if host is None:
            host = torch.empty(hidden.numel(), dtype=hidden.dtype, pin_memory=self.cuda)
            self.buffers[key] = host
        if self.cuda:
            self.stream.wait_stream(torch.cuda.current_stream(self.device))
        with self._side():
            host.copy_(hidden.reshape(-1), non_blocking=self.cuda)
        if self.cuda:
            hidden.record_stream(self.stream)
        saved = _Saved(slot, host, hidden.shape, hidden.device)
        self.stack.append(saved)
        return saved

    def _fetch(self, saved: _Saved) -> None:
        if saved.on_device is not None:
            return
        with self._side():
            tensor = torch.empty(saved.shape, dtype=saved.host.dtype, device=saved.device)
            tensor.view(-1).copy_(saved.host, non_blocking=self.cuda)
            if self.cuda:
                saved.loaded = torch.cuda.Event()
                saved.loaded.record(self.stream)
        saved.on_device = tensor

    @contextlib.contextmanager
    def _side(self) -> Iterator[None]:
        if self.stream is None:
            yield
            return
        with torch.cuda.stream(self.stream):
            yield

    def load(self, saved: _Saved) -> torch.Tensor:
        """The saved input back on the device, ready on the main stream; fetches the next."""
        if not self.stack or self.stack[-1] is not saved:
            raise RuntimeError("offloaded checkpoints must run backward in reverse order")
        self.stack.pop()
        self._fetch(saved)
        if self.stack:  # the layer below runs backward next: fetch it while this one works
            self._fetch(self.stack[-1])
        tensor, saved.on_device = saved.on_device, None
        if self.cuda:
            main = torch.cuda.current_stream(self.device)
            main.wait_event(saved.loaded)
            tensor.record_stream(main)
        return tensor

    def checkpoint(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Drop-in for transformers' `_gradient_checkpointing_func(partial(layer, ...), x)`."""
        hidden = args[0] if args else None
        usable = (
            torch.is_grad_enabled()
            and isinstance(hidden, torch.Tensor)
            and hidden.device.type == self.device.type
            and len(args) == 1
            and not kwargs
            and not _needs_grad(function)
        )
        if not usable:  # anything unusual takes torch's own checkpoint
            return torch.utils.checkpoint.checkpoint(function, *args, use_reentrant=False, **kwargs)
        return _offloaded().apply(function, self, hidden, self.anchor)


def _needs_grad(function: Any) -> bool:
    """Whether a bound keyword tensor needs a gradient (this checkpoint gives it none)."""
    values = list(getattr(function, "keywords", {}).values())
    flat = [v for value in values for v in (value if isinstance(value, tuple) else (value,))]
    return any(isinstance(v, torch.Tensor) and v.requires_grad for v in flat)


def _autocast_state(device_type: str) -> tuple[bool, torch.dtype]:
    return torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type)


def _rng_state(device: torch.device) -> torch.Tensor:
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state()


@contextlib.contextmanager
def _replayed_rng(device: torch.device, state: torch.Tensor) -> Iterator[None]:
    """The random state the forward saw, restored afterwards (dropout masks replay)."""
    cuda = device.type == "cuda"
    with torch.random.fork_rng(devices=[device] if cuda else [], device_type=device.type):
        if cuda:
            torch.cuda.set_rng_state(state, device)
        else:
            torch.set_rng_state(state)
        yield


@functools.cache
def _offloaded() -> Any:
    class OffloadedCheckpoint(torch.autograd.Function):
        @staticmethod
        def forward(
            ctx: Any, run: Any, offload: HostOffload, hidden: torch.Tensor, anchor: Any
        ) -> Any:
            ctx.run, ctx.offload = run, offload
            ctx.rng = _rng_state(hidden.device)
            ctx.autocast = _autocast_state(hidden.device.type)
            ctx.saved = offload.save(hidden)
            ctx.input_grad = hidden.requires_grad
            with torch.enable_grad():  # the recompute's graph, so the same dropout masks
                out = run(hidden.detach())
            if not isinstance(out, torch.Tensor):
                raise TypeError("offloaded checkpointing needs a layer that returns a tensor")
            return out.detach()

        @staticmethod
        def backward(ctx: Any, grad_out: torch.Tensor) -> Any:
            hidden = ctx.offload.load(ctx.saved).requires_grad_(ctx.input_grad)
            enabled, dtype = ctx.autocast
            cast = torch.autocast(hidden.device.type, dtype=dtype, enabled=enabled)
            with _replayed_rng(hidden.device, ctx.rng), torch.enable_grad(), cast:
                out = ctx.run(hidden)
            torch.autograd.backward(out, grad_out)
            return None, None, hidden.grad if ctx.input_grad else None, None

    return OffloadedCheckpoint


def offload_checkpoints(layers: Sequence[Any], device: torch.device | str) -> HostOffload:
    """Give every checkpointed layer the host-offloaded checkpoint; returns the offloader."""
    offload = HostOffload(device)
    for layer in layers:
        if not hasattr(layer, "_gradient_checkpointing_func"):
            raise TypeError(f"{type(layer).__name__} is not a checkpointing layer")
        layer._gradient_checkpointing_func = offload.checkpoint
    return offload
