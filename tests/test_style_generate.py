import json

import httpx
import pytest

from training.style import generate
from training.style.cases import Case

CASES = [Case("Write like the author.", f"Scene {i}.", f"Reference {i}.") for i in range(3)]


def fake_vllm(seen: list[dict]):
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/chat/completions"
        body = json.loads(request.content)
        seen.append(body)
        reply = f"{body['messages'][-1]['content']} seed {body['seed']} " + "word " * 10
        return httpx.Response(
            200, json={"choices": [{"message": {"content": reply}, "finish_reason": "stop"}]}
        )

    return httpx.MockTransport(handler)


def test_rounds_repeat_with_new_seeds_until_enough_words():
    seen: list[dict] = []
    settings = generate.SamplingSettings(seed=7, min_words=60, max_rounds=5, concurrency=2)
    got = generate.generate_remote(
        "http://vllm:8100/v1", "style", CASES, settings, transport=fake_vllm(seen)
    )

    assert len(got) == 6, "each round adds ~39 words; two rounds pass 60"
    assert [(g.case, g.round, g.seed) for g in got] == [
        (0, 0, 7), (1, 0, 7), (2, 0, 7), (0, 1, 8), (1, 1, 8), (2, 1, 8),
    ]
    assert got[4].output.startswith("Scene 1. seed 8")
    assert {b["model"] for b in seen} == {"style"}
    assert {(b["temperature"], b["top_p"], b["max_tokens"]) for b in seen} == {(0.8, 0.95, 512)}
    assert seen[0]["messages"][0] == {"role": "system", "content": "Write like the author."}


def test_max_rounds_caps_the_plan():
    settings = generate.SamplingSettings(min_words=10_000, max_rounds=2)
    got = generate.generate_remote("http://x", "m", CASES, settings, transport=fake_vllm([]))
    assert len(got) == 6


def test_server_errors_say_what_went_wrong():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def reject(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {"message": "model 'x' does not exist"}})

    with pytest.raises(generate.GenerationError, match="is the server running"):
        generate.generate_remote("http://x", "m", CASES, generate.SamplingSettings(),
                                 transport=httpx.MockTransport(refuse))
    with pytest.raises(generate.GenerationError, match=r"404.*does not exist"):
        generate.generate_remote("http://x", "m", CASES, generate.SamplingSettings(),
                                 transport=httpx.MockTransport(reject))


def test_base_url_accepts_the_common_spellings():
    for url in ("http://h:8100", "http://h:8100/", "http://h:8100/v1", "http://h:8100/v1/"):
        assert generate.base_url(url) == "http://h:8100"
