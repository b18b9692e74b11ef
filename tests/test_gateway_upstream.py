"""Several upstreams: failover, recovery and least-outstanding routing, over real sockets."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from gateway.errors import APIError
from gateway.upstream import UpstreamPool, make_session
from tests.fakes.live_server import free_port, serve
from tests.fakes.upstream import Behaviour, build_fake_upstream


async def post(pool: UpstreamPool) -> str:
    async with pool.open("POST", "/chat/completions",
                         json={"messages": [{"role": "user", "content": "hi"}],
                               "stream": True}) as (up, r):
        await r.read()
        return up.url


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there


async def test_a_down_upstream_is_skipped_and_marked_unhealthy():
    down = closed_url()
    with serve(build_fake_upstream(Behaviour())) as live:
        async with make_session(2, 10) as session:
            pool = UpstreamPool([down, live + "/v1"], session)
            assert await post(pool) == live + "/v1"
            assert [u.healthy for u in pool.upstreams] == [False, True]
            assert await post(pool) == live + "/v1"


async def test_all_down_is_a_502_naming_every_upstream():
    urls = [closed_url(), closed_url()]
    async with make_session(2, 10) as session:
        pool = UpstreamPool(urls, session)
        with pytest.raises(APIError) as info:
            await post(pool)
    assert info.value.status == 502
    assert all(url in info.value.message for url in urls)


async def test_a_recovered_upstream_comes_back_after_a_health_check():
    port = free_port()
    async with make_session(2, 10) as session:
        pool = UpstreamPool([f"http://127.0.0.1:{port}/v1"], session)
        await pool.check_all()
        assert not pool.upstreams[0].healthy
        with serve(build_fake_upstream(Behaviour(max_model_len=4096)), port=port):
            await pool.check_all()
        assert pool.upstreams[0].healthy and pool.upstreams[0].max_model_len == 4096


async def test_requests_go_to_the_upstream_with_fewest_in_flight():
    with contextlib.ExitStack() as servers:
        urls = [servers.enter_context(serve(build_fake_upstream(Behaviour(delay=0.05, chunks=4))))
                + "/v1" for _ in range(2)]
        async with make_session(2, 10) as session:
            pool = UpstreamPool(urls, session)
            used = await asyncio.gather(*(post(pool) for _ in range(6)))
    assert sorted(used) == sorted(urls * 3)
    assert all(u.outstanding == 0 for u in pool.upstreams)
