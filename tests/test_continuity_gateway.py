"""The continuity guard through the gateway: a fake vLLM that answers with a chosen text, the
real gateway on a real socket, the official openai client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway import GatewaySettings, build_app
from gateway.relay import with_continuity
from tests.fakes.gateway import FakeEngine
from tests.fakes.live_server import serve

WRONG_ARM = "Elena flexed her cybernetic right arm. Marcus Okafer watched the coils."
CLEAN = "Elena flexed her left hand, the metal one, and Marcus watched the coils."
ASK = [{"role": "user", "content": "Elena checks the coils."}]


def _fake_vllm(reply: list[str], received: list[dict]) -> Starlette:
    def chunk(delta: dict, finish: str | None = None) -> bytes:
        event = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return b"data: " + json.dumps(event).encode() + b"\n\n"

    async def chat(request: Request) -> Response:
        body = await request.json()
        received.append(body)
        text = reply[0]
        if not body.get("stream"):
            return JSONResponse({"id": "c", "object": "chat.completion", "model": "m",
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant",
                                                          "content": text}}]})

        async def events():
            for n, word in enumerate(text.split(" ")):
                yield chunk({"content": word if n == 0 else " " + word})
            yield chunk({}, "stop")
            yield b"data: [DONE]\n\n"
        return StreamingResponse(events(), media_type="text/event-stream")

    async def models(_: Request) -> Response:
        return JSONResponse({"object": "list", "data": [
            {"id": "m", "object": "model", "max_model_len": 8192}]})

    async def tokenize(_: Request) -> Response:
        return JSONResponse({"count": 10, "max_model_len": 8192, "tokens": []})

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                             Route("/v1/models", models), Route("/tokenize", tokenize,
                                                                methods=["POST"])])


@pytest.fixture
def gateway() -> Iterator[tuple[str, list[str], list[dict]]]:
    """(gateway URL, the reply the fake vLLM gives (set [0]), the bodies it received)."""
    reply, received = [WRONG_ARM], []
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(serve(_fake_vllm(reply, received)))
        config = GatewaySettings(upstream_url=[upstream + "/v1"])
        yield stack.enter_context(serve(build_app(config, engine=FakeEngine()))), reply, received


def _raw_stream(url: str, **extra) -> tuple[str, dict]:
    headers = extra.pop("headers", {})
    with httpx.stream("POST", url + "/v1/chat/completions", headers=headers, timeout=10,
                      json={"model": "loregate", "messages": ASK, "stream": True, **extra}) as r:
        return "".join(r.iter_text()), dict(r.headers)


def test_a_stream_ends_with_the_findings_as_one_comment_before_done(gateway):
    url, _, received = gateway
    body, headers = _raw_stream(url, chapter=5)
    comments = [line for line in body.splitlines() if line.startswith(": continuity ")]
    assert len(comments) == 1
    assert body.index(": continuity ") < body.index("data: [DONE]")
    report = json.loads(comments[0].removeprefix(": continuity "))
    assert report["request_id"] == headers["x-request-id"]
    assert {(f["kind"], f["check"], f["quote"]) for f in report["findings"]} == {
        ("attribute", "arm", "her cybernetic right arm"), ("spelling", "spelling", "Okafer")}
    assert report["chapter"] == 5 and report["world"] == "scifi_world"
    assert "continuity" not in received[-1] and "chapter" not in received[-1]
    stored = httpx.get(f"{url}/v1/continuity/{headers['x-request-id']}").json()
    assert stored["findings"] == report["findings"]
    metrics = httpx.get(url + "/metrics").text
    assert 'loregate_continuity_findings_total{kind="attribute"} 1.0' in metrics


def test_the_official_client_ignores_the_comment_line(gateway):
    url, _, _ = gateway
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    stream = client.chat.completions.create(model="loregate", messages=ASK, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == WRONG_ARM


def test_a_clean_reply_has_an_empty_report(gateway):
    url, reply, _ = gateway
    reply[0] = CLEAN
    body, _ = _raw_stream(url)
    report = json.loads(body.split(": continuity ", 1)[1].split("\n", 1)[0])
    assert report["count"] == 0 and report["findings"] == []


def test_off_by_header_or_body_field_and_the_field_is_not_forwarded(gateway):
    url, _, received = gateway
    body, _ = _raw_stream(url, headers={"X-Continuity": "off"})
    assert ": continuity" not in body
    body, headers = _raw_stream(url, continuity=False)
    assert ": continuity" not in body and "continuity" not in received[-1]
    assert httpx.get(f"{url}/v1/continuity/{headers['x-request-id']}").status_code == 404
    bad = httpx.post(url + "/v1/chat/completions",
                     json={"model": "loregate", "messages": ASK, "continuity": "no"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "continuity"


def test_a_whole_reply_gets_the_count_in_a_header(gateway):
    url, _, _ = gateway
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="loregate", messages=ASK)
    assert raw.headers["x-continuity"] == "2"
    assert raw.parse().choices[0].message.content == WRONG_ARM


def test_check_any_text_and_bad_input(gateway):
    url, _, _ = gateway
    answer = httpx.post(url + "/v1/continuity/check", json={
        "world": "scifi_world", "chapter": 3, "text": "Calder walked onto the bridge."})
    assert answer.status_code == 200
    assert [f["check"] for f in answer.json()["findings"]] == ["introduced"]
    unknown = httpx.post(url + "/v1/continuity/check", json={"world": "narnia", "text": "x"})
    assert unknown.status_code == 404 and "scifi_world" in unknown.json()["error"]["message"]
    wrong = httpx.post(url + "/v1/continuity/check", json={"text": 5})
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "text"
    assert httpx.get(url + "/v1/continuity/nope").json()["error"]["code"] == "report_not_found"


def test_the_first_byte_is_not_held_back(gateway):
    """The guard only holds `[DONE]`: the first content chunk arrives before the check runs,
    which happens once the upstream has finished."""
    url, reply, _ = gateway
    reply[0] = " ".join(["Elena said nothing."] * 2000)
    with httpx.stream("POST", url + "/v1/chat/completions", timeout=10,
                      json={"model": "loregate", "messages": ASK, "stream": True}) as r:
        lines = r.iter_lines()
        first = next(line for line in lines if line.startswith("data:"))
        started = time.perf_counter()
        rest = list(lines)
    assert json.loads(first[5:])["choices"][0]["delta"]["content"] == "Elena"
    assert any(line.startswith(": continuity") for line in rest)
    assert time.perf_counter() - started < 10


def _events(*chunks: bytes) -> list[bytes]:
    async def body():
        for chunk in chunks:
            yield chunk

    async def report(text: str) -> dict:
        return {"text": text}

    async def run() -> list[bytes]:
        return [part async for part in with_continuity(body(), report)]
    return asyncio.run(run())


def test_the_report_goes_right_before_done_even_inside_one_chunk():
    first = b'data: {"choices": [{"index": 0, "delta": {"content": "Elena"}}]}\n\n'
    last = b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'
    out = b"".join(_events(first, last + b"data: [DONE]\n\n"))
    assert out == first + last + b': continuity {"text": "Elena"}\n\n' + b"data: [DONE]\n\n"


def test_a_broken_streams_error_event_stays_next_to_done():
    first = b'data: {"choices": [{"index": 0, "delta": {"content": "Elena"}}]}\n\n'
    error = b'data: {"error": {"message": "broke"}}\n\ndata: [DONE]\n\n'
    out = b"".join(_events(first, error))
    assert out == first + b': continuity {"text": "Elena"}\n\n' + error


def test_a_stream_without_done_still_gets_its_report_at_the_end():
    first = b'data: {"choices": [{"index": 0, "delta": {"content": "Elena"}}]}\n\n'
    assert _events(first)[-1] == b': continuity {"text": "Elena"}\n\n'
