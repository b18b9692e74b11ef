"""Requests built to hurt: deep JSON, huge names and queries, header floods, bodies that never
arrive, credentials in the upstream URL. Each is refused in the OpenAI envelope, counted with
its real status, and leaks nothing. Every wait here is bounded by a socket or HTTP timeout."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from pydantic import ValidationError

import gateway.chat
from gateway import GatewaySettings, build_app
from gateway.__main__ import main, server_config
from gateway.errors import shown
from gateway.protocol import MAX_JSON_DEPTH, MAX_WORLD_CHARS
from gateway.upstream import UpstreamPool, make_session, redact
from tests.fakes.gateway import FakeEngine
from tests.fakes.live_server import free_port, serve
from tests.fakes.upstream import Behaviour, build_fake_upstream

ELENA = [{"role": "user", "content": "Elena checks the reactor."}]
CHAT = {"model": "loregate", "messages": ELENA}
SOCKET_TIMEOUT = 5.0
ROUTES = {"chat": "/v1/chat/completions", "completions": "/v1/completions",
          "lore_search": "/v1/lore/search"}


def counted(metrics: str, route: str, status: int) -> float:
    prefix = f'loregate_requests_total{{route="{route}",status="{status}"}} '
    return next((float(line[len(prefix):]) for line in metrics.splitlines()
                 if line.startswith(prefix)), 0.0)


def assert_envelope(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict]:
    return [json.loads(r.message) for r in caplog.records if r.name == "loregate.access"]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- 4. deep JSON, and every error counted with its status ------------------------------------

@pytest.mark.parametrize("route", ROUTES)
def test_json_nested_990_levels_is_a_counted_400_on_every_body_route(route, make_client, caplog):
    client, upstream, _ = make_client()
    body = '{"model": "loregate", "messages": ' + nested(990) + "}"  # the report's 2 KB body
    assert len(body) < 2100
    with caplog.at_level("INFO", logger="loregate.access"), client:
        r = client.post(ROUTES[route], content=body, headers={"content-type": "application/json"})
        metrics = client.get("/metrics").text
    error = assert_envelope(r, 400, "json_too_deep")
    assert str(MAX_JSON_DEPTH) in error["message"]
    assert counted(metrics, route, 400) == 1 and counted(metrics, route, 200) == 0
    assert [line["status"] for line in access_lines(caplog)] == [400]
    assert upstream.received == []


def test_nesting_is_refused_just_past_the_limit_and_passed_on_at_it(make_client):
    client, upstream, _ = make_client()

    def body(depth: int) -> str:  # the messages list is level 1 of the object's values
        return '{"model": "loregate", "messages": [{"role": "user", "content": "hi"}], "x": ' + \
            nested(depth - 1) + "}"

    with client:
        deep = client.post("/v1/chat/completions", content=body(MAX_JSON_DEPTH + 1))
        ok = client.post("/v1/chat/completions", content=body(MAX_JSON_DEPTH))
    assert_envelope(deep, 400, "json_too_deep")
    assert ok.status_code == 200 and len(upstream.received) == 1


def test_an_unexpected_error_is_a_500_envelope_counted_and_logged_as_500(
        make_client, monkeypatch, caplog):
    def boom(*_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(gateway.chat, "inject_chat", boom)
    made, _, _ = make_client()
    client = TestClient(made.app, raise_server_exceptions=False)
    with caplog.at_level("INFO", logger="loregate.access"), client:
        r = client.post("/v1/chat/completions", json=CHAT, headers={"X-Request-Id": "crash-1"})
        metrics = client.get("/metrics").text
    error = assert_envelope(r, 500, "internal_error")
    assert "RuntimeError" in error["message"] and "a bug" not in error["message"]
    assert r.headers["x-request-id"] == "crash-1"
    assert counted(metrics, "chat", 500) == 1 and counted(metrics, "chat", 200) == 0
    assert [(line["request_id"], line["status"]) for line in access_lines(caplog)] == [
        ("crash-1", 500)]


def test_every_error_class_is_counted_with_its_status_401_included(
        make_client, monkeypatch, caplog):
    monkeypatch.setattr(gateway.chat, "inject_chat", lambda *_: 1 / 0)
    made, _, _ = make_client(api_key="sesame", max_body_bytes=4096)
    client = TestClient(made.app, raise_server_exceptions=False)
    key = {"Authorization": "Bearer sesame"}
    with caplog.at_level("INFO", logger="loregate.access"), client:
        answers = {
            ("chat", 401): client.post("/v1/chat/completions", json=CHAT),
            ("chat", 400): client.post("/v1/chat/completions", headers=key,
                                       content='{"messages": ' + nested(990) + "}"),
            ("lore_search", 404): client.post("/v1/lore/search", headers=key,
                                              json={"world": "narnia", "query": "x"}),
            ("completions", 413): client.post("/v1/completions", headers=key,
                                              json={"model": "loregate", "prompt": "x" * 5000}),
            ("models", 431): client.get("/v1/models", headers={
                **key, **{f"X-Pad-{i}": "1" for i in range(150)}}),
            ("other", 404): client.get("/v1/nothing-here", headers=key),
            ("chat", 405): client.get("/v1/chat/completions", headers=key),
            ("chat", 500): client.post("/v1/chat/completions", headers=key, json=CHAT),
        }
        metrics = client.get("/metrics").text
    for (route, status), response in answers.items():
        assert_envelope(response, status)
        assert counted(metrics, route, status) == 1, (route, status)
    logged = sorted((line["route"], line["status"]) for line in access_lines(caplog))
    assert logged == sorted(answers)
    assert "loregate_requests_in_flight 0.0" in metrics


def test_an_unreachable_upstream_is_counted_as_502():
    settings = GatewaySettings(upstream_url=[f"http://127.0.0.1:{free_port()}/v1"])
    with TestClient(build_app(settings, engine=FakeEngine())) as client:
        chat = client.post("/v1/chat/completions", json=CHAT)
        models = client.get("/v1/models")
        metrics = client.get("/metrics").text
    assert_envelope(chat, 502)
    assert_envelope(models, 502)
    assert counted(metrics, "chat", 502) == 1 and counted(metrics, "models", 502) == 1


# --- 5. credentials in the upstream URL --------------------------------------------------------

def test_redact_hides_userinfo_and_nothing_else():
    assert redact("http://user:secret@gpu:8000/v1") == "http://***@gpu:8000/v1"
    assert redact("https://a:p@ss@gpu/v1?x=@") == "https://***@gpu/v1?x=@"
    assert redact("http://gpu:8000/v1") == "http://gpu:8000/v1"
    assert redact("http://[::1") == "http://[::1"  # malformed: shown as is, never raises


def test_credentials_go_as_basic_auth_and_show_nowhere(caplog):
    behaviour = Behaviour()
    with serve(build_fake_upstream(behaviour)) as live:
        url = live.replace("http://", "http://writer:s3cret%21@") + "/v1"
        settings = GatewaySettings(upstream_url=[url])
        app = build_app(settings, engine=FakeEngine())
        with caplog.at_level("INFO"), TestClient(app) as client:
            chat = client.post("/v1/chat/completions", json=CHAT)
            health = client.get("/health")
    assert chat.status_code == 200 and health.status_code == 200
    expected = "Basic " + base64.b64encode(b"writer:s3cret!").decode()
    assert behaviour.received_headers[-1]["authorization"] == expected
    assert health.json()["upstreams"][0]["url"] == live + "/v1"
    shown_text = health.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "s3cret" not in shown_text and "writer" not in shown_text
    assert "***@" in next(r.getMessage() for r in caplog.records if "loregate on" in r.getMessage())
    assert any(r.name == "loregate.access" for r in caplog.records)


def test_a_502_names_the_upstream_without_its_credentials():
    port = free_port()
    settings = GatewaySettings(upstream_url=[f"http://writer:s3cret@127.0.0.1:{port}/v1"])
    with TestClient(build_app(settings, engine=FakeEngine())) as client:
        r = client.post("/v1/chat/completions", json=CHAT)
    error = assert_envelope(r, 502)
    assert f"127.0.0.1:{port}/v1" in error["message"] and "s3cret" not in error["message"]


def test_credentials_and_an_upstream_api_key_together_are_refused_at_load():
    with pytest.raises(ValidationError) as info:
        GatewaySettings(upstream_url=["http://writer:s3cret@gpu:8000/v1"],
                        upstream_api_key="vllm-key")
    assert "GATEWAY_UPSTREAM_API_KEY" in str(info.value)
    assert "s3cret" not in str(info.value) and "vllm-key" not in str(info.value)


async def test_the_pool_refuses_both_auth_forms_too():
    async with make_session(1, 1) as session:
        with pytest.raises(ValueError, match="credentials"):
            UpstreamPool(["http://writer:s3cret@gpu/v1"], session, api_key="vllm-key")


@pytest.fixture
def no_server(monkeypatch):
    """`python -m gateway` in-process, failing the test instead of serving."""
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a server was started")

    monkeypatch.setattr(uvicorn, "run", refuse)
    monkeypatch.setattr(uvicorn.Server, "run", refuse)


def test_the_start_refuses_both_auth_forms_with_a_message_and_exit_2(
        monkeypatch, capsys, no_server):
    monkeypatch.setenv("GATEWAY_UPSTREAM_URL", "http://writer:s3cret@gpu:8000/v1")
    monkeypatch.setenv("GATEWAY_UPSTREAM_API_KEY", "vllm-key")
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "GATEWAY_UPSTREAM_API_KEY" in err and "user:password@" in err
    assert "s3cret" not in err and "vllm-key" not in err


def test_help_lists_every_setting_and_starts_nothing(capsys, no_server):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in ("GATEWAY_UPSTREAM_URL", "GATEWAY_MAX_HEADERS", "GATEWAY_MAX_HEADER_BYTES",
                 "GATEWAY_BODY_TIMEOUT", "GATEWAY_MAX_QUERY_CHARS", "GATEWAY_WORLDS_DIR"):
        assert name in out
    assert "Longest silence while a request body arrives" in out


# --- 7. echoes, query size ---------------------------------------------------------------------

def test_shown_cuts_long_values_and_says_how_long():
    assert shown("narnia") == "narnia"
    cut = shown("x" * 10_000)
    assert cut.startswith("x" * 80) and "10000 characters" in cut and len(cut) < 120


@pytest.mark.parametrize("where", ["body", "header", "search"])
def test_a_huge_world_name_is_a_small_400(where, make_client):
    client, upstream, engine = make_client()
    name = "w" * (1_000_000 if where != "header" else 20_000)
    with client:
        if where == "body":
            r = client.post("/v1/chat/completions", json={**CHAT, "world": name})
        elif where == "header":
            r = client.post("/v1/chat/completions", json=CHAT, headers={"X-World": name})
        else:
            r = client.post("/v1/lore/search", json={"world": name, "query": "Elena"})
    error = assert_envelope(r, 400)
    assert error["param"] == "world" and len(r.content) < 1000
    assert upstream.received == [] and engine.calls == []


def test_a_world_name_at_the_limit_is_an_ordinary_unknown_world(make_client):
    client, _, _ = make_client()
    with client:
        r = client.post("/v1/chat/completions", json=CHAT,
                        headers={"X-World": "w" * MAX_WORLD_CHARS})
    assert_envelope(r, 404, "unknown_world")


def test_a_lore_search_query_over_the_cap_is_a_400_before_any_search(make_client):
    client, _, engine = make_client(max_query_chars=1000)
    with client:
        started = time.monotonic()
        long = client.post("/v1/lore/search", json={"query": "Elena " * 1_000_000})
        elapsed = time.monotonic() - started
        at_cap = client.post("/v1/lore/search", json={"query": "Elena".ljust(1000)})
        metrics = client.get("/metrics").text
    error = assert_envelope(long, 400, "query_too_long")
    assert error["param"] == "query" and "GATEWAY_MAX_QUERY_CHARS" in error["message"]
    assert elapsed < 5 and len(engine.calls) == 1
    assert at_cap.status_code == 200 and at_cap.json()["entries"]
    assert counted(metrics, "lore_search", 400) == 1 and counted(metrics, "lore_search", 200) == 1


# --- 7. header floods and bodies that never arrive: the real server on a socket ----------------

@contextlib.contextmanager
def gateway_server(**settings: object) -> Iterator[int]:
    """The gateway as `python -m gateway` runs it (same uvicorn config), on a free port."""
    with serve(build_fake_upstream(Behaviour())) as upstream:
        config = GatewaySettings(upstream_url=[upstream + "/v1"], port=free_port(), **settings)
        server = uvicorn.Server(server_config(
            config, build_app(config, engine=FakeEngine())))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "gateway did not start"
            time.sleep(0.02)
        try:
            yield config.port
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def exchange(port: int, raw: bytes) -> bytes:
    """Send `raw`, return what comes back until the server closes or one response is complete;
    b"" if the server reset the connection. Bounded by SOCKET_TIMEOUT per read and 1 MiB."""
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while len(received) < 1 << 20 and not _complete(received):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        return received


def _complete(raw: bytes) -> bool:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def status_of(raw: bytes) -> int | None:
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else None


def json_body(raw: bytes) -> dict:
    return json.loads(raw.partition(b"\r\n\r\n")[2])


def request_head(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: gateway\r\n{extra}\r\n".encode()


def test_too_many_headers_is_a_431_envelope_on_the_real_server():
    with gateway_server() as port:
        many = "".join(f"X-Pad-{i}: 1\r\n" for i in range(150))
        raw = exchange(port, request_head("/v1/models", many))
        ordinary = exchange(port, request_head("/v1/models"))
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=SOCKET_TIMEOUT).text
    assert status_of(raw) == 431, raw[:300]
    assert json_body(raw)["error"]["code"] == "request_headers_too_large"
    assert status_of(ordinary) == 200
    assert counted(metrics, "models", 431) == 1


@pytest.mark.parametrize("flood", ["one 1 MiB header", "5,000 headers"])
def test_a_header_flood_is_refused_and_the_server_stays_up(flood):
    with gateway_server() as port:
        extra = ("X-Big: " + "a" * (1 << 20) + "\r\n" if flood == "one 1 MiB header"
                 else "".join(f"X-{i}: b\r\n" for i in range(5000)))
        raw = exchange(port, request_head("/health", extra))
        after = httpx.get(f"http://127.0.0.1:{port}/health", timeout=SOCKET_TIMEOUT)
    # Refused either by h11's buffer bound (its plain 400, or a reset while we still send) or
    # by the middleware's 431; never served.
    assert status_of(raw) in (None, 400, 431), raw[:300]
    assert after.status_code == 200


def test_a_head_just_over_the_byte_limit_is_a_431_envelope_on_the_real_server():
    with gateway_server(max_header_bytes=8192) as port:
        raw = exchange(port, request_head("/v1/models", "X-Big: " + "a" * 9000 + "\r\n"))
    assert status_of(raw) == 431, raw[:300]
    assert "GATEWAY_MAX_HEADER_BYTES" in json_body(raw)["error"]["message"]


def test_a_body_shorter_than_its_content_length_times_out_with_a_408():
    with gateway_server(body_timeout=0.5) as port:
        raw = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n"
               b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\": ")
        started = time.monotonic()
        answer = exchange(port, raw)
        elapsed = time.monotonic() - started
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=SOCKET_TIMEOUT).text
    assert status_of(answer) == 408, answer[:300]
    assert json_body(answer)["error"]["code"] == "body_timeout"
    assert b"connection: close" in answer.lower()
    assert 0.4 < elapsed < SOCKET_TIMEOUT
    assert counted(metrics, "chat", 408) == 1


def test_a_slow_but_steady_body_is_not_cut_off():
    with gateway_server(body_timeout=0.5) as port, \
            socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT) as sock:
        body = json.dumps(CHAT).encode()
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n"
                     b"Content-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode())
        for start in range(0, len(body), len(body) // 4 + 1):  # 4 pieces, 0.3 s apart
            time.sleep(0.3)
            sock.sendall(body[start:start + len(body) // 4 + 1])
        answer = b""
        while not _complete(answer) and (chunk := sock.recv(65536)):
            answer += chunk
    assert status_of(answer) == 200, answer[:300]
