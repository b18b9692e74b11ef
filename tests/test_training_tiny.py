"""A tiny chat model built in the test (ChatML tokenizer + 2-layer Llama), shared by the
training unit tests so prepare → train → merge → check runs on a CPU in seconds."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_WORD_TEXT = """
    the ship hummed and elena said nothing while marcus watched the coolant line shake
    pressure found the weak seam she held the valve with her arm and the deck breathed
    patience counted four reasons the storm came in slow over the harbour lights
"""
WORDS = _WORD_TEXT.split()
NAMES = ["Elena", "Marcus", "Patience", "Reyes", "Brandt"]


def sentence(rng: random.Random, length: int) -> str:
    words = [rng.choice(WORDS) for _ in range(length)]
    if rng.random() < 0.5:
        words[rng.randrange(1, length)] = rng.choice(NAMES)
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random, sentences: int) -> str:
    return " ".join(sentence(rng, rng.randint(3, 12)) for _ in range(sentences))


def write_corpus(folder: Path, chapters: int = 4, scenes: int = 3, seed: int = 0) -> Path:
    """Markdown chapters with headings, scene breaks and paragraphs of varied length."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for c in range(1, chapters + 1):
        parts = [f"# Chapter {c}: Test"]
        for s in range(scenes):
            if s:
                parts.append("***")
            parts.extend(paragraph(rng, rng.randint(2, 6)) for _ in range(rng.randint(3, 6)))
        (folder / f"chapter-{c:02d}.md").write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return folder


def build_tiny_base(folder: Path) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token=None))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    rng = random.Random(1)
    backend.train_from_iterator([paragraph(rng, 4) for _ in range(200)], trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",  # like SmolLM2: pad == eos, which the pipeline must fix
        unk_token="<|endoftext|>",
        bos_token="<|im_start|>",
    )
    tokenizer.chat_template = CHATML
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(folder))
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        initializer_range=0.5,  # frozen embeddings large enough for confident logits
        eos_token_id=eos,
        # not eos: a random init zeroes the padding_idx row, and with tied embeddings a
        # zero eos row could never be predicted
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        bos_token_id=tokenizer.convert_tokens_to_ids("<|im_start|>"),
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(str(folder))
    (folder / "generation_config.json").write_text(
        json.dumps({"eos_token_id": eos, "pad_token_id": eos}), encoding="utf-8"
    )
    return folder


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_base(tmp_path_factory.mktemp("tiny") / "base")


def tiny_config(tmp: Path, base: Path, **overrides: object) -> Path:
    """A config file for the tiny model whose every path lives under `tmp`."""
    import yaml

    data = {
        "extends": str(Path(__file__).resolve().parent.parent / "configs" / "train_embedded.yaml"),
        "base_model": str(base),
        "datasets": [{"path": str(tmp / "prepared" / "training.jsonl")}],
        "test_datasets": [{"path": str(tmp / "prepared" / "validation.jsonl"), "split": "train"}],
        "output_dir": str(tmp / "checkpoints"),
        "peft_layers_to_transform": None,
        "lora_r": 8,
        "lora_alpha": 16,
        "learning_rate": 0.01,
        "micro_batch_size": 2,
        "gradient_accumulation_steps": 1,
        "num_epochs": 1,
        "eval_steps": 2,
        "save_steps": 2,
        "logging_steps": 1,
        "special_tokens": {"pad_token": None},
        "loregate": {
            "torch_threads": 1,
            "merged_dir": str(tmp / "merged_models"),
            "prepare": {
                "input": str(tmp / "raw"),
                "output": str(tmp / "prepared"),
                "min_tokens": 40,
                "max_tokens": 200,
                "split": 0.75,
                "continuation_share": 0.3,
            },
            "check": {"max_new_tokens": 24, "prompt": None},  # the validation request
        },
    }
    for key, value in overrides.items():  # `loregate` is merged: its paths stay under tmp
        data[key] = {**data[key], **value} if key == "loregate" else value
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_tiny_tokenizer_speaks_chatml(tiny_base: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_base))
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "the ship"}], tokenize=False, add_generation_prompt=True
    )
    assert text == "<|im_start|>user\nthe ship<|im_end|>\n<|im_start|>assistant\n"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in ids
    assert tokenizer.decode(ids) == text
