"""training/speed.py: each lever against the naive computation, on CPU with tiny tensors."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from training import speed


def _tiny_llama(attn: str = "sdpa", layers: int = 2) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=97,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        attn_implementation=attn,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval()


def test_pack_documents_keeps_every_document_whole_and_fits_rows() -> None:
    docs = [[1] * 5, [2] * 3, [3] * 3, [4] * 2, [5] * 2, [6] * 1, [7] * 12]
    rows = speed.pack_documents(docs, seq_len=8)
    assert all(sum(len(d) for d in row) <= 8 for row in rows)
    packed = sorted(tuple(d) for row in rows for d in row)
    expected = sorted(tuple(d[:8]) for d in docs)
    assert packed == expected  # the 12-token document is cut to 8, nothing else changes
    assert len(rows) == 3  # 8 | 5+3 | 3+2+2+1: first-fit-decreasing fills rows exactly


def test_pack_documents_rejects_bad_length() -> None:
    with pytest.raises(ValueError, match="seq_len"):
        speed.pack_documents([[1, 2]], seq_len=0)


def test_collate_packed_resets_positions_and_masks_document_starts() -> None:
    batch = speed.collate_packed([[[10, 11, 12], [20, 21]], [[30, 31, 32, 33]]], 6, pad_id=0)
    assert batch.input_ids.tolist() == [[10, 11, 12, 20, 21, 0], [30, 31, 32, 33, 0, 0]]
    assert batch.position_ids.tolist() == [[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 0, 1]]
    ig = speed.IGNORE_INDEX
    assert batch.labels.tolist() == [[ig, 11, 12, ig, 21, ig], [ig, 31, 32, 33, ig, ig]]
    assert batch.cu_seq_lens.tolist() == [0, 3, 5, 6, 10, 12]
    assert batch.n_tokens == 9


def test_first_fit_decreasing_returns_indices_of_full_bins() -> None:
    bins = speed.first_fit_decreasing([5, 3, 3, 2, 2, 1, 8], capacity=8)
    assert bins == [[6], [0, 1], [2, 3, 4, 5]]


def test_collate_packed_takes_per_document_labels_and_empty_rows() -> None:
    ig = speed.IGNORE_INDEX
    rows = [[[10, 11, 12], [20, 21, 22]], []]
    labels = [[[ig, ig, 12], [ig, 21, 22]], []]
    batch = speed.collate_packed(rows, 7, pad_id=0, label_rows=labels)
    # a document's first label is never trained: it would be predicted from the previous one
    assert batch.labels.tolist() == [[ig, ig, 12, ig, 21, 22, ig], [ig] * 7]
    assert batch.input_ids[1].tolist() == [0] * 7
    assert batch.cu_seq_lens.tolist() == [0, 3, 6, 7, 14]
    assert batch.n_tokens == 6


def test_collate_packed_without_reset_is_one_sequence_per_row() -> None:
    batch = speed.collate_packed([[[1, 2], [3]], [[4]]], 4, pad_id=0, reset_positions=False)
    assert batch.position_ids.tolist() == [[0, 1, 2, 3], [0, 1, 2, 3]]
    assert batch.cu_seq_lens.tolist() == [0, 4, 8]
    assert batch.labels[0].tolist() == [speed.IGNORE_INDEX, 2, speed.IGNORE_INDEX, -100]


def test_collate_packed_rejects_overfull_row() -> None:
    with pytest.raises(ValueError, match="more than seq_len"):
        speed.collate_packed([[[1, 2, 3], [4, 5]]], 4, pad_id=0)


def test_shift_labels_aligns_targets_with_positions() -> None:
    shifted = speed.shift_labels(torch.tensor([[5, 6, 7]]))
    assert shifted.tolist() == [[6, 7, speed.IGNORE_INDEX]]


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
def test_chunked_cross_entropy_matches_full_loss_and_gradients(chunk: int) -> None:
    gen = torch.Generator().manual_seed(chunk)
    hidden = torch.randn(50, 16, dtype=torch.float64, generator=gen, requires_grad=True)
    weight = torch.randn(33, 16, dtype=torch.float64, generator=gen, requires_grad=True)
    targets = torch.randint(0, 33, (50,), generator=gen)
    targets[::4] = speed.IGNORE_INDEX
    ref = F.cross_entropy(hidden @ weight.T, targets, ignore_index=speed.IGNORE_INDEX)
    ref_h, ref_w = torch.autograd.grad(ref * 3.0, (hidden, weight))

    loss = speed.chunked_linear_cross_entropy(hidden, weight, targets, chunk_size=chunk)
    got_h, got_w = torch.autograd.grad(loss * 3.0, (hidden, weight))
    torch.testing.assert_close(loss, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got_h, ref_h, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got_w, ref_w, rtol=1e-10, atol=1e-12)


def test_chunked_cross_entropy_in_bf16_tracks_the_float32_reference() -> None:
    gen = torch.Generator().manual_seed(1)
    hidden = torch.randn(64, 32, generator=gen).bfloat16().requires_grad_()
    weight = torch.randn(200, 32, generator=gen).bfloat16()  # frozen head, as in LoRA
    targets = torch.randint(0, 200, (64,), generator=gen)
    ref = F.cross_entropy((hidden @ weight.T).float(), targets)
    (ref_h,) = torch.autograd.grad(ref, hidden)
    loss = speed.chunked_linear_cross_entropy(hidden, weight, targets, chunk_size=16)
    (got_h,) = torch.autograd.grad(loss, hidden)
    torch.testing.assert_close(loss, ref, rtol=1e-5, atol=1e-5)
    assert got_h.dtype == torch.bfloat16
    assert (got_h.float() - ref_h.float()).norm() / ref_h.float().norm() < 1e-2


def test_chunked_cross_entropy_all_ignored_is_zero_not_nan() -> None:
    hidden = torch.randn(4, 8, requires_grad=True)
    weight = torch.randn(5, 8)
    targets = torch.full((4,), speed.IGNORE_INDEX)
    loss = speed.chunked_linear_cross_entropy(hidden, weight, targets)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.count_nonzero(hidden.grad) == 0


def test_chunked_cross_entropy_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="tokens"):
        speed.chunked_linear_cross_entropy(torch.randn(4, 8), torch.randn(5, 8), torch.zeros(3))


# Varlen and per-document attention take different kernels, so they sum in different orders;
# in float64 that reordering stays near 2^-53 relative, far inside assert_close's float64
# defaults (1e-7), on any CPU. In float32 one CPU's order would be all the tolerance knew.
def test_varlen_attention_equals_attention_per_document() -> None:
    gen = torch.Generator().manual_seed(2)
    batch, heads, kv_heads, seq, dim = 2, 4, 2, 10, 8
    q = torch.randn(batch, heads, seq, dim, generator=gen, dtype=torch.float64)
    k = torch.randn(batch, kv_heads, seq, dim, generator=gen, dtype=torch.float64)
    v = torch.randn(batch, kv_heads, seq, dim, generator=gen, dtype=torch.float64)
    cu = torch.tensor([0, 4, 10, 13, 20], dtype=torch.int32)  # row 0: 4+6, row 1: 3+7
    out, _ = speed.varlen_attention(None, q, k, v, None, scaling=dim**-0.5, cu_seq_lens_q=cu)
    assert out.shape == (batch, seq, heads, dim)
    for row, starts in ((0, (0, 4, 10)), (1, (0, 3, 10))):
        for start, end in itertools.pairwise(starts):
            ref = F.scaled_dot_product_attention(
                q[row : row + 1, :, start:end],
                k[row : row + 1, :, start:end],
                v[row : row + 1, :, start:end],
                is_causal=True,
                enable_gqa=True,
            )
            torch.testing.assert_close(out[row, start:end], ref[0].transpose(0, 1))


def test_varlen_llama_matches_documents_run_one_by_one() -> None:
    speed.register_varlen_attention()
    docs = [[3, 9, 4, 8, 1], [7, 7, 2], [5, 6, 11, 12, 13, 14], [15, 16]]
    rows = speed.pack_documents(docs, seq_len=8)
    batch = speed.collate_packed(rows, 8, pad_id=0)
    model = _tiny_llama(attn=speed.VARLEN_ATTENTION).double()  # float64: see above
    inputs = batch.model_inputs(varlen=True)
    inputs.pop("labels")
    with torch.no_grad():
        packed = model(**inputs).logits
        for r, row in enumerate(rows):
            start = 0
            for doc in row:
                alone = model(input_ids=torch.tensor([doc])).logits[0]
                torch.testing.assert_close(packed[r, start : start + len(doc)], alone)
                start += len(doc)


def test_selective_checkpointing_keeps_loss_and_gradients() -> None:
    batch = speed.collate_packed([[[3, 4, 5, 6, 7, 8]], [[9, 10, 11], [12, 13]]], 6, pad_id=0)
    grads = []
    flags = []
    for unchecked in (0, 1, 2):
        model = _tiny_llama(layers=2).train()
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        speed.set_unchecked_layers(model.model.layers, unchecked)
        flags.append([layer.gradient_checkpointing for layer in model.model.layers])
        model(**batch.model_inputs(varlen=False)).loss.backward()
        grads.append(model.model.layers[0].mlp.up_proj.weight.grad.clone())
    assert flags == [[True, True], [True, False], [False, False]]
    torch.testing.assert_close(grads[0], grads[1])
    torch.testing.assert_close(grads[0], grads[2])


def test_set_unchecked_layers_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="unchecked"):
        speed.set_unchecked_layers([object()], 2)


@pytest.mark.parametrize(
    ("peak0", "probe", "k", "budget", "expected"),
    [
        (10, 14, 2, 20, 5),  # 2 bytes a layer, 10 bytes of headroom
        (10, 14, 2, 9, 0),  # already over budget
        (10, 14, 2, 1000, 32),  # capped at the number of layers
        (10, 10, 2, 11, 1),  # probe saw no growth: assume one byte a layer, never divide by 0
    ],
)
def test_plan_unchecked_layers(peak0: int, probe: int, k: int, budget: int, expected: int) -> None:
    assert speed.plan_unchecked_layers(peak0, probe, k, budget, n_layers=32) == expected


def test_compile_layers_keeps_outputs() -> None:
    model = _tiny_llama()
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        eager = model(input_ids=ids).logits
        speed.compile_layers(model.model.layers, backend="eager")
        compiled = model(input_ids=ids).logits
    assert all(layer._compiled_call_impl is not None for layer in model.model.layers)
    torch.testing.assert_close(compiled, eager)


def test_compile_layers_can_leave_chosen_modules_eager() -> None:
    model = _tiny_llama()
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        eager = model(input_ids=ids).logits
        speed.compile_layers(model.model.layers, eager_types=(torch.nn.Linear,), backend="eager")
        compiled = model(input_ids=ids).logits
    q_proj = model.model.layers[0].self_attn.q_proj
    assert getattr(q_proj.forward, "_torchdynamo_disable", False)
    assert not hasattr(model.model.layers[0].input_layernorm.forward, "_torchdynamo_disable")
    torch.testing.assert_close(compiled, eager)


def test_mark_segments_dynamic_marks_the_document_axis() -> None:
    batch = speed.collate_packed([[[1, 2], [3]]], 4, pad_id=0)
    speed.mark_segments_dynamic(batch)
    assert 0 in batch.cu_seq_lens._dynamo_weak_dynamic_indices
