"""Routing by `model`: voices by name, `loregate` for the world's or the default voice, the
base, and the refusals. The voices are real links to adapter folders; the upstream is the
fake vLLM, told which adapters it has loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.adapters import fake_adapter
from tests.fakes.gateway import FakeEngine
from tests.fakes.upstream import MODEL, Behaviour
from training import layout

ASK = [{"role": "user", "content": "Write the opening line."}]


def deploy_link(voices: Path, runs: Path, voice: str, run: str) -> str:
    """What `python -m training deploy` leaves on disk; returns the adapter's vLLM name."""
    adapter = runs / run / "best"
    if not adapter.exists():
        fake_adapter(runs, run)
    link = layout.voice_link(voices, voice)
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(".tmp")
    tmp.symlink_to(adapter)
    tmp.replace(link)
    return layout.lora_name(voice, adapter)


class WorldVoiceEngine(FakeEngine):
    def __init__(self, voice: str | None) -> None:
        super().__init__()
        self.voice = voice

    def status(self) -> dict[str, dict[str, Any]]:
        return {w: {**s, "voice": self.voice} for w, s in super().status().items()}


@pytest.fixture
def disk(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "voices", tmp_path / "checkpoints"


def one_voice(make_client, disk: tuple[Path, Path], voice: str = "noir"):  # type: ignore[no-untyped-def]
    """A gateway in front of a fake vLLM that has loaded one deployed voice."""
    voices, runs = disk
    lora = deploy_link(voices, runs, voice, "run-1")
    behaviour = Behaviour(adapters=[lora])
    client, _, _ = make_client(behaviour, voices_dir=voices, upstream_model=MODEL)
    return client, behaviour, lora


def sent_model(client, behaviour: Behaviour, model: str | None) -> tuple[int, str | None]:
    body = {"messages": ASK, **({"model": model} if model is not None else {})}
    r = client.post("/v1/chat/completions", json=body)
    return r.status_code, behaviour.received[-1]["model"] if r.status_code == 200 else r.json()


def test_without_voices_loregate_and_base_reach_the_base(make_client, disk):
    voices, _ = disk
    client, behaviour, _ = make_client(voices_dir=voices, upstream_model=MODEL)
    with client:
        assert sent_model(client, behaviour, "loregate") == (200, MODEL)
        assert sent_model(client, behaviour, None) == (200, MODEL)
        assert sent_model(client, behaviour, "base") == (200, MODEL)


def test_a_voice_by_name_and_the_default_voice_by_loregate(make_client, disk):
    voices, runs = disk
    noir = deploy_link(voices, runs, "noir", "run-1")
    default = deploy_link(voices, runs, "default", "run-2")
    behaviour = Behaviour(adapters=[noir, default])
    client, _, _ = make_client(behaviour, voices_dir=voices, upstream_model=MODEL)
    with client:
        assert sent_model(client, behaviour, "noir") == (200, noir)
        assert sent_model(client, behaviour, "loregate") == (200, default)
        assert sent_model(client, behaviour, "base") == (200, MODEL)
        r = client.post("/v1/chat/completions", json={"model": "noir", "messages": ASK})
        assert r.status_code == 200


def test_the_worlds_voice_wins_over_the_default(make_client, disk):
    voices, runs = disk
    noir = deploy_link(voices, runs, "noir", "run-1")
    default = deploy_link(voices, runs, "default", "run-2")
    behaviour = Behaviour(adapters=[noir, default])
    client, _, _ = make_client(behaviour, WorldVoiceEngine("noir"), voices_dir=voices,
                               upstream_model=MODEL)
    with client:
        assert sent_model(client, behaviour, "loregate") == (200, noir)
    ghost = Behaviour(adapters=[default])
    client, _, _ = make_client(ghost, WorldVoiceEngine("ghost"), voices_dir=voices,
                               upstream_model=MODEL)
    with client:  # a world naming a voice nobody deployed falls back to the default
        assert sent_model(client, ghost, "loregate") == (200, default)


def test_a_deploy_moves_the_next_request_with_no_restart(make_client, disk):
    voices, runs = disk
    client, behaviour, old = one_voice(make_client, disk)
    with client:
        assert sent_model(client, behaviour, "noir") == (200, old)
        fake_adapter(runs, "run-2")
        behaviour.adapters.append(layout.lora_name("noir", runs / "run-2" / "best"))
        new = deploy_link(voices, runs, "noir", "run-2")  # as deploy does: loaded, then linked
        assert sent_model(client, behaviour, "noir") == (200, new)
        deploy_link(voices, runs, "noir", "run-1")  # --rollback
        assert sent_model(client, behaviour, "noir") == (200, old)


def test_unknown_and_unloaded_voices_are_refused_with_what_to_do(make_client, disk):
    voices, runs = disk
    deploy_link(voices, runs, "noir", "run-1")  # on disk, but the server never loaded it
    client, behaviour, _ = make_client(voices_dir=voices, upstream_model=MODEL)
    with client:
        status, error = sent_model(client, behaviour, "gpt-4o")
        assert status == 404 and error["error"]["code"] == "model_not_found"
        assert "loregate, base, noir" in error["error"]["message"]
        status, error = sent_model(client, behaviour, "noir")
        assert status == 503 and "restart `make serve`" in error["error"]["message"]
        assert sent_model(client, behaviour, "loregate") == (200, MODEL)  # never a dead name
        r = client.post("/v1/chat/completions", json={"model": 7, "messages": ASK})
        assert r.status_code == 400 and r.json()["error"]["param"] == "model"


def test_models_lists_the_alias_the_base_and_every_voice(make_client, disk):
    voices, runs = disk
    noir = deploy_link(voices, runs, "noir", "run-1")
    deploy_link(voices, runs, "default", "run-2")
    client, _, _ = make_client(Behaviour(adapters=[noir]), voices_dir=voices,
                               upstream_model=MODEL)
    with client:
        cards = {m["id"]: m for m in client.get("/v1/models").json()["data"]}
    assert list(cards) == ["loregate", "base", "default", "noir"]
    assert cards["noir"]["loaded"] is True and cards["default"]["loaded"] is False
    assert cards["loregate"]["voice"] is None  # 'default' is not loaded, so the base answers
    assert {c["max_model_len"] for c in cards.values()} == {8192}


def test_completions_route_by_voice_too(make_client, disk):
    client, behaviour, noir = one_voice(make_client, disk)
    with client:
        r = client.post("/v1/completions", json={"model": "noir", "prompt": "Once"})
        assert r.status_code == 200 and behaviour.received[-1]["model"] == noir
