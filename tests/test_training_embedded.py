"""The real path on the embedded SmolLM2-135M: prepare → train (a few steps) → merge →
check → deploy, all into a temp folder, through the same CLI `make train` uses."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from training.cli import main
from training.config import REPO_ROOT

BASE = REPO_ROOT / "models" / "SmolLM2-135M-Instruct"
RAW = REPO_ROOT / "training" / "data" / "raw"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    if not (BASE / "config.json").is_file():
        pytest.fail(f"{BASE} is missing: run `make model` first")
    chapters = sorted(RAW.glob("chapter-*.md"))[:2]
    assert chapters, f"no sample chapters in {RAW}"
    (tmp_path / "raw").mkdir()
    for chapter in chapters:
        shutil.copy(chapter, tmp_path / "raw" / chapter.name)
    data = {
        "extends": str(REPO_ROOT / "configs" / "train_embedded.yaml"),
        "datasets": [{"path": str(tmp_path / "prepared" / "training.jsonl")}],
        "test_datasets": [{"path": str(tmp_path / "prepared" / "validation.jsonl")}],
        "output_dir": str(tmp_path / "checkpoints"),
        "micro_batch_size": 1,
        "gradient_accumulation_steps": 1,
        "eval_steps": 2,
        "save_steps": 2,
        "loregate": {
            "merged_dir": str(tmp_path / "merged_models"),
            "voices_dir": str(tmp_path / "voices"),
            "prepare": {
                "input": str(tmp_path / "raw"),
                "output": str(tmp_path / "prepared"),
                "min_tokens": 80,
                "max_tokens": 200,
                "split": 0.5,
            },
            "check": {"max_new_tokens": 64},  # the recipe's own stop-test prompt
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_make_train_path_on_the_embedded_model(config: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # no vLLM of the developer's is touched: deploy finds none and only records the voice
    monkeypatch.setenv("LOREGATE_VLLM_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LOREGATE_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.delenv("LOREGATE_VOICES", raising=False)
    c = ["--config", str(config)]
    assert main(["prepare", *c]) == 0
    assert (tmp_path / "prepared" / "validation.jsonl").read_text().strip()
    assert main(["train", *c, "--max-steps", "2"]) == 0
    run = next((tmp_path / "checkpoints").glob("run-*"))
    assert (run / "best" / "adapter_model.safetensors").is_file()
    assert [json.loads(line).get("eval_loss") for line in (run / "metrics.jsonl").open()][-1]

    assert main(["merge", *c]) == 0
    merged = tmp_path / "merged_models" / run.name
    config_json = json.loads((merged / "config.json").read_text())
    assert config_json["pad_token_id"] != config_json["eos_token_id"]

    assert main(["check", *c]) == 0
    record = json.loads((merged / "loregate_check.json").read_text())
    assert record["passed"] and record["results"]["generation"]["stopped_on_eos"]

    assert main(["deploy", *c, "--voice", "sample"]) == 0
    assert (tmp_path / "voices" / "sample" / "current").resolve() == (run / "best").resolve()
    assert main(["deploy", *c, "--merged"]) == 0  # the one-folder way still works
    assert (tmp_path / "merged_models" / "current").resolve() == merged.resolve()
