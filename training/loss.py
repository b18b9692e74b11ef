"""The training loss: cross-entropy summed over the assistant tokens only (the runner's
training step, its evaluation and the budget's measuring steps all call it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from training.chatdata import collate

if TYPE_CHECKING:
    from training.levers import Levers


def predicted_tokens(labels: Any) -> int:
    # Causal LMs predict token t+1 from position t: the first label never counts.
    return int((labels[:, 1:] != -100).sum())


def summed_loss(model: Any, batch: dict[str, Any], ce_chunk: int | None = None) -> Any:
    """Cross-entropy summed over the assistant tokens only.

    The vocabulary projection runs only where a label is trained: on a 49k vocabulary
    it is a third of the forward pass, and the prompt positions would be thrown away.
    With `ce_chunk` the projection and loss run `ce_chunk` tokens at a time.
    """
    import torch

    from training.speed import chunked_linear_cross_entropy

    causal_lm = model.get_base_model()
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    hidden = causal_lm.model(**inputs).last_hidden_state
    targets = batch["labels"][:, 1:]
    keep = targets != -100
    hidden = hidden[:, :-1][keep]
    if ce_chunk is None:
        logits = causal_lm.lm_head(hidden)  # softmax in float32 at least, as transformers does
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        return torch.nn.functional.cross_entropy(logits, targets[keep], reduction="sum")
    if torch.is_autocast_enabled(hidden.device.type):  # the dtype the LM head would run in
        hidden = hidden.to(torch.get_autocast_dtype(hidden.device.type))
    mean = chunked_linear_cross_entropy(hidden, causal_lm.lm_head.weight, targets[keep], ce_chunk)
    return mean * hidden.shape[0]


def eval_batch_loss(model: Any, batch: list[Any], pad_id: int, levers: Levers) -> tuple[float, int]:
    """One validation micro-batch: (summed loss, assistant tokens predicted)."""
    inputs = {k: v.to(model.device) for k, v in collate(batch, pad_id).items()}
    return float(summed_loss(model, inputs, levers.ce_chunk)), predicted_tokens(inputs["labels"])


def interrupt_points(layers: Any) -> list[Any]:
    """Let Ctrl-C land inside a backward pass: the autograd engine runs a whole backward in
    C++, where Python's signal handler waits, so a micro-batch's backward (a minute on a
    busy CPU) would delay Ctrl-C by as much. A no-op hook on each decoder layer's output
    runs a little Python per layer in the backward, where a pending KeyboardInterrupt is
    raised. Returns the forward hooks' handles."""

    def on_output(_module: Any, _inputs: Any, output: Any) -> None:
        hidden = output[0] if isinstance(output, tuple) else output
        if getattr(hidden, "requires_grad", False):
            hidden.register_hook(_noop)

    return [layer.register_forward_hook(on_output) for layer in layers]


def _noop(grad: Any) -> None:
    return None
