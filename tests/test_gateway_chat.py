"""The chat route against an in-process fake vLLM: what is forwarded, what comes back."""

from __future__ import annotations

import json

from gateway.budget import LORE_WRAPPER_TOKENS
from tests.fakes.gateway import LORE, FakeEngine
from tests.fakes.upstream import Behaviour

ELENA = [{"role": "user", "content": "Elena checks the reactor."}]


def test_lore_is_injected_as_a_system_message_and_named_in_a_header(make_client):
    client, upstream, _ = make_client()
    with client:
        r = client.post("/v1/chat/completions", json={"model": "loregate", "messages": ELENA})
    assert r.status_code == 200, r.text
    assert r.headers["x-lore-entries"] == "characters/elena-vasquez"
    assert r.headers["x-lore-status"] == "ok"
    sent = upstream.received[-1]["messages"]
    assert sent[0] == {"role": "system", "content": LORE}
    assert sent[1:] == ELENA


def test_lore_joins_an_existing_system_message(make_client):
    client, upstream, _ = make_client()
    messages = [{"role": "system", "content": "You are a co-writer."}, *ELENA]
    with client:
        client.post("/v1/chat/completions", json={"model": "loregate", "messages": messages})
    system = upstream.received[-1]["messages"][0]
    assert system["role"] == "system"
    assert system["content"] == "You are a co-writer.\n\n" + LORE
    assert len(upstream.received[-1]["messages"]) == 2


def test_every_other_field_is_forwarded_untouched_and_controls_are_stripped(make_client):
    client, upstream, engine = make_client()
    extras = {"top_k": 40, "min_p": 0.05, "repetition_penalty": 1.1, "stop": ["\n\n"],
              "seed": 7, "stream_options": {"include_usage": True},
              "chat_template_kwargs": {"enable_thinking": False}, "temperature": 0.3,
              "max_tokens": 64, "logit_bias": {"42": -100}}
    body = {"model": "loregate", "messages": ELENA, "world": "other_world", "chapter": 12,
            "lore_budget": 300, **extras}
    with client:
        r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    forwarded = upstream.received[-1]
    for key, value in extras.items():
        assert forwarded[key] == value
    for control in ("world", "chapter", "lore", "lore_budget"):
        assert control not in forwarded
    assert engine.calls[-1]["world"] == "other_world"
    assert engine.calls[-1]["chapter"] == 12
    assert engine.calls[-1]["budget"] == 300


def test_headers_choose_world_and_chapter_and_win_over_the_body(make_client):
    client, _, engine = make_client()
    with client:
        client.post("/v1/chat/completions",
                    json={"model": "loregate", "messages": ELENA, "world": "scifi_world",
                          "chapter": 1},
                    headers={"X-World": "other_world", "X-Story-Chapter": "14"})
    assert engine.calls[-1]["world"] == "other_world"
    assert engine.calls[-1]["chapter"] == 14


def test_lore_off_by_header_or_body_forwards_the_messages_as_sent(make_client):
    client, upstream, engine = make_client()
    with client:
        r1 = client.post("/v1/chat/completions", json={"model": "loregate", "messages": ELENA},
                         headers={"X-Lore": "off"})
        r2 = client.post("/v1/chat/completions",
                         json={"model": "loregate", "messages": ELENA, "lore": False})
    assert r1.headers["x-lore-entries"] == "" and r2.headers["x-lore-status"] == "off"
    assert upstream.received[0]["messages"] == ELENA
    assert upstream.received[1]["messages"] == ELENA
    assert "lore" not in upstream.received[1]
    assert engine.calls == []


def test_streaming_relays_every_chunk_the_usage_and_done(make_client):
    client, _, _ = make_client(Behaviour(chunks=5))
    body = {"model": "loregate", "messages": ELENA, "stream": True,
            "stream_options": {"include_usage": True}}
    with client, client.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-lore-entries"] == "characters/elena-vasquez"
        raw = b"".join(r.iter_raw())
    # SSE comment lines (": continuity {...}", the continuity guard's report) are no events
    events = [e for e in raw.decode().split("\n\n") if e and not e.startswith(":")]
    assert events[-1] == "data: [DONE]"
    payloads = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert "".join(p["choices"][0]["delta"].get("content", "")
                   for p in payloads if p["choices"]) == "w0 w1 w2 w3 w4 "
    assert payloads[-1]["usage"]["completion_tokens"] == 5


def test_retrieval_failure_forwards_without_lore_and_says_so(make_client):
    client, upstream, _ = make_client(engine=FakeEngine(fail=True))
    with client:
        r = client.post("/v1/chat/completions", json={"model": "loregate", "messages": ELENA})
    assert r.status_code == 200
    assert r.headers["x-lore-status"] == "unavailable"
    assert upstream.received[-1]["messages"] == ELENA


def test_an_engine_that_cannot_open_does_not_take_the_gateway_down(make_client):
    client, upstream, _ = make_client(engine=FakeEngine(fail_open=True))
    with client:
        r = client.post("/v1/chat/completions", json={"model": "loregate", "messages": ELENA})
        health = client.get("/health")
    assert r.status_code == 200 and r.headers["x-lore-status"] == "unavailable"
    assert upstream.received[-1]["messages"] == ELENA
    assert health.status_code == 503 and health.json()["index"] == "failed"


def test_lore_shrinks_to_fit_the_context_window(make_client):
    # 1,500-token window; the prompt is ~1,500 bytes (the fake counts 4 bytes a token)
    # and the reply asks for 400 tokens.
    client, _, engine = make_client(Behaviour(max_model_len=1500))
    messages = [{"role": "user", "content": "Elena " + "x" * 1500}]
    with client:
        client.get("/health")  # lets the first health check read max_model_len
        client.post("/v1/chat/completions",
                    json={"model": "loregate", "messages": messages, "max_tokens": 400})
    prompt_tokens = len(json.dumps(messages)) // 4
    assert engine.calls[-1]["budget"] == 1500 - 400 - prompt_tokens - LORE_WRAPPER_TOKENS


def test_no_room_at_all_forwards_without_lore_for_the_upstream_to_judge(make_client):
    client, upstream, engine = make_client(Behaviour(max_model_len=1000))
    messages = [{"role": "user", "content": "Elena " + "word " * 900}]
    with client:
        client.get("/health")
        r = client.post("/v1/chat/completions",
                        json={"model": "loregate", "messages": messages, "max_tokens": 900})
    assert r.headers["x-lore-status"] == "no-room"
    assert engine.calls == []
    assert upstream.received[-1]["messages"] == messages


def test_tools_are_dropped_with_a_header_when_the_upstream_has_no_parser(make_client):
    client, upstream, _ = make_client(Behaviour(refuse_tools=True))
    tools = [{"type": "function", "function": {"name": "read_file", "parameters": {}}}]
    body = {"model": "loregate", "messages": ELENA, "tools": tools, "tool_choice": "auto"}
    with client:
        first = client.post("/v1/chat/completions", json=body)
        second = client.post("/v1/chat/completions", json=body)
    assert first.status_code == 200 and first.headers["x-tools-dropped"] == "1"
    assert second.headers["x-tools-dropped"] == "1"
    # The first request was tried with tools once; afterwards they are dropped up front.
    assert [("tools" in b) for b in upstream.received] == [True, False, False]


def test_completions_pass_through_without_lore_unless_asked(make_client):
    client, upstream, engine = make_client()
    prompt = "<fim_prefix>Elena said<fim_suffix><fim_middle>"
    with client:
        plain = client.post("/v1/completions", json={"model": "loregate", "prompt": prompt})
        with_lore = client.post("/v1/completions",
                                json={"model": "loregate", "prompt": prompt, "lore": True})
    assert plain.status_code == 200 and plain.headers["x-lore-status"] == "off"
    assert with_lore.headers["x-lore-entries"] == "characters/elena-vasquez"
    assert upstream.received[0]["prompt"] == prompt
    assert upstream.received[1]["prompt"] == LORE + "\n\n" + prompt
    assert "lore" not in upstream.received[1]
    assert len(engine.calls) == 1


def test_unicode_and_very_long_messages_arrive_intact(make_client):
    client, upstream, _ = make_client()
    text = "Elena — «Ἀρκτοῦρος» 星の海 🚀 " + "ж" * 200_000
    with client:
        r = client.post("/v1/chat/completions",
                        json={"model": "loregate", "messages": [{"role": "user", "content": text}]})
    assert r.status_code == 200
    assert upstream.received[-1]["messages"][-1]["content"] == text
