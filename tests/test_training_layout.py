"""The run layout: where runs, checkpoints, adapters, merged models and the deployed link
live, and the options of one invocation that never end up in a run's saved config."""

from pathlib import Path

import pytest
import yaml

from training import layout
from training.config import REPO_ROOT, load_config, save_config
from training.errors import TrainingError


@pytest.fixture
def cfg(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({
        "extends": str(REPO_ROOT / "configs" / "train_embedded.yaml"),
        "output_dir": str(tmp_path / "checkpoints"),
        "loregate": {"merged_dir": str(tmp_path / "merged_models")},
    }))
    return load_config(path)


def checkpoint(run: Path, step: int) -> Path:
    folder = layout.checkpoint_dir(run, step)
    folder.mkdir(parents=True)
    (folder / layout.TRAINER_STATE).write_text("{}")
    return folder


def test_runs_checkpoints_and_resume_points(cfg, tmp_path: Path) -> None:
    root = layout.runs_root(cfg)
    with pytest.raises(TrainingError, match="no runs in"):
        layout.latest_run(root)
    first, second = layout.new_run_dir(root), layout.new_run_dir(root)
    assert first != second and first.name.startswith(layout.RUN_PREFIX)
    assert layout.latest_run(root) == second
    with pytest.raises(TrainingError, match="no checkpoint to resume from"):
        layout.resume_point("latest", root)
    for step in (20, 100, 3):
        checkpoint(second, step)
    (second / "checkpoint-200").mkdir()  # half written: no trainer_state.json
    assert [p.name for p in layout.checkpoints(second)] == [
        "checkpoint-3", "checkpoint-20", "checkpoint-100"
    ]
    assert layout.resume_point("latest", root) == (second, second / "checkpoint-100")
    assert layout.resume_point(second.name, root) == (second, second / "checkpoint-100")
    assert layout.resume_point(str(second / "checkpoint-20"), root) == (
        second, second / "checkpoint-20"
    )


def test_adapters_merged_models_and_the_deployed_link(
    cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = layout.new_run_dir(layout.runs_root(cfg))
    assert layout.default_adapter(cfg) == run / "best"
    assert layout.run_name(run / "final") == run.name == layout.run_name(run)
    assert layout.merged_model(cfg, run / "best") == tmp_path / "merged_models" / run.name
    assert layout.check_marker(tmp_path) == tmp_path / "loregate_check.json"
    assert layout.deployed_link(tmp_path) == tmp_path / "current"
    monkeypatch.delenv(layout.MERGED_MODELS_ENV, raising=False)
    assert layout.served_model(REPO_ROOT) == REPO_ROOT / "merged_models" / "current"
    monkeypatch.setenv(layout.MERGED_MODELS_ENV, str(tmp_path))
    assert layout.served_model(REPO_ROOT) == tmp_path / "current"


def test_invocation_options_are_never_saved_with_a_run(cfg, tmp_path: Path) -> None:
    asked = cfg.with_run(resume="latest", adapter=tmp_path / "a", rollback=True)
    assert asked.loregate.run.adapter == str(tmp_path / "a")
    assert cfg.loregate.run.adapter is None  # with_run copies
    saved = yaml.safe_load(save_config(asked, tmp_path / "config.yaml").read_text())
    assert "run" not in saved["loregate"] and "eval" not in saved["loregate"]
    assert saved == yaml.safe_load(save_config(cfg, tmp_path / "plain.yaml").read_text())
