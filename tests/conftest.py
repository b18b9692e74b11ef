"""Shared test set-up: offline model loading; the repo root (for `tests.fakes`, the test
doubles) and scripts/ on the import path."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
for path in (REPO, REPO / "scripts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


@pytest.fixture
def make_client():
    """`make_client(behaviour=None, engine=None, **settings) -> (TestClient, Behaviour, engine)`:
    the real gateway in front of a fake vLLM on a real socket, with a fake lore engine."""
    from tests.fakes.gateway import client_factory

    with client_factory() as factory:
        yield factory
