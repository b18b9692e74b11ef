"""What the desk keeps for one app: its guard, its templates, where voices live, and the tap
that lets Recent show what each request was told."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from gateway.desk.markdown import render
from gateway.desk.security import CSRF_COOKIE, DeskDenied, DeskGuard, csrf_token, set_cookie
from gateway.desk.voices import VoicePaths
from gateway.desk.world import RowCache, WorldSource
from gateway.settings import GatewaySettings
from retrieval import World
from retrieval.settings import REPO
from training import layout

HERE = Path(__file__).resolve().parent
MAX_FORM_BYTES = 2 * 1024 * 1024  # an entry file is at most 1 MiB; its form, a little more


@dataclass
class DeskState:
    settings: GatewaySettings
    guard: DeskGuard
    worlds: WorldSource
    voice_paths: VoicePaths
    templates: Jinja2Templates
    rows: RowCache = field(default_factory=RowCache)

    def render_rows(self, world: World, rows: list[dict[str, Any]]) -> dict[str, Markup]:
        """Each entry's list item, rendered once per world snapshot: a 1,000-entry world
        page then costs one join instead of 1,000 template passes."""
        template = self.templates.env.get_template("_entry_row.html")
        return {row["id"]: Markup(template.render(e=row, world=world.name))  # autoescaped
                for row in rows}


def build_state(settings: GatewaySettings) -> DeskState:
    key = settings.api_key.get_secret_value() if settings.api_key else None
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["markdown"] = render
    paths = VoicePaths(repo=REPO, runs=REPO / layout.RUNS_DIR,
                       reports=REPO / "scripts" / "results", voices=settings.voices_dir)
    return DeskState(settings, DeskGuard(key, settings.host),
                     WorldSource(settings.worlds_dir, settings.max_entry_bytes), paths,
                     templates)


def desk(request: Request) -> DeskState:
    return request.app.state.desk


def page(request: Request, template: str, data: Mapping[str, Any], *,
         status: int = 200) -> Response:
    """The view's data as JSON (`?format=json`), else rendered into `template`. Every page
    carries the CSRF token its forms send back (and sets the cookie the first time)."""
    if request.query_params.get("format") == "json":
        return JSONResponse(dict(data), status_code=status)
    token, fresh = csrf_token(request)
    state = desk(request)
    response: HTMLResponse = state.templates.TemplateResponse(
        request, template, {**data, "csrf": token, "default_world": state.settings.world,
                            # a sign-out button only where there is a session to end
                            "signed_in": state.guard.api_key is not None
                            and state.guard.signed_in(request)},
        status_code=status)
    if fresh:
        set_cookie(response, CSRF_COOKIE, token)
    return response


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form (what the desk's forms send), its last value per field."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise DeskDenied(Response("The form is too large.", 413, media_type="text/plain"))
        chunks.append(chunk)
    fields = parse_qs(b"".join(chunks).decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[-1] for name, values in fields.items()}


async def checked_form(request: Request) -> dict[str, str]:
    """The form of a write, once its CSRF token matches the cookie (else DeskDenied 403)."""
    form = await read_form(request)
    desk(request).guard.check_csrf(request, form.get("csrf"))
    return form
