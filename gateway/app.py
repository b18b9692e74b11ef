"""Build the gateway app: one upstream client, one lore engine, the routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from gateway import desk
from gateway.auth import APIKeyMiddleware
from gateway.continuity import ContinuityService
from gateway.continuity import router as continuity_router
from gateway.errors import install_handlers
from gateway.limits import RequestLimitsMiddleware
from gateway.lore import LoreService
from gateway.observe import Metrics
from gateway.routes import router
from gateway.settings import GatewaySettings
from gateway.state import GatewayState
from gateway.upstream import UpstreamPool, make_session, redact
from gateway.voices import VoiceRouter
from retrieval import LoreEngine, LoreIndex

log = logging.getLogger("loregate")


def build_app(settings: GatewaySettings | None = None, *,
              engine: LoreIndex | None = None) -> FastAPI:
    """The ASGI app. `engine` (any `LoreIndex`) lets tests put a fake lore engine at the edge."""
    settings = settings or GatewaySettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        session = make_session(settings.connect_timeout, settings.read_timeout)
        async with session:
            pool = UpstreamPool(
                settings.upstream_url, session,
                api_key=settings.upstream_api_key.get_secret_value()
                if settings.upstream_api_key else None,
                restart_marker=settings.restart_marker,
            )
            lore = LoreService(engine or LoreEngine(settings), settings.world,
                               settings.reply_reserve_tokens, settings.lore_wait)
            voices = VoiceRouter(settings.voices_dir, settings.voice, settings.upstream_model,
                                 lambda: _models(pool))
            app.state.gateway = GatewayState(settings, pool, lore, Metrics(), voices)
            app.state.continuity = ContinuityService(settings, app.state.gateway.metrics.registry)
            tasks = [asyncio.create_task(lore.open()),
                     asyncio.create_task(pool.run_health_checks(settings.health_interval))]
            log.info("loregate on http://%s:%d -> %s (world %s)", settings.host, settings.port,
                     ", ".join(map(redact, settings.upstream_url)), settings.world)
            try:
                yield
            finally:
                # first, without blocking: cancelling the task does not stop the thread that
                # builds the index, and the gather below would wait for it
                lore.engine.interrupt()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await asyncio.to_thread(lore.engine.close)

    app = FastAPI(title="loregate", lifespan=lifespan, docs_url=None, redoc_url=None)
    install_handlers(app)
    app.include_router(router)
    app.include_router(continuity_router)
    desk.mount(app, settings)  # the writer's desk at /desk
    if settings.api_key is not None:
        app.add_middleware(APIKeyMiddleware, api_key=settings.api_key.get_secret_value())
    app.add_middleware(RequestLimitsMiddleware, max_headers=settings.max_headers,  # outermost
                       max_header_bytes=settings.max_header_bytes,
                       body_timeout=settings.body_timeout)
    return app


async def _models(pool: UpstreamPool) -> list[dict]:  # type: ignore[type-arg]
    _, data = await pool.get_json("/models")
    return data.get("data", [])
