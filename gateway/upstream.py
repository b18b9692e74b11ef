"""The model servers behind the gateway: routing, health, and the one place errors are mapped.

Requests go to the healthy upstream with the fewest requests in flight. A connect failure marks
an upstream down and the request moves to the next one (nothing reached the failed one, so
retrying is safe); a background check brings it back when /health answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gateway.errors import APIError

log = logging.getLogger("loregate.upstream")

RETRY_AFTER_SECONDS = "30"


@dataclass
class Upstream:
    url: str  # the OpenAI base, e.g. http://127.0.0.1:8000/v1
    healthy: bool = True
    outstanding: int = 0
    max_model_len: int | None = None
    model_ids: list[str] = field(default_factory=list)
    tool_parser: bool | None = None  # None until a tools request tells us

    @property
    def root(self) -> str:
        """Server root, where vLLM keeps /health and /tokenize."""
        return self.url.removesuffix("/v1")


class UpstreamPool:
    def __init__(
        self,
        urls: list[str],
        client: httpx.AsyncClient,
        *,
        api_key: str | None = None,
        restart_marker: Path | None = None,
    ) -> None:
        if not urls:
            raise ValueError("at least one upstream URL is needed")
        self.upstreams = [Upstream(url) for url in urls]
        self.client = client
        self._auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._restart_marker = restart_marker

    def pick(self, exclude: set[str] = frozenset()) -> Upstream | None:
        candidates = [u for u in self.upstreams if u.url not in exclude]
        healthy = [u for u in candidates if u.healthy] or candidates
        return min(healthy, key=lambda u: u.outstanding, default=None)

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"url": u.url, "healthy": u.healthy, "outstanding": u.outstanding,
             "max_model_len": u.max_model_len}
            for u in self.upstreams
        ]

    @contextlib.asynccontextmanager
    async def open(
        self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None
    ) -> AsyncIterator[tuple[Upstream, httpx.Response]]:
        """Send to the best upstream and yield its response with the body still unread.

        Connect failures fall through to the next upstream; every other transport error becomes
        an APIError here, so callers only ever see httpx responses or APIError.
        """
        tried: set[str] = set()
        while (upstream := self.pick(tried)) is not None:
            tried.add(upstream.url)
            request = self.client.build_request(
                method, upstream.url + path, json=json, headers={**self._auth, **(headers or {})}
            )
            upstream.outstanding += 1
            try:
                try:
                    response = await self.client.send(request, stream=True)
                except httpx.ConnectError as exc:
                    self._mark_down(upstream, exc)
                    continue
                except httpx.TimeoutException as exc:
                    if isinstance(exc, httpx.ConnectTimeout):
                        self._mark_down(upstream, exc)
                        continue
                    raise self._timeout(upstream) from exc
                except httpx.TransportError as exc:
                    raise self._unreachable(upstream, exc) from exc
                try:
                    yield upstream, response
                finally:
                    await response.aclose()
                return
            finally:
                upstream.outstanding -= 1
        raise self._none_reachable()

    async def get_json(self, path: str) -> tuple[Upstream, Any]:
        async with self.open("GET", path) as (upstream, response):
            await response.aread()
            if response.status_code >= 400:
                raise upstream_status_error(response)
            return upstream, response.json()

    async def count_prompt_tokens(self, upstream: Upstream, body: dict[str, Any]) -> int | None:
        """Prompt tokens as the upstream counts them (vLLM's /tokenize), or None if it can't."""
        payload = {k: body[k] for k in ("model", "messages", "tools") if k in body}
        try:
            response = await self.client.post(
                upstream.root + "/tokenize", json=payload, headers=self._auth
            )
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        data = response.json()
        if data.get("max_model_len"):
            upstream.max_model_len = data["max_model_len"]
        return data.get("count")

    async def check_all(self) -> None:
        await asyncio.gather(*(self._check(u) for u in self.upstreams))

    async def run_health_checks(self, interval: float) -> None:
        while True:
            await self.check_all()
            await asyncio.sleep(interval)

    async def _check(self, upstream: Upstream) -> None:
        started = time.perf_counter()
        try:
            response = await self.client.get(upstream.url + "/models", headers=self._auth)
            response.raise_for_status()
            models = response.json().get("data", [])
        except (httpx.HTTPError, ValueError) as exc:
            if upstream.healthy:
                self._mark_down(upstream, exc)
            return
        upstream.model_ids = [m.get("id") for m in models]
        lengths = [m["max_model_len"] for m in models if m.get("max_model_len")]
        upstream.max_model_len = min(lengths) if lengths else None
        if not upstream.healthy:
            log.info("upstream %s is back (%.0f ms)", upstream.url,
                     (time.perf_counter() - started) * 1000)
        upstream.healthy = True

    def _mark_down(self, upstream: Upstream, exc: BaseException) -> None:
        if upstream.healthy:
            log.warning("upstream %s is unreachable (%s); skipping it until it recovers",
                        upstream.url, type(exc).__name__)
        upstream.healthy = False

    def _restarting(self) -> bool:
        return self._restart_marker is not None and self._restart_marker.exists()

    def _restarting_error(self) -> APIError:
        return APIError(
            503, "The model server is restarting on a new model; try again shortly.",
            code="upstream_restarting", headers={"Retry-After": RETRY_AFTER_SECONDS},
        )

    def _none_reachable(self) -> APIError:
        if self._restarting():
            return self._restarting_error()
        urls = ", ".join(u.url for u in self.upstreams)
        return APIError(
            502,
            f"Cannot reach the model server at {urls}. Is vLLM running? "
            "Start the whole stack with `make serve`, or point GATEWAY_UPSTREAM_URL at it.",
            code="upstream_unreachable",
        )

    def _unreachable(self, upstream: Upstream, exc: BaseException) -> APIError:
        if self._restarting():
            return self._restarting_error()
        return APIError(
            502, f"The model server at {upstream.url} failed: {type(exc).__name__}: {exc}",
            code="upstream_error",
        )

    def _timeout(self, upstream: Upstream) -> APIError:
        return APIError(
            504, f"The model server at {upstream.url} did not answer in time.",
            code="upstream_timeout",
        )


def upstream_status_error(response: httpx.Response) -> APIError:
    """The upstream's own 4xx/5xx, passed on with its status and message."""
    message = response.text or response.reason_phrase
    param = code = None
    err_type = None
    try:
        error = response.json().get("error")
    except ValueError:
        error = None
    if isinstance(error, dict):
        message = str(error.get("message") or message)
        param, code, err_type = error.get("param"), error.get("code"), error.get("type")
    elif isinstance(error, str):
        message = error
    return APIError(response.status_code, message, param=param,
                    code=str(code) if code is not None else None, type=err_type)
