import errno
import sys
import types
from pathlib import Path

import pytest
import yaml

from training import cli
from training.config import REPO_ROOT
from training.step import StepResult


def test_eval_is_handed_to_the_evaluate_module(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    fake = types.ModuleType("training.evaluate")
    fake.main = lambda argv: seen.append(argv) or 7
    monkeypatch.setitem(sys.modules, "training.evaluate", fake)
    assert cli.main(["eval", "--compare", "a.json", "b.json"]) == 7
    assert seen == [["--compare", "a.json", "b.json"]]


def test_config_errors_exit_1_with_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bad = tmp_path / "bad.yaml"
    embedded = REPO_ROOT / "configs" / "train_embedded.yaml"
    bad.write_text(yaml.safe_dump({"extends": str(embedded), "num_epochs": "three"}))
    assert cli.main(["train", "--config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "num_epochs" in err and err.count("\n") == 1


def test_a_full_disk_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cli, "run_step", full)
    assert cli.main(["merge"]) == 1
    assert "disk full" in capsys.readouterr().err


def test_flags_become_config_overrides() -> None:
    args = cli._parser().parse_args(
        ["prepare", "--input", "x", "--min-tokens", "500", "--max-tokens", "2000", "--split", "0.9"]
    )
    assert cli._overrides(args) == {
        "loregate": {"prepare": {"input": "x", "min_tokens": 500, "max_tokens": 2000, "split": 0.9}}
    }
    args = cli._parser().parse_args(["train", "--data", "d", "--resume"])
    assert args.resume == "latest"
    assert cli._overrides(args)["datasets"] == [{"path": "d/training.jsonl"}]


def test_every_step_is_one_function_of_one_config() -> None:
    import importlib
    import inspect

    for name, (module, function) in cli.STEPS.items():
        step = getattr(importlib.import_module(module), function)
        params = list(inspect.signature(step).parameters.values())
        assert [p.name for p in params] == ["cfg"], name
        assert inspect.signature(step).return_annotation in ("StepResult", StepResult), name


def test_options_of_one_invocation_go_to_loregate_run() -> None:
    args = cli._parser().parse_args(["check", "--merged", "m", "--adapter", "a"])
    assert cli._overrides(args) == {"loregate": {"run": {"adapter": "a", "merged": "m"}}}
    args = cli._parser().parse_args(["deploy", "run-1", "--rollback"])
    assert cli._overrides(args) == {"loregate": {"run": {"target": "run-1", "rollback": True}}}
    args = cli._parser().parse_args(["merge", "--output", "o", "--nf4-roundtrip"])
    assert cli._overrides(args) == {
        "loregate": {"merge_nf4_roundtrip": True, "run": {"merged": "o"}}
    }
