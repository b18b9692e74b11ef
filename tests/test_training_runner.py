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
    prepare(load_config(path))
    return path


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


def test_run_folder_holds_config_metrics_curve_and_best(cfg_path: Path) -> None:
    best = train(load_config(cfg_path, {"max_steps": 6}))
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
    unbroken = train(cfg).parent / "final" / "adapter_model.safetensors"

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

    train(cfg, resume=str(run))
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
