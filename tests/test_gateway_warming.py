"""While the lore index is still being built, writing goes on: a request waits at most
GATEWAY_LORE_WAIT for lore, then is forwarded without it (X-Lore-Status: warming); an
unreachable upstream still answers 502 within its connect timeout; /health says what warms."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from tests.fakes.gateway import FakeEngine
from tests.fakes.live_server import free_port

ELENA = [{"role": "user", "content": "Elena checks the arm."}]
# Generous next to the 1 s wait, so that a loaded CI box can't fail it, and far below the
# minutes a first index build can take (the stall this guards against was unbounded).
SLACK_SECONDS = 1.0


@dataclass
class SlowOpeningEngine(FakeEngine):
    """An engine whose first index build lasts until the test releases it."""

    release: threading.Event = field(default_factory=threading.Event)

    def open(self) -> None:
        if not self.release.wait(timeout=60):
            raise RuntimeError("the test never released the index build")


def test_a_chat_during_the_first_index_build_is_answered_without_lore(make_client):
    engine = SlowOpeningEngine()
    client, upstream, _ = make_client(engine=engine, lore_wait=1.0)
    with client:
        started = time.monotonic()
        r = client.post("/v1/chat/completions", json={"model": "loregate", "messages": ELENA})
        took = time.monotonic() - started
        health = client.get("/health")
        worlds = client.get("/v1/worlds")
        engine.release.set()
        deadline = time.monotonic() + 10
        while client.get("/health").json()["index"] != "ready" and time.monotonic() < deadline:
            time.sleep(0.05)
        after = client.post("/v1/chat/completions", json={"model": "loregate", "messages": ELENA})
    assert r.status_code == 200, r.text
    assert r.headers["x-lore-status"] == "warming"
    assert took < 1.0 + SLACK_SECONDS, f"a warming chat took {took:.2f} s"
    assert upstream.received[0]["messages"] == ELENA  # forwarded as sent
    assert health.status_code == 503 and health.json()["index"] == "warming"
    assert worlds.status_code == 200 and worlds.json()["lore"] == "warming"
    assert after.headers["x-lore-status"] == "ok"
    assert after.headers["x-lore-entries"] == "characters/elena-vasquez"


def test_lore_search_during_the_first_build_is_a_503_with_retry_after(make_client):
    engine = SlowOpeningEngine()
    client, _, _ = make_client(engine=engine, lore_wait=0.2)
    with client:
        r = client.post("/v1/lore/search", json={"query": "Elena"})
        engine.release.set()
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "lore_warming" and r.headers["retry-after"]


def test_an_unreachable_upstream_answers_502_in_time_whatever_the_lore_engine_does(
        make_client):
    engine = SlowOpeningEngine()
    nowhere = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    connect_timeout = 2.0
    client, _, _ = make_client(engine=engine, upstream_url=[nowhere], lore_wait=1.0,
                               connect_timeout=connect_timeout)
    with client:
        started = time.monotonic()
        r = client.post("/v1/chat/completions", json={"model": "loregate", "messages": ELENA})
        took = time.monotonic() - started
        engine.release.set()
    assert r.status_code == 502, r.text
    assert nowhere in r.json()["error"]["message"]
    assert took < connect_timeout + 1.0, f"the 502 took {took:.2f} s"


def test_lore_wait_zero_never_waits(make_client):
    engine = SlowOpeningEngine()
    client, _, _ = make_client(engine=engine, lore_wait=0)
    with client:
        r = client.post("/v1/chat/completions", json={"model": "loregate", "messages": ELENA})
        engine.release.set()
    assert r.headers["x-lore-status"] == "warming"
