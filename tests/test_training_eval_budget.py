"""Evaluation in proportion: a fixed, token-capped validation sample with its own progress
bar, a share of the run's time it may take, and Ctrl-C honoured inside it as in training."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import test_training_tiny
from test_training_runner import with_every_eval
from test_training_tiny import tiny_config, write_corpus

from training.chatdata import Example, eval_sample
from training.config import load_config
from training.prepare import prepare
from training.runner import TrainingInterrupted, _eval_in_budget
from training.train import train

tiny_base = test_training_tiny.tiny_base


@pytest.fixture
def cfg_path(tmp_path: Path, tiny_base: Path) -> Path:
    write_corpus(tmp_path / "raw", chapters=5)
    path = tiny_config(tmp_path, tiny_base)
    with_every_eval(path)
    prepare(load_config(path))
    return path


def examples(lengths: list[int]) -> list[Example]:
    return [Example(input_ids=[i] * n, labels=[i] * n) for i, n in enumerate(lengths)]


def test_eval_sample_is_capped_by_tokens_fixed_and_spread_over_the_set() -> None:
    val = examples([100 + (i * 37) % 400 for i in range(168)])  # the 168 passages
    sample = eval_sample(val, 8192)
    assert sum(len(e.input_ids) for e in sample) <= 8192
    assert 10 < len(sample) < len(val)
    assert eval_sample(val, 8192) == sample  # the same examples every evaluation
    picked = [e.input_ids[0] for e in sample]
    assert picked == sorted(picked)  # in the set's order
    assert min(picked) < 168 // 4 and max(picked) > 3 * 168 // 4  # from all over the set
    assert eval_sample(val, None) == val and eval_sample(val, 10**9) == val
    assert len(eval_sample(examples([5000, 300]), 100)) == 1  # never empty


def test_a_due_evaluation_waits_while_evaluations_exceed_their_share() -> None:
    def run(eval_seconds: float, seconds: float, share: float | None = 0.1):
        state = SimpleNamespace(
            eval_seconds=eval_seconds, seconds=seconds, step=10, base_eval_seconds=1.0
        )
        cfg = SimpleNamespace(loregate=SimpleNamespace(eval_share=share))
        bar = SimpleNamespace(lines=[], write=lambda line: bar.lines.append(line))
        state.last_eval_seconds = 0.0  # none yet: an evaluation costs what the base's did
        return SimpleNamespace(cfg=cfg, state=state, bar=bar, eval_deferred=False, total=10)

    assert _eval_in_budget(run(5.0, 105.0))  # 5 s (+1 s for the base) of 100 s training
    assert not _eval_in_budget(run(9.5, 104.5))  # the base's second tips it over
    late = run(20.0, 120.0)
    assert not _eval_in_budget(late) and not _eval_in_budget(late)
    assert len(late.bar.lines) == 1 and "eval_share 10%" in late.bar.lines[0]  # said once
    assert _eval_in_budget(run(20.0, 120.0, share=None))


def test_evaluation_shows_its_own_progress(cfg_path: Path, capsys: pytest.CaptureFixture) -> None:
    train(load_config(cfg_path, {"max_steps": 2}))
    assert "eval: " in capsys.readouterr().err  # the eval bar, beside the train bar


def test_ctrl_c_inside_an_evaluation_leaves_a_resumable_checkpoint(
    cfg_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.eval_loss as eval_loss
    import training.runner as runner

    cfg = load_config(cfg_path, {"max_steps": 4})
    real = eval_loss.eval_batch_loss
    calls = {"evals": 0}

    def interrupt_in_the_second_evaluation(model, batch, pad_id, levers):
        if calls["evals"] == 1:  # the base at step 0 went through; now step 2's
            raise KeyboardInterrupt
        return real(model, batch, pad_id, levers)

    real_evaluate = runner.evaluate_loss

    def counting(*args, **kwargs):
        try:
            return real_evaluate(*args, **kwargs)
        finally:
            calls["evals"] += 1

    monkeypatch.setattr(eval_loss, "eval_batch_loss", interrupt_in_the_second_evaluation)
    monkeypatch.setattr(runner, "evaluate_loss", counting)
    with pytest.raises(TrainingInterrupted, match=r"after step 2/4; checkpoint .*checkpoint-2"):
        train(cfg)
    run = next((cfg.path(cfg.output_dir)).glob("run-*"))
    assert (run / "checkpoint-2" / "optimizer.pt").is_file()

    monkeypatch.setattr(eval_loss, "eval_batch_loss", real)
    monkeypatch.setattr(runner, "evaluate_loss", real_evaluate)
    train(cfg.with_run(resume=run))
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4]
    assert (run / "final" / "adapter_model.safetensors").is_file()


def test_ctrl_c_in_the_base_evaluation_is_honoured_too(
    cfg_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.eval_loss as eval_loss

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(eval_loss, "eval_batch_loss", interrupt)
    with pytest.raises(TrainingInterrupted, match=r"after step 0/.*--resume"):
        train(load_config(cfg_path, {"max_steps": 2}))


def test_ignored_axolotl_keys_are_named_once_and_lora_target_linear_is_honoured(
    cfg_path: Path, capsys: pytest.CaptureFixture
) -> None:
    overrides = {
        "max_steps": 1,
        "wandb_project": "style",
        "hub_model_id": "me/style",
        "lora_target_modules": ["q_proj"],
        "lora_target_linear": True,
    }
    best = train(load_config(cfg_path, overrides)).path
    out = capsys.readouterr().out
    assert out.count("ignores hub_model_id, wandb_project (axolotl reads them)") == 1
    adapter = json.loads((best / "adapter_config.json").read_text())
    targeted = {name.rsplit(".", 1)[-1] for name in adapter["target_modules"]}
    assert {"q_proj", "down_proj", "gate_proj"} <= targeted  # every linear layer, not only q_proj


def test_the_sample_shrinks_so_the_base_and_last_evaluations_fit_the_share(
    cfg_path: Path,
) -> None:
    from training.runner import eval_token_budget

    cfg = load_config(cfg_path, {"loregate": {"eval_share": 0.1, "eval_tokens": 8192}})
    assert eval_token_budget(cfg, 10_000_000) == 8192  # a long run: the configured cap
    assert eval_token_budget(cfg, 50_000) == 2000  # a short one: 2 evals in 4/5 of 10 %
    assert eval_token_budget(cfg, 3) == 1
    unbudgeted = load_config(cfg_path, {"loregate": {"eval_share": None, "eval_tokens": None}})
    assert eval_token_budget(unbudgeted, 50_000) is None
