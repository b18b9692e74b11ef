import json
import os
from pathlib import Path

import pytest
import yaml

from training import deploy as deploy_module
from training.check import CHECK_FILE
from training.config import REPO_ROOT, load_config
from training.deploy import DeployError, deploy, running_vllm


def fake_model(root: Path, name: str, passed: bool | None = True) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"hidden_size": 64, "intermediate_size": 128}))
    if passed is not None:
        (folder / CHECK_FILE).write_text(json.dumps({"passed": passed}))
    return folder


@pytest.fixture
def cfg(tmp_path: Path):
    path = tmp_path / "c.yaml"
    base = fake_model(tmp_path, "base", passed=None)
    path.write_text(
        yaml.safe_dump(
            {
                "extends": str(REPO_ROOT / "configs" / "train_embedded.yaml"),
                "base_model": str(base),
                "output_dir": str(tmp_path / "checkpoints"),
                "loregate": {"merged_dir": str(tmp_path / "merged_models"),
                             "voices_dir": str(tmp_path / "voices")},
            }
        )
    )
    return load_config(path).with_run(serve_merged=True)


def target(link: Path) -> str:
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))  # relative: movable
    return link.resolve().name


# -- merged models (deploy --merged) --------------------------------------------------------
def test_deploy_switches_to_the_newest_checked_model_and_rolls_back(
    cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deploy_module, "VLLM_PID", tmp_path / "no.pid")
    root = tmp_path / "merged_models"
    fake_model(root, "run-20250101-000000")
    fake_model(root, "run-20250102-000000")
    link = deploy(cfg).path
    assert target(link) == "run-20250102-000000"
    deploy(cfg.with_run(target="run-20250101-000000"))
    assert target(link) == "run-20250101-000000"
    deploy(cfg.with_run(rollback=True))
    assert target(link) == "run-20250102-000000"
    deploy(cfg.with_run(target=cfg.base_model_path))  # the base itself is always allowed
    assert target(link) == "base"
    assert not [p for p in root.iterdir() if p.name.startswith(".current")]
    assert {p.name for p in root.iterdir() if p.is_dir() and not p.is_symlink()} == {
        "run-20250101-000000",
        "run-20250102-000000",
    }  # nothing is ever deleted


def test_unchecked_or_failed_models_are_refused_and_current_is_kept(cfg, tmp_path: Path) -> None:
    root = tmp_path / "merged_models"
    fake_model(root, "run-1")
    deploy(cfg.with_run(target="run-1"))
    fake_model(root, "run-2", passed=None)
    fake_model(root, "run-3", passed=False)
    with pytest.raises(DeployError, match="never checked"):
        deploy(cfg.with_run(target="run-2"))
    with pytest.raises(DeployError, match="failed its check"):
        deploy(cfg.with_run(target="run-3"))
    with pytest.raises(DeployError, match="not a model folder"):
        deploy(cfg.with_run(target="run-404"))
    assert target(root / "current") == "run-1"


def test_rollback_with_no_history_says_so(cfg) -> None:
    with pytest.raises(DeployError, match="nothing to roll back to"):
        deploy(cfg.with_run(rollback=True))


def test_a_running_stack_is_detected_from_the_pid_file(
    cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pid_file = tmp_path / "vllm.pid"
    pid_file.write_text(str(os.getpid()))
    assert running_vllm(pid_file) == os.getpid()
    monkeypatch.setattr(deploy_module, "VLLM_PID", pid_file)
    fake_model(tmp_path / "merged_models", "run-1")
    deploy(cfg)
    out = capsys.readouterr().out
    assert f"vLLM pid {os.getpid()}" in out and "503" in out
    pid_file.write_text("999999999")
    assert running_vllm(pid_file) is None


def test_merged_deploy_moves_the_link_the_serving_stack_watches(
    cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = tmp_path / "stack_models"
    monkeypatch.setenv("LOREGATE_MERGED_MODELS", str(stack))
    fake_model(stack, "run-1")
    deploy(cfg)
    assert target(stack / "current") == "run-1"
    assert not (tmp_path / "merged_models" / "current").exists()
