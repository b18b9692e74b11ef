"""Several upstreams: failover, recovery and least-outstanding routing."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from fake_upstream import Behaviour, build_fake_upstream
from gateway.errors import APIError
from gateway.upstream import UpstreamPool


def routed_transport(live: dict[str, Behaviour]) -> httpx.AsyncBaseTransport:
    """Hosts in `live` answer as fake vLLMs; any other host refuses connections."""
    apps = {host: httpx.ASGITransport(app=build_fake_upstream(b)) for host, b in live.items()}

    class Router(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            transport = apps.get(request.url.host)
            if transport is None:
                raise httpx.ConnectError("connection refused", request=request)
            return await transport.handle_async_request(request)

    return Router()


async def post(pool: UpstreamPool) -> str:
    async with pool.open("POST", "/chat/completions",
                         json={"messages": [{"role": "user", "content": "hi"}],
                               "stream": True}) as (up, r):
        await r.aread()
        return up.url


async def test_a_down_upstream_is_skipped_and_marked_unhealthy():
    transport = routed_transport({"b": Behaviour()})
    async with httpx.AsyncClient(transport=transport) as client:
        pool = UpstreamPool(["http://a/v1", "http://b/v1"], client)
        assert await post(pool) == "http://b/v1"
        assert [u.healthy for u in pool.upstreams] == [False, True]
        assert await post(pool) == "http://b/v1"


async def test_all_down_is_a_502_naming_every_upstream():
    transport = routed_transport({})
    async with httpx.AsyncClient(transport=transport) as client:
        pool = UpstreamPool(["http://a/v1", "http://b/v1"], client)
        with pytest.raises(APIError) as info:
            await post(pool)
    assert info.value.status == 502
    assert "http://a/v1" in info.value.message and "http://b/v1" in info.value.message


async def test_a_recovered_upstream_comes_back_after_a_health_check():
    live = {"b": Behaviour()}
    async with httpx.AsyncClient(transport=routed_transport(live)) as client:
        pool = UpstreamPool(["http://a/v1", "http://b/v1"], client)
        await post(pool)
        assert not pool.upstreams[0].healthy
    live["a"] = Behaviour(max_model_len=4096)
    async with httpx.AsyncClient(transport=routed_transport(live)) as client:
        pool.client = client
        await pool.check_all()
        assert pool.upstreams[0].healthy and pool.upstreams[0].max_model_len == 4096


async def test_requests_go_to_the_upstream_with_fewest_in_flight():
    live = {"a": Behaviour(delay=0.05, chunks=4), "b": Behaviour(delay=0.05, chunks=4)}
    async with httpx.AsyncClient(transport=routed_transport(live)) as client:
        pool = UpstreamPool(["http://a/v1", "http://b/v1"], client)
        used = await asyncio.gather(*(post(pool) for _ in range(6)))
    assert sorted(used) == ["http://a/v1"] * 3 + ["http://b/v1"] * 3
    assert all(u.outstanding == 0 for u in pool.upstreams)
