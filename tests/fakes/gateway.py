"""Fakes at the gateway's two edges: a lore engine and an in-process vLLM."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from gateway import GatewaySettings, build_app
from retrieval import LoreHit, RetrievalError, Selection, UnknownWorld
from tests.fakes.live_server import serve
from tests.fakes.upstream import Behaviour, build_fake_upstream

LORE = "World lore for scifi_world:\nElena Vasquez is the Meridian's chief engineer."


@dataclass
class FakeEngine:
    """A `retrieval.LoreIndex`: selects one canned entry whenever 'Elena' is mentioned;
    records every call."""

    worlds: tuple[str, ...] = ("scifi_world", "other_world")
    budget: int = 1024
    fail: bool = False
    fail_open: bool = False
    calls: list[dict[str, Any]] = field(default_factory=list)

    def open(self) -> None:
        if self.fail_open:
            raise RuntimeError("index is corrupt")

    def close(self) -> None:
        pass

    def interrupt(self) -> None:
        pass

    def world_names(self) -> list[str]:
        return sorted(self.worlds)

    def world_budget(self, world: str) -> int:
        return self.budget

    def status(self) -> dict[str, dict[str, Any]]:
        return {w: {"entries": 1, "indexed": True, "issues": 0, "error": None}
                for w in self.worlds}

    def select(self, world: str, messages: list[dict[str, Any]], *, chapter: int | None = None,
               budget_tokens: int | None = None) -> Selection:
        self.calls.append({"world": world, "messages": messages, "chapter": chapter,
                           "budget": budget_tokens})
        if world not in self.worlds:
            raise UnknownWorld(world, sorted(self.worlds))
        if self.fail:
            raise RetrievalError("the index folder is unreadable")
        text = " ".join(str(m.get("content")) for m in messages)
        if "Elena" not in text or budget_tokens == 0:
            return Selection(world, [], [], 0, "")
        hit = LoreHit("characters/elena-vasquez", "Elena Vasquez", 1.0, "name", 20)
        return Selection(world, [hit], [], 20, LORE)


@contextlib.contextmanager
def client_factory() -> Iterator[Callable[..., tuple[TestClient, Behaviour, FakeEngine]]]:
    """Build gateways in front of fresh fake vLLMs on real sockets; stop them all at the end."""
    servers = contextlib.ExitStack()

    def make_client(
        behaviour: Behaviour | None = None,
        engine: FakeEngine | None = None,
        **settings: Any,
    ) -> tuple[TestClient, Behaviour, FakeEngine]:
        behaviour = behaviour or Behaviour()
        engine = engine or FakeEngine()
        url = servers.enter_context(serve(build_fake_upstream(behaviour)))
        # an empty voices folder unless a test brings one: never the developer's own
        voices = servers.enter_context(tempfile.TemporaryDirectory())
        config = GatewaySettings(**{"upstream_url": [url + "/v1"], "voices_dir": voices,
                                    **settings})
        app = build_app(config, engine=engine)
        return TestClient(app), behaviour, engine

    with servers:
        yield make_client
