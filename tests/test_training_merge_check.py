import errno
import json
from pathlib import Path

import pytest
import test_training_tiny
from test_training_tiny import tiny_config

from training import layout
from training.artifacts import provenance, sha256_file
from training.check import CHECK_FILE, CheckFailed, check
from training.config import load_config
from training.merge import NF4_LEVELS, MergeError, merge, nf4_roundtrip
from training.train import train

tiny_base = test_training_tiny.tiny_base
ANSWER = "the ship hummed."


def short_answer_data(folder: Path) -> None:
    """Examples whose answer is always the same short line: easy to learn to stop after."""
    folder.mkdir(parents=True)
    for name, count in (("training.jsonl", 16), ("validation.jsonl", 4)):
        rows = [
            {
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": f"scene {i} with the storm"},
                    {"role": "assistant", "content": ANSWER},
                ]
            }
            for i in range(count)
        ]
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    files = {n: sha256_file(folder / n) for n in ("training.jsonl", "validation.jsonl")}
    (folder / "manifest.json").write_text(json.dumps(provenance("prepare", {}, files=files)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("merge")
    short_answer_data(tmp / "prepared")
    overrides = {
        "learning_rate": 0.03,
        "micro_batch_size": 4,
        "max_steps": 40,
        "eval_steps": 10,
        "save_steps": 20,
    }
    config = tiny_config(tmp, tiny_base, **overrides)
    return config, train(load_config(config)).path


def test_nf4_roundtrip_lands_on_the_code_book_and_is_idempotent() -> None:
    import torch

    torch.manual_seed(0)
    weight = torch.randn(8, 64) * 0.02
    once = nf4_roundtrip(weight)
    assert torch.equal(nf4_roundtrip(once), once)
    scale = weight.abs().amax(dim=1, keepdim=True)
    codes = (once / scale).flatten().tolist()
    assert all(min(abs(c - level) for level in NF4_LEVELS) < 1e-5 for c in codes)
    assert float((once - weight).abs().max()) < 0.2 * float(weight.abs().max())


def test_merge_writes_a_servable_folder_and_check_passes(trained: tuple[Path, Path]) -> None:
    config, adapter = trained
    cfg = load_config(config)
    merged = merge(cfg.with_run(adapter=adapter)).path
    assert merged.name == adapter.parent.name
    config_json = json.loads((merged / "config.json").read_text())
    assert "quantization_config" not in config_json
    assert config_json["architectures"] == ["LlamaForCausalLM"]
    assert list(merged.glob("*.safetensors"))
    tokenizer_config = json.loads((merged / "tokenizer_config.json").read_text())
    assert tokenizer_config["pad_token"] != tokenizer_config["eos_token"]
    assert (merged / "chat_template.jinja").is_file() or "chat_template" in tokenizer_config
    assert (merged / "generation_config.json").is_file()
    assert json.loads((merged / "loregate_merge.json").read_text())["versions"]["peft"]

    check(cfg.with_run(adapter=adapter, merged=merged))
    record = json.loads((merged / CHECK_FILE).read_text())
    assert record["passed"] is True
    logits = record["results"]["logits"]
    assert logits["max_abs_diff_vs_adapter"] < logits["atol"] < logits["max_abs_diff_vs_base"]
    generation = record["results"]["generation"]
    assert generation["stopped_on_eos"] and generation["text"].strip() == ANSWER
    assert abs(record["results"]["size"]["ratio"] - 1.0) < 0.01


def test_check_fails_a_model_that_never_stops(trained: tuple[Path, Path]) -> None:
    config, adapter = trained
    cfg = load_config(config, {"loregate": {"check": {"max_new_tokens": 2}}})
    merged = merge(cfg.with_run(adapter=adapter, merged=layout.merged_root(cfg) / "short")).path
    with pytest.raises(CheckFailed, match="did not end on <\\|im_end\\|>"):
        check(cfg.with_run(adapter=adapter, merged=merged))
    assert json.loads((merged / CHECK_FILE).read_text())["passed"] is False


def test_full_disk_leaves_no_half_written_model(
    trained: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import PreTrainedModel

    config, adapter = trained
    cfg = load_config(config)
    target = cfg.path(cfg.loregate.merged_dir) / "full-disk"

    def no_space(self, folder, *args, **kwargs):
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "model.safetensors").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", no_space)
    with pytest.raises(MergeError, match="disk full"):
        merge(cfg.with_run(adapter=adapter, merged=target))
    assert not target.exists()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".tmp-")]


def test_missing_base_or_adapter_is_one_clear_error(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    config, adapter = trained
    with pytest.raises(MergeError, match="not a LoRA adapter"):
        merge(load_config(config).with_run(adapter=tmp_path))
    with pytest.raises(MergeError, match="does not exist"):
        gone = load_config(config, {"base_model": str(tmp_path / "gone")})
        merge(gone.with_run(adapter=adapter, merged=tmp_path / "o"))


def test_the_stop_test_asks_under_the_voices_own_style_prompt(tmp_path: Path) -> None:
    """`system_prompts: varied` mixes rows under a client's prompt or none into validation;
    the stop test takes the shortest request under the style prompt prepare wrote."""
    from training.check import _validation_prompt

    style = "You write fiction in the author's voice."
    rows = [("You are a helpful assistant.", "short client ask", "x"),
            (None, "shortest, no prompt", ""),
            (style, "a long style ask", "y" * 50),
            (style, "the short style ask", "y" * 10)]
    data = tmp_path / "prepared"
    data.mkdir()
    (data / "validation.jsonl").write_text("".join(json.dumps({"messages": [
        *([{"role": "system", "content": system}] if system else []),
        {"role": "user", "content": user}, {"role": "assistant", "content": answer}]}) + "\n"
        for system, user, answer in rows))
    cfg = load_config(tiny_config(tmp_path, tmp_path / "base"))
    assert _validation_prompt(cfg) == (None, "shortest, no prompt")  # no style prompt known
    (data / layout.STYLE_PROMPT).write_text(style + "\n")
    assert _validation_prompt(cfg) == (style, "the short style ask")
