"""Streams over real sockets: mid-stream failures, client disconnects, many at once,
and the official openai client."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import openai
import pytest

from gateway import GatewaySettings, build_app
from tests.fakes.gateway import FakeEngine
from tests.fakes.live_server import serve
from tests.fakes.upstream import Behaviour, build_fake_upstream

ELENA = [{"role": "user", "content": "Elena checks the reactor."}]


@pytest.fixture
def stack():
    """A fake vLLM and the real gateway, each on its own port. Yields (gateway URL, behaviour)."""

    def start(behaviour: Behaviour, **settings):
        upstream_cm = serve(build_fake_upstream(behaviour))
        upstream_url = upstream_cm.__enter__()
        config = GatewaySettings(upstream_url=[upstream_url + "/v1"], **settings)
        gateway_cm = serve(build_app(config, engine=FakeEngine()))
        opened.extend([upstream_cm, gateway_cm])
        return gateway_cm.__enter__()

    opened: list = []
    yield start
    for cm in reversed(opened):
        cm.__exit__(None, None, None)


def test_a_stream_that_breaks_midway_ends_with_an_error_event_and_done(stack):
    # Chunks 50 ms apart, as from a model: the failure comes after three have been relayed.
    url = stack(Behaviour(chunks=10, fail_after=3, delay=0.05))
    with httpx.stream("POST", url + "/v1/chat/completions", timeout=10,
                      json={"model": "loregate", "messages": ELENA, "stream": True}) as r:
        raw = b"".join(r.iter_raw()).decode()
    events = [e for e in raw.split("\n\n") if e.strip()]
    assert events[-1] == "data: [DONE]"
    error = json.loads(events[-2].removeprefix("data: "))["error"]
    assert error["code"] == "upstream_stream_error"
    assert sum('"delta"' in e for e in events) == 3


def test_a_client_that_leaves_cancels_the_upstream_request(stack):
    behaviour = Behaviour(endless=True, delay=0.01)
    url = stack(behaviour)
    with httpx.stream("POST", url + "/v1/chat/completions", timeout=10,
                      json={"model": "loregate", "messages": ELENA, "stream": True}) as r:
        for _ in r.iter_raw():
            break  # read one chunk, then hang up
    deadline = time.monotonic() + 5
    while behaviour.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert behaviour.disconnects == 1


def test_fifty_concurrent_streams_each_arrive_whole(stack):
    url = stack(Behaviour(chunks=20, delay=0.005))

    async def one(client: openai.AsyncOpenAI, i: int) -> str:
        stream = await client.chat.completions.create(
            model="loregate", stream=True, messages=[{"role": "user", "content": f"Elena #{i}"}])
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    async def run() -> list[str]:
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        async with client:
            return await asyncio.gather(*(one(client, i) for i in range(50)))

    texts = asyncio.run(run())
    expected = "".join(f"w{i} " for i in range(20))
    assert texts == [expected] * 50


def test_the_official_openai_client_streams_and_not(stack):
    url = stack(Behaviour(chunks=4))
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="loregate", messages=ELENA)
    assert raw.headers["x-lore-entries"] == "characters/elena-vasquez"
    assert raw.parse().choices[0].message.content == "w0 w1 w2 w3 "
    stream = client.chat.completions.create(model="loregate", messages=ELENA, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "w0 w1 w2 w3 "
    assert chunks[-1].usage.completion_tokens == 4
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="loregate", messages=ELENA,
                                       extra_headers={"X-World": "narnia"})
    assert "narnia" in str(info.value)


def test_a_client_that_leaves_a_non_streamed_request_cancels_it_upstream(stack):
    behaviour = Behaviour(first_delay=5)
    url = stack(behaviour)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url + "/v1/chat/completions", timeout=httpx.Timeout(10, read=0.5),
                   json={"model": "loregate", "messages": ELENA})
    deadline = time.monotonic() + 4
    while behaviour.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert behaviour.disconnects == 1
