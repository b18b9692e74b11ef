"""The writer's desk: a local web page, served by the gateway at /desk, to see and tend the
world, the voices and what the model was told. Server-rendered (Jinja2), a little plain
JavaScript, no build step.

`mount(app, settings)` adds its routes to the gateway app; `attach(state)` (called from the
app's lifespan, once the lore service exists) taps the lore calls for the Recent view.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from gateway.desk.routes import public, router
from gateway.desk.security import DeskDenied
from gateway.desk.state import HERE, build_state
from gateway.settings import GatewaySettings

__all__ = ["mount"]


def mount(app: FastAPI, settings: GatewaySettings) -> None:
    app.state.desk = build_state(settings)
    app.add_exception_handler(DeskDenied, lambda _request, exc: exc.response)  # type: ignore[arg-type, return-value]
    app.include_router(public)
    app.include_router(router)
    # css and js only: nothing under it is private, so it needs no sign-in
    app.mount("/desk/static", StaticFiles(directory=HERE / "static"), name="desk-static")

