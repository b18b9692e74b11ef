"""Sentence vectors from a mean-pooled sentence-transformers model, computed directly: tokenizer,
transformer, mean over the real tokens, unit length.

Same vectors as `SentenceTransformer.encode` (its own steps for such a model), minus its
per-call bookkeeping, and pooled in float32 even when the transformer runs in bfloat16, which
keeps the vectors closer to the float32 model's than `encode` does (cosine 0.9999 vs 0.998).
A single text (a query, the latency that counts) runs through a traced copy of the transformer.
"""

from __future__ import annotations

import logging
import re
import warnings
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("retrieval.embed")

WINDOW_WORDS_PER_TOKEN = 2  # spare words kept past the token window, see `window`
TRACE_AGREEMENT = 0.99999  # least cosine between traced and module vectors on the probes
PROBES = ("Elena", "The storms when the three moons line up and lightning walks the sky.")


def supports(model: Any) -> bool:
    """True for Transformer -> mean Pooling [-> Normalize], the all-MiniLM-L6-v2 layout."""
    kinds = [type(module).__name__ for module in model]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return False
    pooling = model[1]
    return (getattr(pooling, "pooling_mode", None) == "mean"
            and getattr(pooling, "include_prompt", True)
            and hasattr(model[0], "auto_model") and hasattr(model[0], "tokenizer"))


def window(text: str, tokens: int) -> str:
    """The start of `text` that still holds its first `tokens` tokens, so a pasted chapter is
    not tokenised whole only to be truncated. Every whitespace-separated word gives at least one
    word piece (bar one made only of control characters, hence the spare words), and pieces
    never span whitespace, so the truncated token ids are exactly those of the whole text."""
    found = _first_words(tokens * WINDOW_WORDS_PER_TOKEN).match(text)
    return text if found is None else text[: found.end()]


@cache
def _first_words(count: int) -> re.Pattern[str]:
    return re.compile(rf"\s*(?:\S+\s+){{{count}}}")


def encode(model: Any, texts: list[str], batch_size: int = 32,
           single: Any | None = None) -> np.ndarray:
    """Unit-length float32 vectors, one row per text, in the order given. `single`, from
    `trace_single`, runs a lone text (a query) without the transformer's Python overhead."""
    import numpy as np
    import torch

    transformer = model[0]
    limit = int(model.max_seq_length)
    if single is not None and len(texts) == 1:
        ids = transformer.tokenizer([window(texts[0], limit)], truncation=True, max_length=limit,
                                    return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            return _unit_mean(single(ids).float()).numpy()
    # similar lengths share a batch, so little padding is computed
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    vectors = np.empty((len(texts), model.get_embedding_dimension()), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = transformer.tokenizer(
                [window(texts[i], limit) for i in rows], padding=True, truncation=True,
                max_length=limit, return_tensors="pt")
            hidden = transformer.auto_model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            vectors[rows] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return vectors


def trace_single(model: Any) -> Any | None:
    """The transformer traced for one unpadded text: the same arithmetic as the module, about
    3 ms a query sooner because Hugging Face's Python around each layer is gone. Only for one
    text with no padding, since the trace fixes what the masking code decided for its example
    (no attention mask: right for any single text). None if tracing fails or disagrees."""
    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self, network: Any) -> None:
            super().__init__()
            self.network = network

        def forward(self, ids: Any) -> Any:
            return self.network(input_ids=ids).last_hidden_state

    transformer = model[0]
    probes = [transformer.tokenizer([text], return_tensors="pt")["input_ids"] for text in PROBES]
    # the tracer reads every attribute, and transformers logs a loss-function notice for one
    chatty = logging.getLogger("transformers.modeling_utils")
    level = chatty.level
    chatty.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            # torch.jit.trace is deprecated (still shipped); the tracer also warns about the
            # masking branches it fixes, which hold for every single unpadded text
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(LastHidden(transformer.auto_model).eval(), (probes[-1],),
                                     check_trace=False)
            agreement = min(
                float((_unit_mean(traced(ids).float())
                       * _unit_mean(transformer.auto_model(input_ids=ids)
                                    .last_hidden_state.float())).sum())
                for ids in probes)
    except Exception as exc:  # an older/newer torch or transformers: the module still works
        log.info("embedding model not traced (%s: %s); running it as a module",
                 type(exc).__name__, exc)
        return None
    finally:
        chatty.setLevel(level)
    if agreement < TRACE_AGREEMENT:
        log.warning("traced embedding model disagrees with the module (cosine %.6f); running "
                    "it as a module", agreement)
        return None
    return traced


def _unit_mean(hidden: Any) -> Any:
    """Mean over the tokens of an unpadded batch, scaled to unit length."""
    import torch

    return torch.nn.functional.normalize(hidden.mean(dim=1), dim=-1)
