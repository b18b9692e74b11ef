"""The desk's pages: each route builds its view's data (world.py, ask.py, recent.py,
voices.py) and `page()` renders it, or returns it as JSON with `?format=json`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from gateway.desk import ask, edit, voices
from gateway.desk.recent import recent_view
from gateway.desk.security import SESSION_COOKIE, safe_next, set_cookie
from gateway.desk.state import checked_form, desk, page, read_form
from gateway.desk.world import entry_view, is_stale, world_view
from gateway.errors import APIError
from gateway.state import GatewayState
from retrieval import RetrievalError, World
from retrieval.entry import Problem

RECENT_SHOWN = 100


def _guard(request: Request) -> None:
    desk(request).guard.check(request)


public = APIRouter()  # the login form: reachable before signing in
router = APIRouter(dependencies=[Depends(_guard)])


def _gateway(request: Request) -> GatewayState:
    return request.app.state.gateway


def _not_found(request: Request, message: str) -> Response:
    return page(request, "error.html", {"error": message}, status=404)


async def _world(request: Request, name: str) -> World | Response:
    lore = _gateway(request).lore
    if name not in lore.world_names():
        return _not_found(request, f"No world '{name}'. Known: {', '.join(lore.world_names())}")
    ready = lore.state == "ready"
    return await anyio.to_thread.run_sync(
        lambda: desk(request).worlds.load(lore.engine, name, ready))


# -- signing in -------------------------------------------------------------------------
@public.get("/desk/login")
async def login_form(request: Request, next: str = "/desk") -> Response:
    desk(request).guard.check_host(request)
    return page(request, "login.html", {"next": safe_next(next), "error": None})


@public.post("/desk/login")
async def login(request: Request) -> Response:
    guard = desk(request).guard
    guard.check_host(request)
    form = await read_form(request)
    guard.check_csrf(request, form.get("csrf"))
    if not guard.key_matches(form.get("key", "")):
        return page(request, "login.html", {"next": safe_next(form.get("next")),
                                            "error": "That is not the gateway's key."},
                    status=401)
    response = RedirectResponse(safe_next(form.get("next")), 303)
    set_cookie(response, SESSION_COOKIE, guard.new_session())
    return response


@router.post("/desk/logout")
async def logout(request: Request) -> Response:
    await checked_form(request)
    desk(request).guard.end_session(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/desk/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/desk")
    return response


# -- World ------------------------------------------------------------------------------
@router.get("/desk")
async def home(request: Request) -> Response:
    return RedirectResponse(f"/desk/world/{_gateway(request).lore.default_world}", 303)


@router.get("/desk/world/{name}")
async def world_page(request: Request, name: str, q: str = "",
                     chapter: int | None = None) -> Response:
    world = await _world(request, name)
    if isinstance(world, Response):
        return world
    state = desk(request)
    disk = await anyio.to_thread.run_sync(state.worlds.on_disk, name)
    rows, row_html = await anyio.to_thread.run_sync(state.rows.get, world, state.render_rows)
    data = world_view(world, disk.problems, _gateway(request).lore.world_names(), query=q,
                      chapter=chapter, rows=rows)
    if request.query_params.get("format") != "json":
        data = {**data, "row_html": row_html}  # the rows, rendered once per snapshot
    return page(request, "world.html", {**data, "stale": is_stale(world, disk.world)})


@router.post("/desk/world/{name}/reindex")
async def reindex(request: Request, name: str) -> Response:
    """Read the world's changed files into the engine now (for edits made elsewhere)."""
    await checked_form(request)
    if name not in _gateway(request).lore.world_names():
        return _not_found(request, f"No world '{name}'.")
    error = await anyio.to_thread.run_sync(_reindex, _gateway(request), name)
    if error:
        return page(request, "error.html", {"error": f"Re-indexing failed: {error}"}, 500)
    return RedirectResponse(f"/desk/world/{name}", 303)


@router.get("/desk/world/{name}/entry/{entry_id:path}")
async def entry_page(request: Request, name: str, entry_id: str) -> Response:
    world = await _world(request, name)
    if isinstance(world, Response):
        return world
    entry = world.entries.get(entry_id)
    if entry is None:
        return _not_found(request, f"No entry '{entry_id}' in {name}.")
    disk = await anyio.to_thread.run_sync(desk(request).worlds.on_disk, name)
    return page(request, "entry.html", entry_view(world, entry, disk.problems))


# -- Edit -------------------------------------------------------------------------------
def _edit_data(world: World, target: edit.Target, text: str, base: str,
               problems: list[Any], saved: bool = False) -> dict[str, Any]:
    return {"world": world.name, "file": target.relative, "text": text, "saved": saved,
            "problems": [{"line": p.line, "message": p.message} for p in problems],
            "entry": edit.entry_id(target.relative), "base": base}


@router.get("/desk/world/{name}/edit")
async def edit_form(request: Request, name: str, file: str, saved: bool = False) -> Response:
    world = await _world(request, name)
    if isinstance(world, Response):
        return world
    try:
        target = edit.resolve_target(world.root, file)
        text = target.real.read_text(encoding="utf-8")
        base = edit.fingerprint(target.real)
    except (edit.EditRefused, OSError, UnicodeDecodeError) as exc:
        return page(request, "error.html", {"error": str(exc)}, status=403)
    return page(request, "edit.html", _edit_data(world, target, text, base, [], saved))


@router.post("/desk/world/{name}/edit")
async def edit_save(request: Request, name: str) -> Response:
    form = await checked_form(request)
    world = await _world(request, name)
    if isinstance(world, Response):
        return world
    try:
        target = edit.resolve_target(world.root, form.get("file", ""))
    except edit.EditRefused as exc:
        return page(request, "error.html", {"error": str(exc)}, status=403)
    text, base = edit.normalise(form.get("text", "")), form.get("base", "")
    now = edit.fingerprint(target.real)
    if base != now:  # changed on disk since the form was opened: show it, write nothing
        changed = Problem(1, "the file changed on disk since this page was opened; nothing "
                          "was written. Save again to replace it with the text below, or "
                          "reload the page to see the file as it is now.")
        return page(request, "edit.html", _edit_data(world, target, text, now, [changed]),
                    status=409)
    problems = edit.validate(text, target, world)
    if problems:  # nothing is written: the writer fixes it here
        return page(request, "edit.html", _edit_data(world, target, text, base, problems),
                    status=422)
    await anyio.to_thread.run_sync(edit.write_atomically, target.real, text)
    error = await anyio.to_thread.run_sync(_reindex, _gateway(request), name)
    if error:
        data = _edit_data(world, target, text, edit.fingerprint(target.real), [], saved=True)
        return page(request, "edit.html", {**data, "reindex_error": error})
    return RedirectResponse(f"/desk/world/{name}/edit?file={quote(target.relative)}&saved=true",
                            303)


def _reindex(state: GatewayState, name: str) -> str | None:
    """Re-read the changed world into the engine now (its parse cache re-parses one file)."""
    engine = state.lore.engine
    if state.lore.state != "ready" or not hasattr(engine, "reindex"):
        return None  # the first build is running and reads the new file itself
    try:
        engine.reindex(name)
    except RetrievalError as exc:
        return str(exc)
    return None


# -- Ask the lore -----------------------------------------------------------------------
@router.get("/desk/ask")
async def ask_form(request: Request) -> Response:
    lore = _gateway(request).lore
    return page(request, "ask.html", {"worlds": lore.world_names(), "world": lore.default_world,
                                      "text": "", "chapter": None, "budget": None,
                                      "result": None, "error": None})


@router.post("/desk/ask")
async def ask_lore(request: Request) -> Response:
    form = await checked_form(request)
    lore = _gateway(request).lore
    text = form.get("text", "")[: ask.MAX_PASTE_CHARS]
    data: dict[str, Any] = {"worlds": lore.world_names(),
                            "world": form.get("world") or lore.default_world, "text": text,
                            "chapter": _int(form.get("chapter")),
                            "budget": _int(form.get("budget")), "result": None, "error": None}
    messages = ask.messages_from(text)
    try:
        world, selection = await lore.search(data["world"], messages, data["chapter"],
                                             data["budget"])
    except APIError as exc:
        return page(request, "ask.html", {**data, "error": exc.message}, status=exc.status)
    data["result"] = ask.answer(world, selection, messages, data["budget"], data["chapter"])
    return page(request, "ask.html", data)


def _int(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() else None


# -- Recent -----------------------------------------------------------------------------
@router.get("/desk/recent")
async def recent(request: Request) -> Response:
    state = _gateway(request)
    continuity = getattr(request.app.state, "continuity", None)
    store = continuity.store if continuity is not None else {}
    return page(request, "recent.html",
                recent_view(list(state.metrics.recent), store, RECENT_SHOWN))


# -- Voices -----------------------------------------------------------------------------
@router.get("/desk/voices")
async def voices_page(request: Request) -> Response:
    paths = desk(request).voice_paths
    data = await anyio.to_thread.run_sync(voices.page, paths)
    return page(request, "voices.html", {**data, "message": None, "ok": True})


@router.post("/desk/voices/{voice}/rollback")
async def rollback(request: Request, voice: str) -> Response:
    await checked_form(request)
    paths = desk(request).voice_paths
    ok, output = await anyio.to_thread.run_sync(voices.rollback, paths, voice)
    data = await anyio.to_thread.run_sync(voices.page, paths)
    return page(request, "voices.html", {**data, "message": output, "ok": ok,
                                         "rolled": voice}, status=200 if ok else 409)


@router.get("/desk/voices/plot/{name}")
async def plot(request: Request, name: str) -> Response:
    reports = desk(request).voice_paths.reports
    path = reports / name
    if not voices.PLOT_NAME.match(name) or not path.is_file():
        return _not_found(request, f"No plot '{name}'.")
    return FileResponse(path, media_type="image/png")
