"""Parse once: the forwarded body comes from the parsed request, and no request dict changes."""

from __future__ import annotations

import asyncio
import copy
import json

import gateway.routes
from gateway.budget import Window, fit_to_window
from gateway.protocol import CONTROL_FIELDS, ChatRequest, CompletionRequest, forwarded_body

# Every kind of value a client may send beside the fields the gateway reads, in an odd order.
EXTRAS = {
    "top_k": 40, "min_p": 0.05, "temperature": 1e-7, "seed": 2**63 + 1, "n": 1,
    "repetition_penalty": 1.10, "logit_bias": {"50256": -100}, "stop": ["\n\n", "。"],
    "chat_template_kwargs": {"enable_thinking": False, "nested": {"a": [1, 2.5, None, True]}},
    "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
        "type": "object", "properties": {"é": {"type": "string"}}}}},
    "guided_choice": ["oui", "non", "🐙"], "user": "Zoë ☃", "stream_options": None,
    "_private": 1, "model_extra": "not pydantic's", "max_tokens": 64,
}
MESSAGES = [
    {"content": "You are a co-writer. ☃", "role": "system", "name": "sys"},
    {"role": "user", "content": [{"text": "Elena 🐙", "type": "text"},
                                 {"type": "image_url", "image_url": {"url": "data:,x"}}]},
    {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {
        "name": "f", "arguments": "{\"a\": 1}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "ok", "weight": 0.5},
]


def chat_body() -> dict:
    return {"temperature_first": 0.3, "messages": MESSAGES, "world": "scifi_world",
            **EXTRAS, "chapter": 3, "lore": True, "lore_budget": 50, "model": "loregate",
            "stream": False, "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": "auto"}


def wire(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def test_the_forwarded_body_is_the_body_as_sent_less_the_controls_byte_for_byte():
    raw = wire(chat_body())
    body = json.loads(raw)
    forwarded = forwarded_body(ChatRequest.model_validate(body))
    expected = {k: v for k, v in json.loads(raw).items() if k not in CONTROL_FIELDS}
    assert wire(forwarded) == wire(expected)
    assert list(forwarded) == list(expected)
    assert wire(body) == raw  # parsing changed nothing


def test_defaults_are_not_added_and_replaced_fields_keep_their_place():
    body = {"prompt": "Once", "model": "loregate", "world": "w", "top_p": 0.9}
    parsed = CompletionRequest.model_validate(body)
    assert forwarded_body(parsed) == {"prompt": "Once", "model": "loregate", "top_p": 0.9}
    assert list(forwarded_body(parsed, prompt="LORE Once")) == ["prompt", "model", "top_p"]
    assert "stream" not in forwarded_body(parsed) and parsed.stream is False


def test_a_whole_request_changes_no_request_dict(make_client, monkeypatch):
    seen: list[tuple[dict, dict]] = []
    parse = gateway.routes.parse_json

    def keeping(raw: bytes) -> dict:
        body = parse(raw)
        seen.append((body, copy.deepcopy(body)))
        return body

    monkeypatch.setattr(gateway.routes, "parse_json", keeping)
    client, upstream, _ = make_client(tools="drop")
    with client:
        r = client.post("/v1/chat/completions", content=wire(chat_body()))
        c = client.post("/v1/completions",
                        json={"model": "loregate", "prompt": "Elena", "lore": True})
    assert r.status_code == 200 and c.status_code == 200, (r.text, c.text)
    assert [body for body, _ in seen] == [before for _, before in seen]
    assert [list(body) for body, _ in seen] == [list(before) for _, before in seen]
    chat, completion = upstream.received
    expected = {k: v for k, v in chat_body().items()
                if k not in (*CONTROL_FIELDS, "tools", "tool_choice")}
    assert list(chat) == list(expected)
    assert {k: v for k, v in chat.items() if k != "messages"} == {
        k: v for k, v in expected.items() if k != "messages"}
    assert chat["messages"][0]["content"].startswith("You are a co-writer. ☃\n\n")
    assert chat["messages"][1:] == MESSAGES[1:]
    assert completion["prompt"].endswith("\n\nElena") and "lore" not in completion


def test_budget_fitting_takes_numbers_and_counts_only_when_the_bound_is_too_big():
    counted: list[int] = []

    async def count() -> int | None:
        counted.append(1)
        return 100

    async def fitted(bound: int) -> int:
        return await fit_to_window(500, bound, Window(4096, 512, count))

    assert asyncio.run(fitted(1000)) == 500 and counted == []
    assert asyncio.run(fitted(3800)) == 500 and counted == [1]
    assert asyncio.run(fit_to_window(500, 10**6, None)) == 500
