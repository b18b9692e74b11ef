"""Chat examples → token ids and labels, loss on the assistant turn only.

The prompt (system + user + the template's assistant header) is rendered with the base
model's own chat template and masked with -100; the assistant's text *and its
end-of-turn token* are labels, so the model learns to stop. The pad token is made
distinct from eos first, so padding can never mask or imitate the end-of-turn token.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.errors import DataError

IGNORE = -100
PAD_CANDIDATES = ("<|endoftext|>", "<|finetune_right_pad_id|>", "<pad>", "<|pad|>")


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    group: str = ""  # where the passage comes from: `file#chapter-N` (prepare's "source")


def ensure_distinct_pad(tokenizer: Any, wanted: str | None = None) -> str:
    """Set a pad token that is not eos, from tokens the vocabulary already has.

    Adding a new token would resize the embeddings and change the served vocabulary, so
    a tokenizer with no spare token is an error that names the key to set.
    """
    eos = tokenizer.eos_token
    vocab = tokenizer.get_vocab()
    current = tokenizer.pad_token
    candidates = ((wanted,) if wanted else ()) + PAD_CANDIDATES + (current, tokenizer.unk_token)
    for candidate in candidates:
        if candidate and candidate != eos and candidate in vocab:
            tokenizer.pad_token = candidate
            return candidate
    raise DataError(
        f"the tokenizer has no token to pad with other than eos {eos!r}; set "
        "special_tokens.pad_token in the config to a token of its vocabulary"
    )


def load_tokenizer(base_model: Path, pad_token: str | None = None) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base_model))
    if tokenizer.eos_token is None:
        raise DataError(f"{base_model}: the tokenizer has no eos (end-of-turn) token")
    if not getattr(tokenizer, "chat_template", None):
        raise DataError(f"{base_model}: the tokenizer has no chat template; pick an instruct model")
    ensure_distinct_pad(tokenizer, pad_token)
    return tokenizer


def encode(tokenizer: Any, messages: list[dict[str, str]]) -> Example:
    if not messages or messages[-1]["role"] != "assistant":
        raise DataError("each example must end with an assistant turn")
    prompt = tokenizer.apply_chat_template(
        messages[:-1], tokenize=False, add_generation_prompt=True
    )
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise DataError("the chat template renders the prompt differently inside a full chat")
    answer = full[len(prompt) :]
    end = answer.find(tokenizer.eos_token)
    if end < 0:
        raise DataError(
            f"the chat template does not close the assistant turn with {tokenizer.eos_token}"
        )
    end += len(tokenizer.eos_token)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer[:end], add_special_tokens=False)["input_ids"]
    rest_ids = (
        tokenizer(answer[end:], add_special_tokens=False)["input_ids"] if answer[end:] else []
    )
    return Example(
        input_ids=prompt_ids + answer_ids + rest_ids,
        labels=[IGNORE] * len(prompt_ids) + answer_ids + [IGNORE] * len(rest_ids),
    )


def read_examples(path: Path, tokenizer: Any, max_len: int) -> tuple[list[Example], int]:
    """Encoded examples of a prepared jsonl and how many were skipped for being too long."""
    examples: list[Example] = []
    too_long = 0
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            messages = row["messages"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(
                f"{path}:{line_no}: not a chat example ({exc!r}); rerun prepare"
            ) from exc
        example = encode(tokenizer, messages)
        example.group = str(row.get("source", ""))
        if len(example.input_ids) > max_len:
            # Truncating would cut the end-of-turn token off the labels; skip instead.
            too_long += 1
            continue
        examples.append(example)
    return examples, too_long


def micro_batches(
    examples: list[Example], size: int, seed: int, group_by_length: bool
) -> list[list[Example]]:
    """One epoch's micro-batches in a seeded order.

    With `group_by_length` (the runner's reading of axolotl's `sample_packing`), examples
    of similar length share a batch so little is spent on padding; batches stay whole
    examples, so no example attends to another.
    """
    order = list(range(len(examples)))
    rng = random.Random(seed)
    rng.shuffle(order)
    if group_by_length:
        window = size * 16
        order = [
            i
            for start in range(0, len(order), window)
            for i in sorted(order[start : start + window], key=lambda j: len(examples[j].input_ids))
        ]
    batches = [[examples[i] for i in order[s : s + size]] for s in range(0, len(order), size)]
    if group_by_length:
        rng.shuffle(batches)
    return batches


def packed_micro_batches(
    examples: list[Example], size: int, seq_len: int, seed: int
) -> list[list[list[Example]]]:
    """One epoch's micro-batches of `size` rows, each row whole examples of <= seq_len tokens.

    Rows are filled first-fit-decreasing and their order is seeded; the row count (so the
    steps per epoch) is the same every epoch. A short last micro-batch gets empty rows, so
    every micro-batch has one shape (a compiled step then never recompiles).
    """
    from training.speed import first_fit_decreasing

    order = list(range(len(examples)))
    rng = random.Random(seed)
    rng.shuffle(order)
    bins = first_fit_decreasing([len(examples[i].input_ids) for i in order], seq_len)
    rows = [[examples[order[j]] for j in row] for row in bins]
    rng.shuffle(rows)
    rows += [[] for _ in range(-len(rows) % size)]
    return [rows[s : s + size] for s in range(0, len(rows), size)]


def collate_rows(rows: list[list[Example]], seq_len: int, pad_id: int) -> Any:
    """Packed rows → a `PackedBatch` (positions restart and attention stops per example)."""
    from training.speed import collate_packed

    return collate_packed(
        [[e.input_ids for e in row] for row in rows],
        seq_len,
        pad_id,
        label_rows=[[e.labels for e in row] for row in rows],
    )


def collate(batch: list[Example], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, example in enumerate(batch):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        mask[row, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def eval_sample(examples: list[Example], max_tokens: int | None) -> list[Example]:
    """A fixed sample of the validation set of at most `max_tokens` tokens (at least one
    example), spread over the whole set and in its order: the same at every evaluation."""
    chosen = sample_by_tokens([len(e.input_ids) for e in examples], max_tokens)
    return [examples[i] for i in chosen]


def sample_by_tokens(lengths: list[int], max_tokens: int | None) -> list[int]:
    """Indices (in order) of a sample of at most `max_tokens` tokens, at least one item.

    Items are taken in golden-ratio order (i * 0.618... mod 1), whose every prefix is
    spread evenly over the set, until the next one would not fit the budget.
    """
    if max_tokens is None or sum(lengths) <= max_tokens:
        return list(range(len(lengths)))
    order = sorted(range(len(lengths)), key=lambda i: (i * 0.6180339887498949) % 1.0)
    chosen: list[int] = []
    used = 0
    for i in order:
        if chosen and used + lengths[i] > max_tokens:
            continue  # a shorter one later may still fit
        chosen.append(i)
        used += lengths[i]
    return sorted(chosen)
