"""Embeddings with the real all-MiniLM-L6-v2: the direct pipeline (and its traced single-text
path) against a float32 run of the model through sentence-transformers."""

from types import SimpleNamespace

import numpy as np
import pytest

from retrieval import encode
from retrieval.embed import Embedder, _shared_model, _shared_trace, package_model_dir

TEXTS = [
    "Osk followed Elena to the market",
    "the storms when the three moons line up and lightning walks across the sky",
    "Write the scene where Kathovi Selmar and Draquine reach the silent harbour. Keep it tense "
    "and short, and show what the ledger means to them.",
    "the Arcturian child grabbed her wrist",
    "Continue the story.",
    "",
    "She opened the door and stepped into the cold night air. " * 60,  # past the 256-token window
]


@pytest.fixture(scope="module")
def float32_vectors() -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(package_model_dir()), device="cpu", local_files_only=True)
    return np.stack([model.encode([t], normalize_embeddings=True)[0] for t in TEXTS])


@pytest.fixture(scope="module")
def direct() -> Embedder:
    embedder = Embedder(pipeline="direct")
    embedder.load()
    return embedder


def test_direct_vectors_match_the_float32_model(direct, float32_vectors):
    single = np.stack([direct.embed([t])[0] for t in TEXTS])
    assert single.dtype == np.float32
    assert np.allclose(np.linalg.norm(single, axis=1), 1.0, atol=1e-5)
    # sentence-transformers' own encode of the bfloat16 model pools in bfloat16: it comes to
    # about 0.998 on some of these and is not quite unit length
    assert (single * float32_vectors).sum(axis=1).min() >= 0.9995


def test_batches_with_padding_give_the_same_vectors_in_the_same_order(direct):
    single = np.stack([direct.embed([t])[0] for t in TEXTS])
    batched = direct.embed(TEXTS, batch_size=3)
    assert batched.shape == single.shape
    assert (batched * single).sum(axis=1).min() >= 0.9995


def test_the_traced_single_text_path_is_the_module(direct):
    model = _shared_model(direct.folder)
    traced = _shared_trace(direct.folder)
    assert traced is not None
    for text in TEXTS:
        fast = encode.encode(model, [text], single=traced)[0]
        module = encode.encode(model, [text, "padding partner text"], batch_size=1)[0]
        assert float(fast @ module) >= 0.99999


def test_window_keeps_exactly_the_tokens_the_model_reads(direct):
    tokenizer = _shared_model(direct.folder)[0].tokenizer
    chapter = "Ke'ra's skin flashed gold; the Meridian's hull groaned.  New line\n" * 300
    cut = encode.window(chapter, 256)
    assert len(cut) < len(chapter) / 4  # 512 words of 3,000
    whole = tokenizer([chapter], truncation=True, max_length=256)["input_ids"]
    assert tokenizer([cut], truncation=True, max_length=256)["input_ids"] == whole
    assert encode.window("a short query", 256) == "a short query"


def test_only_mean_pooled_models_take_the_direct_path(direct):
    assert encode.supports(_shared_model(direct.folder))

    def named(kind: str, **fields) -> SimpleNamespace:  # a module seen only by its class name
        return type(kind, (SimpleNamespace,), {})(**fields)

    transformer = named("Transformer", auto_model=object(), tokenizer=object())
    assert encode.supports([transformer, named("Pooling", pooling_mode="mean")])
    assert not encode.supports([transformer, named("Pooling", pooling_mode="cls")])
    assert not encode.supports([transformer, named("Pooling", pooling_mode="mean"), named("Dense")])


def test_unknown_pipeline_is_refused():
    with pytest.raises(ValueError, match="direct"):
        Embedder(pipeline="onnx")
