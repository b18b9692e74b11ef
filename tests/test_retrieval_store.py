"""The Chroma wrapper: model metadata, hashes, queries; embedded and over HTTP."""

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from retrieval import LoreEngine, RetrievalSettings
from retrieval.store import CHUNK_FORMAT, Chunk, IndexMismatch, LoreStore


def unit(rows: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, 8)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_collection_remembers_its_model_and_refuses_another(tmp_path):
    store = LoreStore(tmp_path)
    collection = store.create("w", "model-a", 8)
    assert collection.metadata["chunk_format"] == CHUNK_FORMAT
    store.check_model("w", collection, "model-a", 8)
    with pytest.raises(IndexMismatch, match=r"model-a \(8 dimensions\).*model-b \(16 dimensions\)"):
        store.check_model("w", collection, "model-b", 16)


def test_replace_hashes_and_query(tmp_path):
    store = LoreStore(tmp_path)
    collection = store.create("w", "model-a", 8)
    chunks = [Chunk(f"e{i}#0", f"e{i}", f"h{i}", f"text {i}") for i in range(4)]
    vectors = unit(4, 0)
    store.replace(collection, [], chunks, vectors)
    assert store.stored_hashes(collection) == {f"e{i}": f"h{i}" for i in range(4)}
    nearest = store.query(collection, vectors[2:3], 2)[0]
    assert nearest[0][0] == "e2" and nearest[0][1] == pytest.approx(1.0, abs=1e-4)
    store.replace(collection, ["e2"], [Chunk("e2#0", "e2", "new", "changed")], unit(1, 5))
    assert store.stored_hashes(collection)["e2"] == "new"
    assert collection.count() == 4
    store.drop("w")
    assert store.find("w") is None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_engine_over_a_chroma_server(tmp_path):
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    assert chroma, "the chroma CLI ships with chromadb"
    port = free_port()
    server = subprocess.Popen([chroma, "run", "--path", str(tmp_path / "server"), "--host",
                               "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        world = tmp_path / "worlds" / "w" / "characters"
        world.mkdir(parents=True)
        (world / "elena.md").write_text("---\nname: Elena\n---\nThe chief engineer.\n")
        settings = RetrievalSettings(worlds_dir=tmp_path / "worlds",
                                     index_dir=tmp_path / "unused", chroma_url=url)
        engine = LoreEngine(settings)
        engine.open()
        assert engine.status()["w"]["indexed"]
        assert "The chief engineer." in engine.search("w", "Elena waits.").context
        assert not (tmp_path / "unused").exists()  # nothing embedded on local disk
        assert LoreStore(tmp_path, url).find("w").count() == 1
        engine.close()
    finally:
        server.terminate()
        server.wait(10)
