from pathlib import Path

import pytest
import yaml

from training.config import REPO_ROOT, ConfigError, load_config, read_layers, save_config

QLORA = REPO_ROOT / "configs" / "qlora_style_transfer.yaml"
EMBEDDED = REPO_ROOT / "configs" / "train_embedded.yaml"
SEVEN = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"extends": str(EMBEDDED), **data}), encoding="utf-8")
    return path


def test_qlora_recipe_has_the_guides_values_under_axolotl_names() -> None:
    raw = yaml.safe_load(QLORA.read_text())
    assert raw["load_in_4bit"] is True and raw["adapter"] == "qlora"
    assert raw["bnb_config_kwargs"]["bnb_4bit_quant_type"] == "nf4"
    assert (raw["lora_r"], raw["lora_alpha"], raw["lora_dropout"]) == (64, 128, 0.05)
    assert set(raw["lora_target_modules"]) == SEVEN
    assert raw["learning_rate"] == 0.0002 and raw["num_epochs"] == 3
    assert (raw["micro_batch_size"], raw["gradient_accumulation_steps"]) == (4, 4)
    assert raw["sequence_len"] == 2048 and raw["optimizer"] == "paged_adamw_8bit"
    assert raw["lr_scheduler"] == "cosine" and raw["weight_decay"] == 0.01
    assert raw["gradient_checkpointing"] and raw["sample_packing"] and raw["bf16"] is True
    assert (raw["save_steps"], raw["logging_steps"]) == (100, 10)
    assert raw["train_on_inputs"] is False
    dataset = raw["datasets"][0]
    assert dataset["type"] == "chat_template" and dataset["roles_to_train"] == ["assistant"]
    assert dataset["train_on_eos"] == "turn"
    assert raw["special_tokens"]["pad_token"] != "<|eot_id|>"
    assert "loregate" not in raw  # the axolotl file stays pure axolotl
    load_config(QLORA)  # and it validates as a RunConfig


def test_embedded_overrides_the_recipe_for_cpu() -> None:
    cfg = load_config(EMBEDDED)
    assert cfg.base_model == "models/SmolLM2-135M-Instruct"
    assert cfg.adapter == "lora" and not cfg.load_in_4bit and cfg.bf16 is False
    assert set(cfg.lora_target_modules) == SEVEN  # inherited from the recipe
    assert cfg.loregate.backend == "peft"
    assert cfg.loregate.prepare.max_tokens + 150 < cfg.sequence_len
    assert "extends" not in read_layers(EMBEDDED)


def test_unknown_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'lora_rank'.*did you mean 'lora_r'"):
        load_config(write(tmp_path, {"lora_rank": 8}))


def test_unknown_nested_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"loregate\.prepare\.min_token'.*'min_tokens'"):
        load_config(write(tmp_path, {"loregate": {"prepare": {"min_token": 3}}}))


@pytest.mark.parametrize(
    ("key", "value"), [("learning_rate", "fast"), ("lora_r", "16"), ("sample_packing", "yes")]
)
def test_wrong_type_is_named(tmp_path: Path, key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"key '{key}'"):
        load_config(write(tmp_path, {key: value}))


def test_yaml_exponent_learning_rate_is_a_number(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"extends: {EMBEDDED}\nlearning_rate: 2e-4\n", encoding="utf-8")
    assert load_config(path).learning_rate == pytest.approx(2e-4)


def test_bad_combinations_name_both_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"qlora.*load_in_4bit"):
        load_config(write(tmp_path, {"adapter": "qlora"}))
    with pytest.raises(ConfigError, match="min_tokens"):
        load_config(write(tmp_path, {"loregate": {"prepare": {"min_tokens": 900}}}))


def test_missing_file_and_loops_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    loop = tmp_path / "loop.yaml"
    loop.write_text("extends: loop.yaml\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="loops"):
        load_config(loop)


def test_saved_config_round_trips_and_axolotl_copy_drops_loregate(tmp_path: Path) -> None:
    cfg = load_config(EMBEDDED)
    save_config(cfg, tmp_path / "full.yaml")
    save_config(cfg, tmp_path / "axolotl.yaml", axolotl_only=True)
    assert load_config(tmp_path / "full.yaml") == cfg
    axolotl = yaml.safe_load((tmp_path / "axolotl.yaml").read_text())
    assert "loregate" not in axolotl and axolotl["lora_r"] == cfg.lora_r


GUIDE = """\
base_model: meta-llama/Llama-3.1-8B-Instruct
model_type: LlamaForCausalLM
load_in_4bit: true
bnb_4bit_quant_type: nf4
bnb_4bit_compute_dtype: bfloat16
adapter: qlora
lora_r: 64
lora_alpha: 128
lora_dropout: 0.05
lora_target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]
per_device_batch_size: 4
gradient_accumulation_steps: 4
max_seq_length: 2048
num_epochs: 3
learning_rate: 2e-4
warmup_steps: 100
lr_scheduler_type: cosine
"""


def test_the_guides_config_loads_as_written(tmp_path: Path) -> None:
    """The guide's QLoRA config: Hugging Face names, model_type, and no datasets."""
    path = tmp_path / "qlora_style_transfer.yaml"
    path.write_text(GUIDE, encoding="utf-8")
    cfg = load_config(path)
    assert (cfg.micro_batch_size, cfg.sequence_len, cfg.lr_scheduler) == (4, 2048, "cosine")
    assert cfg.warmup_steps == 100 and cfg.learning_rate == pytest.approx(2e-4)
    bnb = {"bnb_4bit_quant_type": "nf4", "bnb_4bit_compute_dtype": "bfloat16"}
    assert cfg.bnb_config_kwargs == bnb
    assert cfg.axolotl_extras == {"model_type": "LlamaForCausalLM"}
    assert cfg.train_file == REPO_ROOT / "training/data/prepared/training.jsonl"
    assert cfg.validation_file == REPO_ROOT / "training/data/prepared/validation.jsonl"
    axolotl = cfg.axolotl_dict()  # what `axolotl train` gets: axolotl's own names
    assert axolotl["micro_batch_size"] == 4 and "per_device_batch_size" not in axolotl
    assert axolotl["warmup_steps"] == 100 and "warmup_ratio" not in axolotl
    assert axolotl["model_type"] == "LlamaForCausalLM"
    save_config(cfg, tmp_path / "saved.yaml")
    assert load_config(tmp_path / "saved.yaml") == cfg


def test_datasets_default_to_the_configured_prepared_folder(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(GUIDE + "loregate:\n  prepare:\n    output: /data/mine\n", encoding="utf-8")
    cfg = load_config(path)
    assert cfg.train_file == Path("/data/mine/training.jsonl")
    assert cfg.validation_file == Path("/data/mine/validation.jsonl")


def test_axolotl_keys_the_runner_does_not_use_are_kept_for_axolotl(tmp_path: Path) -> None:
    extra = {"wandb_project": "style", "hub_model_id": "me/style", "lora_target_linear": True}
    cfg = load_config(write(tmp_path, extra))
    assert cfg.lora_target_linear is True  # honoured by the built-in runner
    assert cfg.axolotl_extras == {"wandb_project": "style", "hub_model_id": "me/style"}
    assert cfg.axolotl_dict()["wandb_project"] == "style"


def test_a_typo_still_fails_naming_the_nearest_key(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(GUIDE + "wandb_projct: style\nper_device_batch_sise: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "unknown key 'wandb_projct' (did you mean 'wandb_project'?)" in message
    assert "unknown key 'per_device_batch_sise' (did you mean 'per_device_batch_size'?)" in message


def test_an_alias_and_its_axolotl_key_in_one_file_must_agree(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'max_seq_length' is axolotl's 'sequence_len'"):
        load_config(write(tmp_path, {"max_seq_length": 512, "sequence_len": 1024}))
    guide = tmp_path / "guide.yaml"
    guide.write_text(GUIDE, encoding="utf-8")
    child = tmp_path / "child.yaml"  # a file extending the guide's overrides it by axolotl names
    child.write_text("extends: guide.yaml\nsequence_len: 1024\n", encoding="utf-8")
    assert load_config(child).sequence_len == 1024
