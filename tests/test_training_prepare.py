import json
from pathlib import Path

import pytest
import test_training_tiny
from test_training_tiny import tiny_config, write_corpus

from training.cli import main
from training.config import load_config
from training.prepare import PrepareError, prepare, read_manifest

tiny_base = test_training_tiny.tiny_base


def prepared(tmp_path: Path, base: Path, **prepare_overrides: object) -> Path:
    write_corpus(tmp_path / "raw", chapters=5)
    cfg = load_config(tiny_config(tmp_path, base), {"loregate": {"prepare": prepare_overrides}})
    return prepare(cfg).path


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_prepare_writes_chat_examples_stats_and_manifest(tmp_path: Path, tiny_base: Path) -> None:
    out = prepared(tmp_path, tiny_base, system_prompts="style")  # one system prompt for all
    train, validation = rows(out / "training.jsonl"), rows(out / "validation.jsonl")
    assert train and validation
    for row in train + validation:
        roles = [m["role"] for m in row["messages"]]
        assert roles == ["system", "user", "assistant"]
    system = {row["messages"][0]["content"] for row in train + validation}
    assert len(system) == 1 and "third person" in system.pop()
    assert any(r["messages"][1]["content"].startswith("Continue the story") for r in train)

    stats = json.loads((out / "stats.json").read_text())
    manifest = read_manifest(out)
    assert manifest["counts"]["train"] == len(train) == stats["examples"]["train"]
    assert manifest["counts"]["validation"] == len(validation)
    assert set(manifest["sources"]) == {f"chapter-{c:02d}.md" for c in range(1, 6)}
    assert sum(stats["passage_tokens"]["histogram"].values()) == len(train) + len(validation)


def test_split_keeps_each_chapter_on_one_side_and_is_seeded(
    tmp_path: Path, tiny_base: Path
) -> None:
    out = prepared(tmp_path, tiny_base)
    first = (out / "validation.jsonl").read_text()
    val_text = {r["messages"][-1]["content"] for r in rows(out / "validation.jsonl")}
    train_text = {r["messages"][-1]["content"] for r in rows(out / "training.jsonl")}
    raw = {p.name: p.read_text() for p in (tmp_path / "raw").iterdir()}
    for name, text in raw.items():
        in_val = any(t.split("\n\n")[0] in text for t in val_text)
        in_train = any(t.split("\n\n")[0] in text for t in train_text)
        assert not (in_val and in_train), f"{name} straddles the split"
    prepare(load_config(tmp_path / "config.yaml"))
    assert (out / "validation.jsonl").read_text() == first


def test_train_refuses_data_changed_after_prepare(tmp_path: Path, tiny_base: Path) -> None:
    out = prepared(tmp_path, tiny_base)
    with (out / "training.jsonl").open("a") as fh:
        fh.write("{}\n")
    with pytest.raises(PrepareError, match="changed after prepare"):
        read_manifest(out)
    (out / "manifest.json").unlink()
    with pytest.raises(PrepareError, match=r"no manifest\.json"):
        read_manifest(out)


def test_bad_input_gives_one_message_and_exit_1(
    tmp_path: Path, tiny_base: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tiny_config(tmp_path, tiny_base)
    (tmp_path / "raw").mkdir()
    assert main(["prepare", "--config", str(config)]) == 1
    assert "no usable .txt or .md prose" in capsys.readouterr().err

    (tmp_path / "raw" / "short.md").write_text("Too short.\n\nAlso short.\n")
    assert main(["prepare", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "shorter than --min-tokens 40" in err and "lower --min-tokens" in err
    assert not (tmp_path / "prepared" / "manifest.json").exists()

    missing = ["prepare", "--config", str(config), "--base-model", str(tmp_path / "nope")]
    assert main(missing) == 1
    assert "does not exist" in capsys.readouterr().err
