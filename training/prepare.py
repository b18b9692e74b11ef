"""`prepare(cfg)`: the writer's prose → training.jsonl, validation.jsonl, stats, manifest.

Reads and cleans the files (`sources`), cuts passages (`chunking`), removes duplicates
(`dedupe`), writes one system prompt from the corpus's style (`voice`) and one user turn
per passage (`prompts`), then splits by chapter so neighbouring passages never straddle
train and validation. Every file is written to a temp name and renamed; manifest.json
(counts, hashes, settings, versions) is written last, and `train` refuses data without it.
"""

from __future__ import annotations

import itertools
import json
import random
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from training import layout
from training.artifacts import (
    provenance,
    read_manifest,
    sha256_file,
    write_json_atomic,
    write_text_atomic,
)
from training.chunking import CountTokens, Passage, chunk_scenes, split_structure
from training.config import RunConfig
from training.dedupe import dedupe
from training.errors import PrepareError
from training.prompts import (
    continuation_request,
    llm_requests,
    scene_request,
    system_prompt_for,
)
from training.sources import read_sources
from training.step import StepResult
from training.voice import analyse, system_prompt

HISTOGRAM_EDGES = (0, 100, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 4000)


def token_counter(base_model: Path) -> CountTokens:
    """Token counts with the base model's own tokenizer (fast Rust path, batched)."""
    tokenizer_file = base_model / "tokenizer.json"
    if tokenizer_file.is_file():
        from tokenizers import Tokenizer

        backend = Tokenizer.from_file(str(tokenizer_file))
    else:
        if not base_model.exists():
            raise PrepareError(
                f"base model {base_model} does not exist; set base_model in the config "
                "(for the embedded default run `make model`)"
            )
        from transformers import AutoTokenizer

        backend = AutoTokenizer.from_pretrained(str(base_model)).backend_tokenizer

    def count(texts: Sequence[str]) -> list[int]:
        encoded = backend.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encoded]

    return count


def _tail(text: str, budget: int, count: CountTokens) -> str:
    """The last whole paragraphs of `text` that fit in `budget` tokens (at least one)."""
    paragraphs = text.split("\n\n")
    sizes = count(paragraphs)
    kept: list[str] = []
    used = 0
    for paragraph, size in zip(reversed(paragraphs), reversed(sizes), strict=True):
        if kept and used + size > budget:
            break
        kept.insert(0, paragraph)
        used += size + 2
    return "\n\n".join(kept)


def split_groups(passages: list[Passage], share: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices for train/validation; whole chapters move together, seeded and stable."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, passage in enumerate(passages):
        groups[passage.group].append(i)
    names = sorted(groups)
    random.Random(seed).shuffle(names)
    want = round(len(passages) * (1.0 - share))
    if share < 1.0 and len(names) > 1:
        want = max(1, want)
    validation: list[int] = []
    for name in names:
        if len(validation) >= want:
            break
        members = groups[name]
        if validation and len(validation) + len(members) > want * 1.5:
            continue  # would overshoot the ratio by too much; a smaller group may fit
        validation.extend(members)
    if len(validation) == len(passages):
        validation = []
    held = set(validation)
    return [i for i in range(len(passages)) if i not in held], sorted(validation)


def _histogram(values: list[int]) -> dict[str, int]:
    bins: dict[str, int] = {}
    for lo, hi in itertools.pairwise(HISTOGRAM_EDGES):
        bins[f"{lo}-{hi}"] = sum(lo <= v < hi for v in values)
    bins[f"{HISTOGRAM_EDGES[-1]}+"] = sum(v >= HISTOGRAM_EDGES[-1] for v in values)
    return bins


def _jsonl(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def prepare(cfg: RunConfig) -> StepResult:
    settings = cfg.loregate.prepare
    source_dir = cfg.path(settings.input)
    out = cfg.path(settings.output)
    if not source_dir.is_dir():
        raise PrepareError(f"input folder {source_dir} does not exist; pass --input <folder>")
    read = read_sources(source_dir)
    for relative, reason in read.skipped:
        print(f"prepare: skipped {relative}: {reason}", file=sys.stderr)
    if not read.sources:
        raise PrepareError(
            f"no usable .txt or .md prose in {source_dir}; add the writer's chapters there "
            "(UTF-8 text, one or more files)"
        )

    count = token_counter(cfg.base_model_path)
    scenes = [s for src in read.sources for s in split_structure(src.text, src.relative)]
    chunks = chunk_scenes(scenes, count, settings.min_tokens, settings.max_tokens,
                          settings.narration_starts)
    if not chunks.passages:
        raise PrepareError(
            f"every fragment of {source_dir} is shorter than --min-tokens {settings.min_tokens} "
            f"({sum(chunks.dropped.values())} dropped); add more prose or lower --min-tokens"
        )
    deduped = dedupe([p.text for p in chunks.passages], settings.near_duplicate_jaccard)
    passages = [chunks.passages[i] for i in deduped.keep]

    profile = analyse([p for s in scenes for p in s.paragraphs])
    system = system_prompt(profile)
    if settings.prompts == "llm":
        assert settings.llm_url is not None  # checked by PrepareSettings
        requests = llm_requests([p.text for p in passages], settings.llm_url, settings.llm_model)
    else:
        requests = [scene_request(p.text, settings.seed + i) for i, p in enumerate(passages)]

    by_position = {(p.group, p.order): p for p in passages}
    systems = [
        system_prompt_for(i, system, settings.system_prompts, settings.seed)
        for i in range(len(passages))
    ]
    system_tokens = [n + 16 for n in count([s or "" for s in systems])]
    style_tokens = count([system])[0] + 16
    for i, passage in enumerate(passages):  # a client's long prompt that would not fit
        if systems[i] not in (None, system) and passage.tokens + system_tokens[i] + 64 > (
            cfg.sequence_len
        ):
            systems[i], system_tokens[i] = system, style_tokens
    rng = random.Random(settings.seed)
    continuations = 0
    for i, passage in enumerate(passages):
        previous = by_position.get((passage.group, passage.order - 1))
        if previous is None or rng.random() >= settings.continuation_share:
            continue
        budget = min(
            settings.max_tokens // 3, cfg.sequence_len - passage.tokens - system_tokens[i]
        )
        if budget < 32:
            continue
        requests[i] = continuation_request(_tail(previous.text, budget, count))
        continuations += 1

    rows = [
        {
            "messages": [
                *([{"role": "system", "content": sys_}] if sys_ else []),
                {"role": "user", "content": request},
                {"role": "assistant", "content": passage.text},
            ],
            "source": passage.group,
        }
        for passage, request, sys_ in zip(passages, requests, systems, strict=True)
    ]
    train_idx, val_idx = split_groups(passages, settings.split, settings.seed)
    example_tokens = count(
        [(s or "") + r + p.text for s, r, p in zip(systems, requests, passages, strict=True)]
    )
    too_long = sum(n + 16 > cfg.sequence_len for n in example_tokens)

    out.mkdir(parents=True, exist_ok=True)
    layout.manifest(out).unlink(missing_ok=True)  # no manifest until every file is whole again
    write_text_atomic(out / "training.jsonl", _jsonl([rows[i] for i in train_idx]))
    write_text_atomic(out / "validation.jsonl", _jsonl([rows[i] for i in val_idx]))
    write_text_atomic(out / layout.STYLE_PROMPT, system + "\n")
    stats = {
        "examples": {"train": len(train_idx), "validation": len(val_idx)},
        "continuation_examples": continuations,
        "system_prompts": {
            "mode": settings.system_prompts,
            "style": sum(s == system for s in systems),
            "none": sum(s is None for s in systems),
            "client": sum(s not in (None, system) for s in systems),
        },
        "passage_tokens": {
            "total": sum(p.tokens for p in passages),
            "min": min(p.tokens for p in passages),
            "max": max(p.tokens for p in passages),
            "histogram": _histogram([p.tokens for p in passages]),
        },
        "examples_over_sequence_len": too_long,
        "dropped": {
            **dict(chunks.dropped),
            "exact duplicates": deduped.exact,
            "near duplicates": deduped.near,
        },
        "dropped_fragment_tokens": chunks.dropped_tokens,
        "paragraphs_split_at_sentences": chunks.paragraphs_split,
        "lines_stripped": read.lines_stripped,
        "skipped_files": dict(read.skipped),
        "style": profile.as_dict(),
        "validation_groups": sorted({passages[i].group for i in val_idx}),
    }
    write_json_atomic(out / "stats.json", stats)
    outputs = ("training.jsonl", "validation.jsonl", layout.STYLE_PROMPT, "stats.json")
    manifest = provenance(
        "prepare",
        settings.model_dump(mode="json"),
        base_model=cfg.base_model,
        counts={"train": len(train_idx), "validation": len(val_idx), "sources": len(read.sources)},
        files={name: sha256_file(out / name) for name in outputs},
        sources={s.relative: s.sha256 for s in read.sources},
    )
    write_json_atomic(layout.manifest(out), manifest)
    _print_report(stats, out, settings.min_tokens)
    return StepResult("prepare", out)


def _print_report(stats: dict, out: Path, min_tokens: int) -> None:  # type: ignore[type-arg]
    ex = stats["examples"]
    tokens = stats["passage_tokens"]
    print(f"prepare: {ex['train']} train + {ex['validation']} validation examples → {out}")
    print(f"  passage tokens: {tokens['total']} total, {tokens['min']}..{tokens['max']} each")
    print("  histogram: " + ", ".join(f"{k}: {v}" for k, v in tokens["histogram"].items() if v))
    dropped = {k: v for k, v in stats["dropped"].items() if v}
    if dropped:
        print(
            "  dropped: "
            + ", ".join(f"{v} {k}" for k, v in dropped.items())
            + f" (fragments under {min_tokens} tokens are too short to teach a scene)"
        )
    if stats["examples_over_sequence_len"]:
        print(
            f"  warning: {stats['examples_over_sequence_len']} examples exceed sequence_len and "
            "will be skipped by train; lower --max-tokens"
        )
    if stats["skipped_files"]:
        print(f"  skipped files: {len(stats['skipped_files'])} (see messages above)")


__all__ = ["PrepareError", "prepare", "read_manifest", "token_counter"]
