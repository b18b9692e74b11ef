"""Every failure the client can meet is an OpenAI-shaped error with the right status."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from gateway import GatewaySettings, build_app
from tests.fakes.gateway import FakeEngine
from tests.fakes.upstream import Behaviour

ELENA = [{"role": "user", "content": "Elena checks the reactor."}]


def assert_openai_error(response, status: int, param: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if param is not None:
        assert error["param"] == param
    return error


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_malformed_json_is_a_400(raw, make_client):
    client, _, _ = make_client()
    with client:
        r = client.post("/v1/chat/completions", content=raw,
                        headers={"content-type": "application/json"})
    assert_openai_error(r, 400)


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "loregate"}, "messages"),
    ({"model": "loregate", "messages": "hello"}, "messages"),
    ({"model": "loregate", "messages": ELENA, "stream": "yes"}, "stream"),
    ({"model": "loregate", "messages": ELENA, "max_tokens": "many"}, "max_tokens"),
    ({"model": "loregate", "messages": ELENA, "chapter": "three"}, "chapter"),
    ({"model": "loregate", "messages": [{"content": "no role"}]}, "messages.0.role"),
])
def test_wrong_field_types_are_a_400_naming_the_field(body, param, make_client):
    client, upstream, _ = make_client()
    with client:
        r = client.post("/v1/chat/completions", json=body)
    assert_openai_error(r, 400, param)
    assert upstream.received == []


def test_bad_control_headers_are_a_400(make_client):
    client, _, _ = make_client()
    with client:
        r1 = client.post("/v1/chat/completions", json={"model": "loregate", "messages": ELENA},
                         headers={"X-Story-Chapter": "seven"})
        r2 = client.post("/v1/chat/completions", json={"model": "loregate", "messages": ELENA},
                         headers={"X-Lore": "maybe"})
    assert_openai_error(r1, 400, "x-story-chapter")
    assert_openai_error(r2, 400, "X-Lore")


def test_unknown_world_is_a_404_naming_the_known_worlds(make_client):
    client, _, _ = make_client()
    with client:
        r = client.post("/v1/chat/completions", json={"model": "loregate", "messages": ELENA},
                        headers={"X-World": "narnia"})
    error = assert_openai_error(r, 404, "world")
    assert "narnia" in error["message"] and "scifi_world" in error["message"]


def test_oversized_bodies_are_a_413(make_client):
    client, upstream, _ = make_client(max_body_bytes=1000)
    with client:
        r = client.post("/v1/chat/completions", json={
            "model": "loregate", "messages": [{"role": "user", "content": "x" * 2000}]})
    assert_openai_error(r, 413)
    assert upstream.received == []


def test_upstream_4xx_keeps_its_status_and_message(make_client):
    client, _, _ = make_client(Behaviour(max_model_len=100))
    with client:
        r = client.post("/v1/chat/completions",
                        json={"model": "loregate", "messages": ELENA, "max_tokens": 5000})
    error = assert_openai_error(r, 400)
    assert "max_model_len" in error["message"]


def test_unreachable_upstream_is_a_502_naming_it_within_the_connect_timeout():
    settings = GatewaySettings(upstream_url=["http://127.0.0.1:9/v1"], connect_timeout=2.0)
    client = TestClient(build_app(settings, engine=FakeEngine()))
    with client:
        started = time.monotonic()
        r = client.post("/v1/chat/completions", json={"model": "loregate", "messages": ELENA})
        elapsed = time.monotonic() - started
    error = assert_openai_error(r, 502)
    assert "http://127.0.0.1:9/v1" in error["message"]
    assert elapsed < 2.0 * 2


def test_a_restarting_upstream_is_a_503_with_retry_after(tmp_path):
    marker = tmp_path / "upstream-restarting"
    marker.touch()
    settings = GatewaySettings(upstream_url=["http://127.0.0.1:9/v1"], restart_marker=marker)
    client = TestClient(build_app(settings, engine=FakeEngine()))
    with client:
        r = client.post("/v1/chat/completions", json={"model": "loregate", "messages": ELENA})
    assert_openai_error(r, 503)
    assert r.headers["retry-after"]


def test_api_key_is_required_when_configured(make_client):
    client, _, _ = make_client(api_key="sesame")
    body = {"model": "loregate", "messages": ELENA}
    with client:
        missing = client.post("/v1/chat/completions", json=body)
        wrong = client.post("/v1/chat/completions", json=body,
                            headers={"Authorization": "Bearer open"})
        right = client.post("/v1/chat/completions", json=body,
                            headers={"Authorization": "Bearer sesame"})
        health = client.get("/health")
    assert_openai_error(missing, 401)
    assert_openai_error(wrong, 401)
    assert right.status_code == 200
    assert health.status_code == 200


def test_a_server_error_during_a_restart_is_a_503_with_retry_after(make_client, tmp_path):
    marker = tmp_path / "upstream-restarting"
    client, _, _ = make_client(Behaviour(fail_status=500), restart_marker=marker)
    body = {"model": "loregate", "messages": ELENA}
    with client:
        before = client.post("/v1/chat/completions", json=body)
        marker.touch()
        during = client.post("/v1/chat/completions", json=body)
    assert_openai_error(before, 500)
    assert_openai_error(during, 503)
    assert during.headers["retry-after"]
