"""Choose the lore for one request: resolve the world, fit the budget to the context window,
select in a worker thread, and turn retrieval failures into 'no lore' rather than errors.

Writing must never stop because the lore index broke or is still being built, so only an
unknown world (a client mistake) is an error; anything else forwards the request without lore
and says so: `unavailable` when the index failed, `warming` while the first build runs (a
request waits at most `lore_wait` seconds for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import anyio

from gateway.budget import Window, fit_to_window, prompt_token_bound
from gateway.errors import APIError, shown
from gateway.protocol import Controls
from retrieval import LoreIndex, RetrievalError, Selection, UnknownWorld

log = logging.getLogger("loregate.lore")


@dataclass
class LoreOutcome:
    status: str  # ok | off | unavailable | warming | no-room
    world: str | None = None
    selection: Selection | None = None
    seconds: float = 0.0

    @property
    def context(self) -> str:
        return self.selection.context if self.selection else ""

    def headers(self) -> dict[str, str]:
        entries = self.selection.entries if self.selection else []
        headers = {
            "X-Lore-Entries": ",".join(hit.id for hit in entries),
            "X-Lore-Status": self.status,
            "X-Lore-Tokens": str(self.selection.tokens if self.selection else 0),
        }
        if self.world:
            headers["X-Lore-World"] = self.world
        return headers


class LoreService:
    """Owns the engine's life: opened in the background at start-up, awaited by lore requests."""

    def __init__(self, engine: LoreIndex, default_world: str, reply_reserve: int,
                 wait: float = 1.0) -> None:
        self.engine = engine
        self.default_world = default_world
        self.reply_reserve = reply_reserve
        self.wait = wait
        self.ready = asyncio.Event()
        self.error: str | None = None

    async def open(self) -> None:
        started = time.perf_counter()
        try:
            await anyio.to_thread.run_sync(self.engine.open)
            log.info("lore index ready in %.1f s", time.perf_counter() - started)
        except Exception as exc:  # the gateway must keep serving without lore
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("lore engine failed to open; forwarding without lore: %s", self.error)
        finally:
            self.ready.set()

    @property
    def state(self) -> str:
        """warming | failed | ready: what a lore request would meet right now."""
        if not self.ready.is_set():
            return "warming"
        return "failed" if self.error else "ready"

    async def settled(self, timeout: float | None = None) -> bool:
        """Wait up to `timeout` seconds (default `wait`) for the first index build to end."""
        if not self.ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ready.wait(), self.wait if timeout is None else timeout)
        return self.ready.is_set()

    async def _not_ready(self, world: str) -> LoreOutcome | None:
        """The outcome for a request the engine can't serve yet (or at all), else None."""
        if not await self.settled():
            log.info("lore for world %s is still being built; forwarding without lore "
                     "(X-Lore-Status: warming)", world)
            return LoreOutcome("warming", world)
        return LoreOutcome("unavailable", world) if self.error else None

    def health(self) -> tuple[str, str | None]:
        """(warming | ready | failed, the reason it failed). The default world counts: a
        gateway whose index opened but whose world could not be indexed serves no lore."""
        state = self.state
        if state != "ready":
            return state, _without_paths(self.error) if self.error else None
        error = self.engine.status().get(self.default_world, {}).get("error")
        return ("failed", _without_paths(error)) if error else ("ready", None)

    def world_names(self) -> list[str]:
        return self.engine.world_names()

    def voice_of(self, world: str) -> str | None:
        """The voice world.yaml names, once the world is loaded (never waits for it)."""
        return self.engine.status().get(world, {}).get("voice")

    def resolve_world(self, name: str | None) -> str:
        world = name or self.default_world
        known = self.world_names()
        if world not in known:
            raise unknown_world(world, known)
        return world

    async def for_chat(
        self, messages: list[dict[str, Any]], controls: Controls, window: Window | None
    ) -> LoreOutcome:
        """Lore for a chat of `messages`, fitted to `window` (None: its size is unknown)."""
        if controls.lore is False:
            return LoreOutcome("off")
        world = self.resolve_world(controls.world)
        if (outcome := await self._not_ready(world)) is not None:
            return outcome
        wanted = controls.budget if controls.budget is not None else self.engine.world_budget(world)
        budget = await fit_to_window(wanted, prompt_token_bound(messages), window)
        if budget == 0:
            return LoreOutcome("no-room", world)
        return await self._select(world, messages, controls.chapter, budget)

    async def for_completion(self, prompt: Any, controls: Controls) -> LoreOutcome:
        if not (controls.lore or (controls.lore is None and controls.world)):
            return LoreOutcome("off")
        world = self.resolve_world(controls.world)
        if (outcome := await self._not_ready(world)) is not None:
            return outcome
        parts = [prompt] if isinstance(prompt, str) else [p for p in prompt if isinstance(p, str)]
        text = " ".join(parts)
        messages = [{"role": "user", "content": text}]
        return await self._select(world, messages, controls.chapter, controls.budget)

    async def search(self, world: str | None, messages: list[dict[str, Any]],
                     chapter: int | None, budget: int | None) -> tuple[str, Selection]:
        if not await self.settled():
            raise APIError(503, "The lore index is still being built; try again in a few "
                           "seconds.", code="lore_warming", headers={"Retry-After": "5"})
        if self.error:
            raise APIError(503, f"The lore index is unavailable: {self.error}",
                           code="lore_unavailable")
        resolved = self.resolve_world(world)
        try:
            selection = await anyio.to_thread.run_sync(
                lambda: self.engine.select(resolved, messages, chapter=chapter,
                                           budget_tokens=budget))
        except RetrievalError as exc:
            raise APIError(503, f"The lore index is unavailable: {exc}",
                           code="lore_unavailable") from exc
        return resolved, selection

    async def _select(self, world: str, messages: list[dict[str, Any]], chapter: int | None,
                      budget: int | None) -> LoreOutcome:
        started = time.perf_counter()
        try:
            selection = await anyio.to_thread.run_sync(
                lambda: self.engine.select(world, messages, chapter=chapter, budget_tokens=budget))
        except UnknownWorld as exc:  # the folder went away since resolve_world
            raise unknown_world(exc.name, exc.known) from exc
        except Exception as exc:  # index missing or corrupt: write on without lore
            log.warning("lore selection failed for world %s; forwarding without lore: %s",
                        world, exc)
            return LoreOutcome("unavailable", world)
        return LoreOutcome("ok", world, selection, time.perf_counter() - started)


_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/[^\s'\"():,;]+")


def _without_paths(reason: str) -> str:
    """A reason fit for unauthenticated eyes: where files live on this machine is not theirs."""
    return _ABSOLUTE_PATH.sub("<path>", reason)


def unknown_world(name: str, known: list[str]) -> APIError:
    return APIError(
        404, f"Unknown world '{shown(name)}'. Known worlds: {', '.join(known) or 'none'}. "
        "Worlds are folders under the worlds directory (GATEWAY_WORLDS_DIR).",
        param="world", code="unknown_world",
    )
