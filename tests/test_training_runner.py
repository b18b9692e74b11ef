import json
from pathlib import Path

import pytest
import test_training_tiny
from test_training_tiny import tiny_config, write_corpus

from training.chatdata import IGNORE, DataError, encode, ensure_distinct_pad, load_tokenizer
from training.config import load_config
from training.prepare import prepare
from training.runner import TrainingInterrupted, get_lr
from training.train import train

tiny_base = test_training_tiny.tiny_base


@pytest.fixture
def cfg_path(tmp_path: Path, tiny_base: Path) -> Path:
    write_corpus(tmp_path / "raw", chapters=5)
    path = tiny_config(tmp_path, tiny_base)
    with_every_eval(path)
    prepare(load_config(path))
    return path


def with_every_eval(path: Path) -> None:
    """Evaluate at every eval_steps, however long it takes (the tests count evaluations)."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["loregate"]["eval_share"] = None
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def test_labels_cover_the_assistant_turn_and_its_end_token(tiny_base: Path) -> None:
    tokenizer = load_tokenizer(tiny_base)
    assert tokenizer.pad_token == "<|endoftext|>" != tokenizer.eos_token
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "the storm"},
        {"role": "assistant", "content": "the ship hummed"},
    ]
    example = encode(tokenizer, messages)
    trained = [
        t for t, label in zip(example.input_ids, example.labels, strict=True) if label != IGNORE
    ]
    assert tokenizer.decode(trained) == "the ship hummed<|im_end|>"
    first = example.labels.index(trained[0])
    assert all(label == IGNORE for label in example.labels[:first])
    assert "assistant" in tokenizer.decode(example.input_ids[:first])


def test_pad_token_never_falls_back_to_eos() -> None:
    class OnlyEos:
        eos_token = "<e>"
        unk_token = None
        pad_token = "<e>"

        def get_vocab(self) -> dict[str, int]:
            return {"<e>": 0, "a": 1}

    with pytest.raises(DataError, match=r"special_tokens\.pad_token"):
        ensure_distinct_pad(OnlyEos())


def test_lr_warms_up_then_decays_to_zero(cfg_path: Path) -> None:
    cfg = load_config(cfg_path, {"warmup_ratio": 0.1, "learning_rate": 0.5})
    rates = [get_lr(step, 100, cfg) for step in range(100)]
    assert rates[0] < rates[9] <= 0.5
    assert rates[10] == pytest.approx(0.5)
    assert rates[-1] < 0.01 and rates == sorted(rates[:10]) + rates[10:]
    steps = load_config(cfg_path, {"warmup_steps": 20, "learning_rate": 0.5})  # wins over ratio
    assert get_lr(19, 100, steps) < 0.5 and get_lr(20, 100, steps) == pytest.approx(0.5)


def test_run_folder_holds_config_metrics_curve_and_best(cfg_path: Path) -> None:
    best = train(load_config(cfg_path, {"max_steps": 6})).path
    run = best.parent
    assert run.name.startswith("run-") and (best / "adapter_config.json").is_file()
    for name in (
        "config.yaml",
        "axolotl.yaml",
        "data_stats.json",
        "provenance.json",
        "metrics.jsonl",
        "loss.png",
        "summary.json",
        "final/adapter_config.json",
    ):
        assert (run / name).exists(), name
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4, 5, 6]
    evals = [r["eval_loss"] for r in records if "eval_loss" in r]
    assert len(evals) == 4 and evals[-1] < evals[0]  # step 0 is the base; it learns
    info = json.loads((best / "loregate_adapter.json").read_text())
    assert info["eval_loss"] == pytest.approx(min(evals[1:]))
    assert json.loads((run / "summary.json").read_text())["tokens_per_s"] > 0


def test_ctrl_c_leaves_a_checkpoint_and_resume_matches_an_unbroken_run(
    cfg_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    from safetensors.torch import load_file

    cfg = load_config(cfg_path, {"max_steps": 5})
    unbroken = train(cfg).path.parent / "final" / "adapter_model.safetensors"

    real_clip = torch.nn.utils.clip_grad_norm_
    calls = {"n": 0}

    def interrupt_on_fourth_step(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real_clip(*args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", interrupt_on_fourth_step)
    with pytest.raises(TrainingInterrupted, match="--resume") as caught:
        train(cfg)
    run = Path(str(caught.value).split("--resume ")[1])
    assert (run / "checkpoint-3" / "optimizer.pt").is_file()
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", real_clip)

    train(cfg.with_run(resume=run))
    steps = [
        json.loads(line)["step"]
        for line in (run / "metrics.jsonl").read_text().splitlines()
        if "loss" in json.loads(line)
    ]
    assert steps == [1, 2, 3, 4, 5]
    resumed = load_file(run / "final" / "adapter_model.safetensors")
    for name, tensor in load_file(unbroken).items():
        assert torch.allclose(tensor, resumed[name], atol=1e-5), name


def test_missing_base_model_is_one_clear_error(cfg_path: Path, tmp_path: Path) -> None:
    from training.runner import TrainingError

    with pytest.raises(TrainingError, match="does not exist"):
        train(load_config(cfg_path, {"base_model": str(tmp_path / "gone")}))


def _lora_model(cfg_path: Path, **overrides: object):
    from training.levers import resolve_levers
    from training.trainable import load_trainable

    cfg = load_config(cfg_path, dict(overrides))
    levers = resolve_levers(cfg, cuda=False)
    return cfg, levers, load_trainable(cfg, None, levers)


def _lora_grads(model) -> list:
    return [p.grad.clone() for p in model.parameters() if p.requires_grad]


def test_chunked_cross_entropy_gives_the_summed_loss_and_gradients(cfg_path: Path) -> None:
    """Chunking only reorders sums, so the two paths agree to rounding error. The comparison
    runs in float64 to make that error negligible whatever the CPU's summation order: each
    gradient element sums N <= ~10^4 products (tokens x hidden), so reordering moves it by at
    most ~N * 2^-53 ≈ 1e-12 of the largest terms (Higham's γ_N bound). 1e-9 of the tensor's
    largest element leaves three orders of margin and still catches any real mistake (a
    dropped or doubled chunk changes gradients by percent). In float32 the same bound is
    ~1e-3 of the largest element, too loose to mean much, and one CPU's order is no bound."""
    import torch

    from training.chatdata import collate, micro_batches, read_examples
    from training.runner import summed_loss

    cfg, _, model = _lora_model(cfg_path, lora_dropout=0.0)
    model.double()
    tokenizer = load_tokenizer(cfg.base_model_path)
    examples, _ = read_examples(cfg.train_file, tokenizer, cfg.sequence_len)
    batch = collate(micro_batches(examples, 3, 0, True)[0], tokenizer.pad_token_id)
    results = []
    for chunk in (None, 7):
        model.zero_grad(set_to_none=True)
        loss = summed_loss(model, batch, ce_chunk=chunk)
        (loss / 10).backward()
        results.append((loss.detach(), _lora_grads(model)))
    (full, full_grads), (chunked, chunked_grads) = results
    assert full.dtype == torch.float64 and full.item() > 0
    torch.testing.assert_close(chunked, full, rtol=1e-9, atol=0)
    assert any(g.abs().sum() > 0 for g in full_grads)
    for got, want in zip(chunked_grads, full_grads, strict=True):
        scale = float(want.abs().max())
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9 * scale)


def test_packed_rows_give_each_example_its_own_loss(cfg_path: Path) -> None:
    """Packed with its neighbours, an example's loss is what it gets alone (no leakage)."""
    import torch

    from training.chatdata import collate, collate_rows, packed_micro_batches, read_examples
    from training.runner import summed_loss

    cfg, levers, model = _lora_model(
        cfg_path, lora_dropout=0.0, loregate={"speed": {"packing": True}}
    )
    assert levers.packing and model.config._attn_implementation == "loregate_varlen"
    tokenizer = load_tokenizer(cfg.base_model_path)
    examples, _ = read_examples(cfg.train_file, tokenizer, cfg.sequence_len)
    batches = packed_micro_batches(examples, 2, cfg.sequence_len, seed=3)
    rows = next(b for b in batches if max(len(row) for row in b) > 1)  # a row of 2+ examples
    model.eval()
    with torch.no_grad():
        batch = collate_rows(rows, cfg.sequence_len, tokenizer.pad_token_id)
        packed = summed_loss(model, batch.model_inputs(varlen=True))
        alone = sum(
            summed_loss(model, collate([e], tokenizer.pad_token_id)) for row in rows for e in row
        )
    torch.testing.assert_close(packed, alone, rtol=1e-4, atol=1e-4)


def test_packed_micro_batches_hold_every_example_once_in_full_rows(cfg_path: Path) -> None:
    from training.chatdata import packed_micro_batches, read_examples

    cfg = load_config(cfg_path)
    tokenizer = load_tokenizer(cfg.base_model_path)
    examples, _ = read_examples(cfg.train_file, tokenizer, cfg.sequence_len)
    width = 2 * max(len(e.input_ids) for e in examples)
    epochs = [packed_micro_batches(examples, 3, width, seed) for seed in (0, 1)]
    for batches in epochs:
        assert all(len(batch) == 3 for batch in batches)  # a short last batch gets empty rows
        rows = [row for batch in batches for row in batch]
        assert all(sum(len(e.input_ids) for e in row) <= width for row in rows)
        assert sum(len(row) > 1 for row in rows) > 0
        assert sorted(id(e) for row in rows for e in row) == sorted(id(e) for e in examples)
    assert len(epochs[0]) == len(epochs[1])  # steps per epoch do not depend on the seed
    assert epochs[0] != epochs[1]


def test_packing_on_cpu_trains_and_sample_packing_alone_keeps_the_old_path(
    cfg_path: Path,
) -> None:
    from training.levers import resolve_levers

    cfg = load_config(cfg_path)
    assert cfg.sample_packing
    plain = resolve_levers(cfg, cuda=False)
    assert (plain.packing, plain.ce_chunk, plain.compile, plain.bf16_autocast) == (
        False,
        None,
        False,
        False,
    )
    forced = {"speed": {"packing": True, "chunked_ce": True, "ce_chunk_size": 16}}
    best = train(load_config(cfg_path, {"max_steps": 4, "loregate": forced})).path
    records = [
        json.loads(line) for line in (best.parent / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4]
    evals = [r["eval_loss"] for r in records if "eval_loss" in r]
    assert evals[-1] < evals[0]


def test_gpu_recipe_turns_every_lever_on_with_cuda() -> None:
    from training.config import REPO_ROOT
    from training.levers import resolve_levers

    cfg = load_config(REPO_ROOT / "configs/qlora_style_transfer.yaml")
    levers = resolve_levers(cfg, cuda=True)
    assert levers.bf16_autocast and levers.packing and levers.compile
    assert levers.ce_chunk == 2048 and levers.memory_budget == 22 * 2**30
    upcast = load_config(
        REPO_ROOT / "configs/qlora_style_transfer.yaml",
        {"loregate": {"speed": {"fp32_norms": True, "memory_budget_gib": None}}},
    )
    assert not resolve_levers(upcast, cuda=True).bf16_autocast
    assert resolve_levers(upcast, cuda=True).memory_budget is None


def test_paged_adamw_8bit_falls_back_to_torch_adamw_without_cuda(cfg_path: Path) -> None:
    import torch

    from training.levers import make_optimizer

    params = [torch.nn.Parameter(torch.zeros(3))]
    cfg = load_config(cfg_path, {"optimizer": "paged_adamw_8bit"})
    optimizer, note = make_optimizer(params, cfg, cuda=False)
    assert isinstance(optimizer, torch.optim.AdamW) and "needs CUDA" in note
    optimizer, note = make_optimizer(params, load_config(cfg_path), cuda=False)
    assert isinstance(optimizer, torch.optim.AdamW) and note is None


def test_checkpoint_planner_measures_then_keeps_what_fits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from training.levers import CheckpointPlanner

    gib = 2**30
    # peak per micro-batch: compile, all checkpointed, 2 layers whole (+2 GiB each), planned
    peaks = iter([30 * gib, 10 * gib, 14 * gib, 19 * gib])
    current = {"peak": 0}
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda: None)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda: current["peak"])

    class Layer:
        gradient_checkpointing = True

    layers = [Layer() for _ in range(8)]
    planner = CheckpointPlanner(layers, budget=20 * gib)
    whole = []
    for _ in range(4):
        planner.before()
        whole.append(sum(not layer.gradient_checkpointing for layer in layers))
        current["peak"] = next(peaks)
        planner.after()
    assert whole == [0, 0, 2, 5]  # (20 - 10) GiB of headroom at 2 GiB a layer
    assert planner.unchecked == 5 and planner.earlier_peak == 30 * gib
