"""A voice that holds under the client's system prompt: `varied` training pairs carry the
style prompt, none, or a real client's (Continue's CLI prompt among them)."""

import json
from collections import Counter
from pathlib import Path

import pytest
import test_training_tiny
from test_training_tiny import tiny_config, write_corpus

from training.config import load_config
from training.errors import PromptError
from training.prepare import prepare
from training.prompts import (
    CLIENT_SYSTEM_PROMPTS,
    CONTINUE_CLI_SYSTEM_PROMPT,
    system_prompt_for,
)
from training.style import corpora

tiny_base = test_training_tiny.tiny_base


def test_varied_mixes_style_none_and_client_prompts_stably() -> None:
    picks = [system_prompt_for(i, "STYLE", "varied", 1234) for i in range(400)]
    kinds = Counter("style" if p == "STYLE" else "none" if p is None else "client" for p in picks)
    assert 0.18 < kinds["style"] / 400 < 0.32 and 0.18 < kinds["none"] / 400 < 0.32
    assert set(picks) - {"STYLE", None} == set(CLIENT_SYSTEM_PROMPTS)
    assert picks == [system_prompt_for(i, "STYLE", "varied", 1234) for i in range(400)]
    assert {system_prompt_for(i, "STYLE", "style", 1) for i in range(50)} == {"STYLE"}
    with pytest.raises(PromptError, match="varied"):
        system_prompt_for(0, "STYLE", "mixed", 1)


def test_continues_prompt_is_the_one_its_cli_sends() -> None:
    assert CONTINUE_CLI_SYSTEM_PROMPT.startswith("You are an agent in the Continue CLI.")
    assert "<env>" in CONTINUE_CLI_SYSTEM_PROMPT and "headless mode" in CONTINUE_CLI_SYSTEM_PROMPT


def test_prepare_varied_writes_rows_with_and_without_a_system_turn(
    tmp_path: Path, tiny_base: Path
) -> None:
    write_corpus(tmp_path / "raw", chapters=8)
    cfg = load_config(tiny_config(tmp_path, tiny_base, sequence_len=2048),
                      {"loregate": {"prepare": {"system_prompts": "varied"}}})
    out = prepare(cfg).path
    lines = (out / "training.jsonl").read_text().splitlines()
    lines += (out / "validation.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    style = (out / "system_prompt.txt").read_text().strip()
    firsts = [r["messages"][0] for r in rows]
    assert any(m["role"] == "user" for m in firsts)  # no system turn at all
    assert any(m["role"] == "system" and m["content"] == style for m in firsts)
    assert any(m["role"] == "system" and m["content"] in CLIENT_SYSTEM_PROMPTS for m in firsts)
    assert all(r["messages"][-1]["role"] == "assistant" and r["source"] for r in rows)
    stats = json.loads((out / "stats.json").read_text())["system_prompts"]
    assert stats["mode"] == "varied"
    assert stats["style"] + stats["none"] + stats["client"] == len(rows)


def test_the_reference_corpus_has_books_and_never_jane_austen() -> None:
    books = corpora.fiction_books()
    assert not any("austen" in author.lower() for author in books)
    assert set(books["Anne Bronte"]) == {"Agnes Grey", "Tenant of Wildfell Hall"}
    assert len(books["Anne Bronte"]["Agnes Grey"]) == 8  # chapters, in order
    assert books["Anne Bronte"]["Agnes Grey"][0].lstrip().startswith("THE PARSONAGE")
