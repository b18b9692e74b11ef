"""The whole stack as `make serve` runs it, no fakes: real vLLM serving the embedded model, the
real gateway with real Chroma and the real embedding model, and real clients (the official
openai client and the Continue CLI). The last tests deploy a model and stop the stack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import httpx
import openai
import pytest
import yaml

from e2e_stack import REPO, Stack, ask_continue, printed_continue_config, serve_stack
from serve import STOP_GRACE_SECONDS, group_alive

QUESTION = [{"role": "user", "content": "Describe Elena Vasquez's cybernetic arm in one line."}]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with serve_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


def test_make_serve_prints_the_urls_and_a_continue_config(stack: Stack):
    out = (stack.logs.parent / "serve.out").read_text()
    assert f"Gateway: {stack.gateway}" in out
    config = yaml.safe_load(printed_continue_config(out))
    assert config["models"][0]["apiBase"] == stack.gateway
    assert config["models"][0]["provider"] == "openai"
    assert json.loads(out.split("config.json:\n", 1)[1].split("\n\n", 1)[0])["models"][0][
        "apiBase"] == stack.gateway


def test_a_streamed_chat_through_the_gateway_carries_lore_to_vllm(stack: Stack):
    vllm, gateway = stack.vllm, stack.gateway
    client = openai.OpenAI(base_url=gateway, api_key="unused", max_retries=0)
    with client.chat.completions.with_streaming_response.create(
        model="loregate", messages=QUESTION, stream=True, max_tokens=40, temperature=0,
        seed=1, stream_options={"include_usage": True},
    ) as response:
        entries = response.headers["x-lore-entries"].split(",")
        lore_tokens = int(response.headers["x-lore-tokens"])
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "characters/elena-vasquez" in entries
    assert text.strip()
    with_lore = chunks[-1].usage.prompt_tokens

    # The same request straight to vLLM: the difference in prompt tokens is the lore.
    direct = openai.OpenAI(base_url=vllm, api_key="unused", max_retries=0)
    plain = direct.chat.completions.create(model="loregate", messages=QUESTION, max_tokens=1)
    assert with_lore - plain.usage.prompt_tokens >= 0.9 * lore_tokens > 0


def test_lore_off_is_transparent(stack: Stack):
    vllm, gateway = stack.vllm, stack.gateway
    body = {"model": "loregate", "messages": QUESTION, "max_tokens": 12, "temperature": 0,
            "seed": 3}
    through = openai.OpenAI(base_url=gateway, api_key="x", max_retries=0).chat.completions
    direct = openai.OpenAI(base_url=vllm, api_key="x", max_retries=0).chat.completions
    a = through.create(**body, extra_headers={"X-Lore": "off"})
    b = direct.create(**body)
    assert a.usage.prompt_tokens == b.usage.prompt_tokens
    assert a.choices[0].message.content == b.choices[0].message.content


def test_seeded_sampling_through_the_gateway_is_repeatable(stack: Stack):
    client = openai.OpenAI(base_url=stack.gateway, api_key="unused", max_retries=0)
    body = {"model": "loregate", "messages": QUESTION, "max_tokens": 16, "temperature": 0.9,
            "top_p": 0.95, "seed": 1234}
    first = client.chat.completions.create(**body).choices[0].message.content
    second = client.chat.completions.create(**body).choices[0].message.content
    assert first and first == second


def test_models_and_lore_search_answer_from_the_real_index(stack: Stack):
    gateway = stack.gateway
    client = openai.OpenAI(base_url=gateway, api_key="unused", max_retries=0)
    assert client.models.list().data[0].id == "loregate"
    found = client.post("/lore/search", cast_to=object,
                        body={"query": "the glowing skin language of the tall aliens"})
    assert found["world"] == "scifi_world"
    assert found["entries"], found
    assert all(e["trigger"] in {"name", "alias", "key", "vector", "related", "always"}
               for e in found["entries"])


def test_the_continue_cli_chats_through_the_gateway(stack: Stack, tmp_path):
    result = ask_continue(stack, tmp_path, "Who is Elena Vasquez? One sentence.")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() and '"status":"error"' not in result.stdout
    gateway_log = (stack.logs / "gateway.log").read_text()
    assert "dropped" in gateway_log and "tools" in gateway_log
    access = [json.loads(line.split("loregate.access ", 1)[1])
              for line in gateway_log.splitlines() if "loregate.access " in line]
    assert any("characters/elena-vasquez" in a["entries"] and a["stream"] for a in access)


def test_a_merged_deploy_restarts_vllm_while_the_gateway_answers_503(stack: Stack):
    # `training deploy --merged` moves the stack's merged_models/current; a second folder
    # (links to the same weights, checked) stands in for a newly merged model.
    new_model = stack.merged / "run-new"
    new_model.mkdir()
    for item in (REPO / "models" / "SmolLM2-135M-Instruct").iterdir():
        (new_model / item.name).symlink_to(item)
    (new_model / "loregate_check.json").write_text('{"passed": true}')
    deployed = subprocess.run([str(REPO / ".venv/bin/python"), "-m", "training", "deploy",
                               "--merged", "run-new"], cwd=REPO, env={**os.environ, **stack.env},
                              capture_output=True, text=True, timeout=120)
    assert deployed.returncode == 0, deployed.stderr
    assert (stack.merged / "current").resolve() == new_model.resolve()

    body = {"model": "loregate", "messages": QUESTION, "max_tokens": 4}
    statuses: list[int] = []
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        r = httpx.post(stack.gateway + "/chat/completions", json=body, timeout=120)
        statuses.append(r.status_code)
        if r.status_code == 503:
            assert r.headers["retry-after"] and r.json()["error"]["code"]
        if r.status_code == 200 and 503 in statuses:
            break
        time.sleep(1)
    assert 503 in statuses and statuses[-1] == 200, statuses
    assert set(statuses) <= {200, 503}, statuses
    assert "new model deployed" in (stack.logs.parent / "serve.out").read_text()


def test_ctrl_c_stops_both_servers(stack: Stack):
    groups = {name: int((stack.run / f"{name}.pid").read_text()) for name in ("vllm", "gateway")}
    stack.process.send_signal(signal.SIGINT)
    # serve.py gives both servers STOP_GRACE_SECONDS together, then kills what is left; the
    # margin covers a loaded box reaping vLLM's engine workers after a restart.
    limit = STOP_GRACE_SECONDS + 45
    try:
        stack.process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        alive = [name for name, pid in groups.items() if group_alive(pid)]
        pytest.fail(f"make serve still running {limit} s after Ctrl-C; still alive: "
                    f"{alive or 'only serve.py itself'}\n"
                    + (stack.logs.parent / "serve.out").read_text(errors="replace")[-2000:])
    deadline = time.monotonic() + 5  # the kernel may take a moment to reap a killed group
    while time.monotonic() < deadline and any(group_alive(pid) for pid in groups.values()):
        time.sleep(0.1)
    # each server led its own process group, vLLM's engine workers included
    alive = [name for name, pid in groups.items() if group_alive(pid)]
    assert alive == [], f"still running after make serve exited: {alive}"
