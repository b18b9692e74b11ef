"""Count lore tokens the way the served model will: its own tokenizer, or a logged estimate."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from retrieval.settings import REPO
from training.layout import served_model  # stdlib only: the gateway pulls no training deps

log = logging.getLogger("retrieval.tokens")

CANDIDATE_DIRS = (served_model(REPO), REPO / "models" / "SmolLM2-135M-Instruct")


def estimate_tokens(text: str) -> int:
    """Rough count (4 characters a token) for when no tokenizer can be found."""
    return (len(text) + 3) // 4


def tokenizer_folder(configured: Path | None) -> Path | None:
    if configured is not None:
        return configured
    return next((folder for folder in CANDIDATE_DIRS if (folder / "tokenizer.json").exists()), None)


def load_counter(configured: Path | None) -> tuple[Callable[[str], int], str]:
    """(count_tokens, description). Falls back to the estimate, loudly, if nothing loads."""
    folder = tokenizer_folder(configured)
    if folder is None:
        log.warning("no tokenizer found (looked in %s); counting lore tokens as characters/4. "
                    "Set GATEWAY_TOKENIZER_DIR to the served model's folder for exact counts.",
                    ", ".join(str(d) for d in CANDIDATE_DIRS))
        return estimate_tokens, "estimate (characters/4)"
    try:
        count = _tokenizer_counter(folder)
    except Exception as exc:  # any load failure degrades to the estimate, never blocks lore
        log.warning("cannot load the tokenizer in %s (%s); counting lore tokens as "
                    "characters/4", folder, exc)
        return estimate_tokens, "estimate (characters/4)"
    return count, str(folder)


def _tokenizer_counter(folder: Path) -> Callable[[str], int]:
    tokenizer_file = folder / "tokenizer.json"
    if tokenizer_file.exists():
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(tokenizer_file))

        def count(text: str) -> int:
            return len(tokenizer.encode(text, add_special_tokens=False).ids)
    else:
        from transformers import AutoTokenizer

        auto = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)

        def count(text: str) -> int:
            return len(auto.encode(text, add_special_tokens=False))

    return lru_cache(maxsize=8192)(count)
