import json

import httpx
import pytest

from training.prompts import (
    PromptError,
    continuation_request,
    keywords,
    llm_requests,
    names,
    place,
    scene_request,
)

PASSAGE = (
    '"Hold it," Elena said. Marcus held the valve while Elena crawled into the engineering '
    "bay. The coolant line shook. Elena watched the coolant gauge climb, and Marcus swore.\n\n"
    '"It will hold," Patience said. Back in the engineering bay the coolant hissed.'
)


def test_heuristic_request_names_who_where_and_what() -> None:
    who = names(PASSAGE)
    assert who[0] == "Elena" and set(who) == {"Elena", "Marcus", "Patience"}
    assert place(PASSAGE) == "the engineering"
    assert "coolant" in keywords(PASSAGE)
    request = scene_request(PASSAGE, seed=3)
    assert "Elena" in request and "the coolant" in request and "words" in request
    assert request == scene_request(PASSAGE, seed=3)  # deterministic per seed


def test_continuation_holds_the_previous_passage() -> None:
    assert continuation_request("Before.").endswith("\n\nBefore.")


def fake_openai(replies: list[str]) -> httpx.MockTransport:
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "style"}]})
        body = json.loads(request.content)
        seen.append(body)
        assert body["model"] == "style" and body["temperature"] == 0.0
        assert "Passage:" in body["messages"][0]["content"]
        return httpx.Response(
            200, json={"choices": [{"message": {"content": replies[len(seen) - 1]}}]}
        )

    return httpx.MockTransport(handler)


def test_llm_back_translation_keeps_one_line_per_passage() -> None:
    transport = fake_openai(['"Write the storm scene."\nextra chatter', "Elena fixes the arm."])
    got = llm_requests(["p1", "p2"], "http://127.0.0.1:8200/v1", transport=transport)
    assert got == ["Write the storm scene.", "Elena fixes the arm."]


def test_llm_errors_are_one_clear_message() -> None:
    down = httpx.MockTransport(lambda r: httpx.Response(503, json={"error": "loading"}))
    with pytest.raises(PromptError, match="--prompts heuristic"):
        llm_requests(["p"], "http://127.0.0.1:8200", model="m", transport=down)
    odd = httpx.MockTransport(lambda r: httpx.Response(200, json={"nope": 1}))
    with pytest.raises(PromptError, match="OpenAI chat server"):
        llm_requests(["p"], "http://127.0.0.1:8200", model="m", transport=odd)
