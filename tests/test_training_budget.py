"""The time budget in the runner: measure, plan, print, train to the plan; Ctrl-C while
measuring is honoured at once; measuring leaves the run exactly as it would have been."""

import json
import time
from pathlib import Path

import pytest
import test_training_tiny
from test_training_tiny import tiny_config, write_corpus

from training import budget
from training.config import load_config
from training.errors import TrainingInterrupted
from training.prepare import prepare
from training.train import train

tiny_base = test_training_tiny.tiny_base


@pytest.fixture
def cfg_path(tmp_path: Path, tiny_base: Path) -> Path:
    write_corpus(tmp_path / "raw", chapters=6)
    path = tiny_config(tmp_path, tiny_base, num_epochs=2)
    prepare(load_config(path))
    return path


def _losses(run: Path) -> list[float]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines if "loss" in json.loads(line)]


def test_a_cpu_run_plans_within_its_budget_and_says_so(
    cfg_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = train(load_config(cfg_path)).path.parent  # loregate.budget_minutes: auto
    out = capsys.readouterr().out
    assert "train: plan (within 20 min)" in out and "expected to finish at" in out
    plan = json.loads((run / budget.PLAN_FILE).read_text())
    assert plan["full_epochs"]  # a tiny corpus: the configured epochs fit easily
    assert plan["measured"]["train_seconds_per_token"] > 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["total_steps"] == plan["steps"] and summary["planned_seconds"] > 0
    assert "against a plan of" in out


def test_a_binding_budget_trains_a_spread_sample_and_measuring_changes_nothing(
    cfg_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unbudgeted = train(load_config(cfg_path, {"loregate": {"budget_minutes": None}})).path.parent
    assert not (unbudgeted / budget.PLAN_FILE).exists()
    measured = train(load_config(cfg_path)).path.parent
    assert _losses(measured) == pytest.approx(_losses(unbudgeted), abs=1e-6)

    # a machine where a token costs 10 ms: 1 minute holds only a few steps
    monkeypatch.setattr(budget, "measure_rates", lambda *a, **k: (0.01, 0.004))
    short = train(load_config(cfg_path, {"loregate": {"budget_minutes": 1}})).path.parent
    plan = json.loads((short / budget.PLAN_FILE).read_text())
    summary = json.loads((short / "summary.json").read_text())
    assert not plan["full_epochs"]
    # steps ran far faster than "measured": the run grew, up to the epochs over its sample
    assert plan["steps"] < summary["total_steps"] <= len(plan["passages"])  # 2 epochs of 2s
    assert summary["examples"] == len(plan["passages"]) < plan["of_passages"]
    assert plan["total_seconds"] <= 60
    picked = plan["passages"]
    assert picked[0] < plan["of_passages"] / 4 and picked[-1] > plan["of_passages"] * 3 / 4


def test_ctrl_c_while_measuring_stops_at_once_with_nothing_trained(
    cfg_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = budget.summed_loss
    calls = {"n": 0}

    def interrupt_on_the_second_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(budget, "summed_loss", interrupt_on_the_second_batch)
    began = time.perf_counter()
    with pytest.raises(TrainingInterrupted, match="while measuring"):
        train(load_config(cfg_path))
    assert time.perf_counter() - began < 30
    assert calls["n"] == 2  # nothing ran after the interrupt
