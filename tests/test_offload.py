"""training/offload.py: the host-offloaded checkpoint against torch's own, on CPU with tiny tensors.

On a CPU device the offloader keeps the same bookkeeping with plain copies (no stream, no
pinning), so these tests check what the GPU path computes: the recompute with the forward's
dropout masks and the gradients that reach LoRA weights and the input.
"""

from __future__ import annotations

import pytest
import torch

from training import offload


def _tiny_lora(dropout: float) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).double()
    for param in model.parameters():
        param.requires_grad_(False)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout, target_modules=["q_proj", "up_proj"])
    model = get_peft_model(model, lora)
    for name, param in model.named_parameters():  # LoRA B starts at zero: give it a value
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.1, generator=torch.Generator().manual_seed(1))
    return model.train()


def _grads(model: torch.nn.Module, ids: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    model(input_ids=ids, labels=ids).loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_offloaded_checkpoint_matches_torch_checkpoint(dropout: float) -> None:
    ids = torch.randint(0, 97, (2, 12), generator=torch.Generator().manual_seed(3))
    model = _tiny_lora(dropout)
    reference = _grads(model, ids, seed=5)
    layers = model.get_base_model().model.layers
    offloader = offload.offload_checkpoints(layers, "cpu")
    got = _grads(model, ids, seed=5)
    assert set(got) == set(reference) and len(got) == 2 * 2 * 3  # A and B, 2 modules, 3 layers
    for name, grad in reference.items():
        torch.testing.assert_close(got[name], grad, msg=name)
    assert offloader.stack == []  # every saved input was taken back
    assert len(offloader.buffers) == 3 and offloader.host_bytes() == 3 * 2 * 12 * 32 * 8


def test_dropout_masks_differ_with_another_seed() -> None:
    """The comparison above would pass vacuously if dropout drew nothing."""
    ids = torch.randint(0, 97, (2, 12), generator=torch.Generator().manual_seed(3))
    model = _tiny_lora(0.3)
    offload.offload_checkpoints(model.get_base_model().model.layers, "cpu")
    a, b = _grads(model, ids, seed=5), _grads(model, ids, seed=6)
    assert any(not torch.equal(a[n], b[n]) for n in a)


def test_input_gradient_flows_through_offloaded_layers() -> None:
    layer = torch.nn.Linear(4, 4).double()
    offloader = offload.HostOffload("cpu")
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    y = offloader.checkpoint(layer, x)
    y.square().sum().backward()
    expected = torch.autograd.grad(layer(x).square().sum(), x)[0]
    torch.testing.assert_close(x.grad, expected)


def test_backward_out_of_order_is_refused() -> None:
    offloader = offload.HostOffload("cpu")
    first = offloader.save(torch.ones(2))
    offloader.save(torch.zeros(2))
    with pytest.raises(RuntimeError, match="reverse order"):
        offloader.load(first)


def test_keyword_tensors_that_need_grad_take_torch_checkpoint() -> None:
    from functools import partial

    weight = torch.ones(3, requires_grad=True)
    offloader = offload.HostOffload("cpu")
    x = torch.randn(3, requires_grad=True)
    y = offloader.checkpoint(partial(lambda h, w: h * w, w=weight), x)
    y.sum().backward()
    assert weight.grad is not None and offloader.buffers == {}  # nothing offloaded


@pytest.mark.parametrize(
    ("setting", "cuda", "expected"),
    [("auto", False, False), (True, False, False), ("auto", True, True), (False, True, False)],
)
def test_offload_lever_is_off_on_cpu_and_on_by_default_with_cuda(
    setting: object, cuda: bool, expected: bool
) -> None:
    from training.config import load_config
    from training.levers import resolve_levers

    cfg = load_config(
        "configs/qlora_style_transfer.yaml",
        {"loregate": {"speed": {"offload_checkpoints": setting}}},
    )
    assert cfg.gradient_checkpointing
    assert resolve_levers(cfg, cuda).offload is expected
