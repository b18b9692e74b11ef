"""`python -m training eval` end to end on a tiny model built in the test (transformers, CPU):
generation, every metric, perplexity, JSON, Markdown report, and --compare."""

import json
import shutil
from pathlib import Path

import pytest

from training.evaluate import main
from training.style import corpora, text

SMOLLM = Path(__file__).resolve().parents[1] / "models" / "SmolLM2-135M-Instruct"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny")
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (SMOLLM / name).exists():
            shutil.copy(SMOLLM / name, folder / name)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=49152, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                         eos_token_id=2, bos_token_id=1)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def prompt_files(tmp_path_factory) -> Path:
    """validation.jsonl and training.jsonl in chat format, the author being Emily Brontë."""
    folder = tmp_path_factory.mktemp("prepared")
    chunks = text.windows(corpora.fiction_by_author()["Emily Bronte"], 400)
    for name, part in (("validation", chunks[24:30]), ("training", chunks[:24])):
        lines = [
            json.dumps({"messages": [
                {"role": "system", "content": "Write in the author's voice."},
                {"role": "user", "content": f"Write scene {i}."},
                {"role": "assistant", "content": passage},
            ]})
            for i, passage in enumerate(part)
        ]
        (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def _eval(tmp_path, tiny_model, prompt_files, seed: int) -> Path:
    output = tmp_path / f"style_{seed}.json"
    code = main([
        "--model", f"tiny-{seed}", "--local-model", str(tiny_model), "--output", str(output),
        "--prompts", str(prompt_files / "validation.jsonl"), "--limit", "3",
        "--max-tokens", "12", "--min-words", "1", "--seed", str(seed),
    ])
    assert code == 0
    return output


def test_eval_writes_every_metric_with_its_settings(tmp_path, tiny_model, prompt_files):
    result = json.loads(_eval(tmp_path, tiny_model, prompt_files, seed=5).read_text())

    assert result["backend"] == "transformers-local"
    assert result["sampling"]["seed"] == 5 and result["sampling"]["max_tokens"] == 12
    assert result["prompts"]["count"] == 3 and len(result["prompts"]["sha256"]) == 64
    assert [g["seed"] for g in result["generations"]] == [5, 5, 5]
    assert result["generations"][0]["reference"].startswith(result["generations"][0]["reference"])
    for key in ("function_word_delta", "char_ngram_delta", "vocabulary_match",
                "sentence_length_distance", "dialogue_share", "pacing_distance"):
        assert key in result["metrics"]
    assert 0 < result["overall_score"] < 100
    # the author's own unseen text scores high, other novelists low, random tokens lower still
    assert result["author_ceiling"]["overall_score"] > 50
    assert result["author_ceiling"]["overall_score"] > result["other_authors_floor"]["mean"]
    assert result["overall_score"] < result["author_ceiling"]["overall_score"]
    # an untrained model spreads its probability over the 49,152-token vocabulary
    assert result["perplexity"]["perplexity"] > 10_000
    assert result["perplexity"]["passages"] == 3


def test_rescore_recomputes_from_stored_generations(tmp_path, tiny_model, prompt_files):
    path = _eval(tmp_path, tiny_model, prompt_files, seed=3)
    before = json.loads(path.read_text())
    before["overall_score"] = -1.0
    path.write_text(json.dumps(before))

    assert main(["--rescore", str(path)]) == 0

    after = json.loads(path.read_text())
    assert 0 < after["overall_score"] < 100
    assert after["generations"] == before["generations"]
    assert after["perplexity"] == before["perplexity"]


def test_compare_prints_deltas_and_writes_a_report(tmp_path, tiny_model, prompt_files, capsys):
    a = _eval(tmp_path, tiny_model, prompt_files, seed=1)
    b = _eval(tmp_path, tiny_model, prompt_files, seed=2)
    capsys.readouterr()
    report = tmp_path / "compare.md"

    assert main(["--compare", str(a), str(b), "--report", str(report)]) == 0

    out = capsys.readouterr().out
    assert "A = tiny-1   B = tiny-2" in out
    assert "closer to the author: tiny-" in out or "no difference" in out
    assert "Cosine Delta" in report.read_text()
    assert (tmp_path / "compare_sentences.png").stat().st_size > 1000
    assert (tmp_path / "compare_metrics.png").stat().st_size > 1000


def test_bad_input_gets_one_clear_message(tmp_path, capsys):
    code = main(["--model", "m", "--url", "http://localhost:1", "--output",
                 str(tmp_path / "x.json"), "--prompts", str(tmp_path / "missing.jsonl")])
    assert code == 1
    assert "python -m training prepare" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()

    assert main(["--compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 2

    with pytest.raises(SystemExit) as exc:
        main(["--model", "m", "--output", str(tmp_path / "x.json")])
    assert exc.value.code == 2
