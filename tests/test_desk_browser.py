"""The writer's desk in a real browser: Debian's chromium, headless, driven by Playwright.

One real gateway on a socket (the real lore engine over a copy of scifi_world in a temp
folder, a fake vLLM upstream), and a second one with GATEWAY_API_KEY set. Each test also
saves a screenshot of the page it proves into docs/desk/ (shown in the README).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway import GatewaySettings, build_app
from gateway.desk.voices import VoicePaths
from tests.adapters import fake_adapter
from tests.fakes.gateway import FakeEngine
from tests.fakes.live_server import serve
from tests.fakes.upstream import Behaviour, build_fake_upstream

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "docs" / "desk"
WORLD = "scifi_world"
KEY = "desk-test-key"
VOICE = "narrator"
CHANGED_PIXELS = 400  # of 1280 x 860: a changed word or more
READY_TIMEOUT_S = 300  # the first index build of scifi_world, on a busy 2-core machine


def _chromium() -> str:
    """Debian's chromium, installed (with Playwright for Python) when missing."""
    found = shutil.which("chromium")
    if found is None or importlib.util.find_spec("playwright") is None:
        subprocess.run([str(REPO / "scripts" / "install_browser.sh")], check=True)
        importlib.invalidate_caches()
        found = shutil.which("chromium")
    assert found, "scripts/install_browser.sh did not install chromium"
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@dataclass
class Stack:
    url: str
    worlds: Path  # the copy of the worlds folder this gateway serves
    app: Any


def _fake_training(root: Path) -> VoicePaths:
    """Two runs (the newer with a loss curve) and a voice that serves the newer one, with its
    history, as training and deploy leave them; a run config that keeps deploy in `root`."""
    base = root / "base"
    base.mkdir()
    (base / "config.json").write_text(json.dumps({"hidden_size": 64, "intermediate_size": 128}))
    runs, voices = root / "checkpoints", root / "voices"
    first = fake_adapter(runs, "run-20261201-090000").resolve()
    second = fake_adapter(runs, "run-20261201-101500").resolve()
    lines = [{"step": s, "loss": 3.2 * 0.97 ** s + 0.02 * (s % 3), "lr": 2e-3}
             for s in range(1, 61)]
    lines += [{"step": s, "eval_loss": 3.3 * 0.98 ** s} for s in range(0, 61, 10)]
    (second.parent / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (second.parent / "summary.json").write_text(json.dumps({"best_eval_loss": 2.88,
                                                            "wall_seconds": 412}))
    (voices / VOICE).mkdir(parents=True)
    (voices / VOICE / "current").symlink_to(second)
    (voices / VOICE / "history.jsonl").write_text("".join(json.dumps(x) + "\n" for x in (
        {"at": "2026-12-01T09:10:00+00:00", "target": str(first), "previous": None},
        {"at": "2026-12-01T10:30:00+00:00", "target": str(second), "previous": str(first)})))
    config = root / "train.yaml"
    config.write_text(yaml.safe_dump({
        "extends": str(REPO / "configs" / "train_embedded.yaml"), "base_model": str(base),
        "output_dir": str(runs),
        "loregate": {"merged_dir": str(root / "merged"), "voices_dir": str(voices)}}))
    return VoicePaths(repo=REPO, runs=runs, reports=REPO / "scripts" / "results",
                      voices=voices, config=config)


@contextlib.contextmanager
def _gateway(root: Path, **settings: Any) -> Iterator[Stack]:
    worlds = root / "worlds"
    shutil.copytree(REPO / "worlds" / WORLD, worlds / WORLD)
    with serve(build_fake_upstream(Behaviour(chunks=8))) as upstream:
        config = GatewaySettings(upstream_url=[upstream + "/v1"], worlds_dir=worlds,
                                 index_dir=root / "index", voices_dir=root / "voices",
                                 world=WORLD, **settings)
        app = build_app(config, **({"engine": FakeEngine()} if config.api_key else {}))
        app.state.desk.voice_paths = _fake_training(root)
        with serve(app) as url:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while httpx.get(url + "/health").status_code != 200:
                assert time.monotonic() < deadline, "the gateway's lore index never got ready"
                time.sleep(0.5)
            yield Stack(url, worlds, app)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with _gateway(tmp_path_factory.mktemp("desk")) as running:
        yield running


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A gateway with GATEWAY_API_KEY set (a fake lore engine: the world is read from disk)."""
    with _gateway(tmp_path_factory.mktemp("desk-key"), api_key=KEY) as running:
        yield running


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    yield context.new_page()
    context.close()


def shot(page: Any, name: str, mask: list[Any] | None = None) -> None:
    """docs/desk/<name>.png; `mask` covers what changes run to run (clock times), so the
    picture in the repository changes only when the page does."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    png = page.screenshot(full_page=False, mask=mask or [], mask_color="#e2e4e8",
                          animations="disabled", caret="hide")
    path = SHOTS / f"{name}.png"
    if not path.is_file() or _changed(path.read_bytes(), png):
        path.write_bytes(png)


def _changed(old: bytes, new: bytes) -> bool:
    """Whether the page looks different: Chromium's PNG bytes vary for the same pixels, and a
    few edge pixels vary run to run, so only more than CHANGED_PIXELS differing count."""
    from PIL import Image, ImageChops

    with Image.open(io.BytesIO(old)) as a, Image.open(io.BytesIO(new)) as b:
        if a.size != b.size:
            return True
        diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).convert("L")
        return sum(diff.point(lambda v: 255 if v else 0).histogram()[255:]) > CHANGED_PIXELS


def visible_ids(page: Any) -> set[str]:
    return set(page.eval_on_selector_all(
        "li.entry:not([hidden])", "els => els.map(e => e.dataset.id)"))


# -- World ------------------------------------------------------------------------------
def test_browse_and_search_the_world(stack: Stack, page: Any) -> None:
    page.goto(stack.url + "/desk")
    assert page.url.endswith(f"/desk/world/{WORLD}")
    assert len(visible_ids(page)) == 51
    assert page.locator("section.group").first.get_attribute("data-type") == "character"
    shot(page, "world")

    page.fill("#search", "marcus")
    assert visible_ids(page) == {"characters/marcus-okafor", "characters/marcus-okafor-relieved"}
    assert page.inner_text("#shown") == "2"
    page.fill("#search", "shear line")  # a key of The Narrows
    assert visible_ids(page) == {"places/the-narrows"}

    page.click("li.entry[data-id='places/the-narrows'] a")
    assert page.inner_text("#entry-name") == "The Narrows"
    assert "shear line" in page.inner_text("#keys")
    assert "Tomas Brandt" in page.inner_text("#related")
    assert "corridor" in page.inner_text("#entry-text")
    page.goto(stack.url + f"/desk/world/{WORLD}/entry/characters/marcus-okafor")
    assert "until ch. 11" in page.inner_text("#span")
    assert "he/him" in page.inner_text("#facts")
    shot(page, "entry")


def test_the_chapter_slider_shows_what_holds(stack: Stack, page: Any) -> None:
    page.goto(stack.url + f"/desk/world/{WORLD}")
    page.fill("#chapter", "12")
    ids = visible_ids(page)
    assert "characters/marcus-okafor-relieved" in ids and "events/vael-accord" in ids
    assert "characters/marcus-okafor" not in ids
    assert "events/vael-accord-negotiations" not in ids
    assert page.inner_text("#chapter-label") == "12"
    assert page.inner_text("#count") == "49 of 51 entries hold at chapter 12"
    shot(page, "world-chapter")
    page.fill("#chapter", "5")
    ids = visible_ids(page)
    assert "characters/marcus-okafor" in ids and "characters/marcus-okafor-relieved" not in ids
    page.click("#chapter-any")
    assert len(visible_ids(page)) == 51
    # the server agrees (the page without script, and its JSON twin)
    data = httpx.get(stack.url + f"/desk/world/{WORLD}?chapter=12&format=json").json()
    assert data["shown"] == 49


# -- Ask the lore ---------------------------------------------------------------------------
def _ask(page: Any, url: str, text: str, chapter: str = "", budget: str = "") -> None:
    page.goto(url + "/desk/ask")
    page.fill("#text", text)
    page.fill("#ask-chapter", chapter)
    page.fill("#budget", budget)
    page.click("#ask")
    page.wait_for_selector("#result")


def hit_rows(page: Any, table: str = "#hits") -> dict[str, str]:
    return dict(page.eval_on_selector_all(
        f"{table} tbody tr", "rows => rows.map(r => [r.dataset.id, r.cells[1].innerText])"))


def test_the_dry_run_shows_exactly_what_would_be_injected(stack: Stack, page: Any) -> None:
    _ask(page, stack.url, "Marcus waits on the bridge while Elena checks the shear lines.",
         chapter="12", budget="600")
    hits = hit_rows(page)
    assert hits.get("characters/marcus-okafor-relieved") in ("name", "alias")
    assert "characters/marcus-okafor" not in hits  # chapter 12: the relieved Marcus
    tokens = int(page.inner_text("#tokens"))
    assert 0 < tokens <= 600
    # the same engine call as POST /v1/lore/search: the same block, to the byte
    api = httpx.post(stack.url + "/v1/lore/search", json={
        "world": WORLD, "query": "Marcus waits on the bridge while Elena checks the shear lines.",
        "chapter": 12, "lore_budget": 600}).json()
    assert page.inner_text("#context") == api["context"].strip()
    assert tokens == api["tokens"]
    assert set(hit_rows(page, "#dropped")) == {h["id"] for h in api["dropped"]}
    assert api["dropped"], "600 tokens, 443 of them always-entries: something must drop"
    shot(page, "ask")


# -- Recent -------------------------------------------------------------------------------
def test_a_request_through_the_gateway_appears_under_recent(stack: Stack, page: Any) -> None:
    with httpx.stream("POST", stack.url + "/v1/chat/completions", headers={
            "X-Story-Chapter": "12", "X-Request-Id": "desk-test-recent"}, json={
            "model": "loregate", "stream": True, "max_tokens": 20,
            "messages": [{"role": "user", "content": "Elena checks her arm before the storm."}],
    }) as response:
        assert response.status_code == 200
        entries = response.headers["x-lore-entries"].split(",")
        request_id = response.headers["x-request-id"]
        response.read()
    assert "characters/elena-vasquez" in entries
    page.goto(stack.url + "/desk/recent")
    row = page.locator(f"details.request[data-id='{request_id}']")
    assert "ch. 12" in row.locator("summary").inner_text()
    shown = row.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert shown == entries
    assert not row.locator("pre.block").is_visible()
    row.locator("summary").click()  # one click: the exact block that was injected
    block = row.locator("pre.block")
    assert block.is_visible()
    assert "Elena Vasquez" in block.inner_text()
    shot(page, "recent", mask=[page.locator(".time"), page.locator(".ttft"),
                               page.locator(".lore-ms")])


# -- Edit --------------------------------------------------------------------------------
def test_a_bad_edit_is_refused_and_a_good_one_is_selected(stack: Stack, page: Any) -> None:
    file = stack.worlds / WORLD / "tech" / "lift-coral.md"
    before = file.read_bytes()
    page.goto(stack.url + f"/desk/world/{WORLD}/entry/tech/lift-coral")
    page.click("#edit-link")
    original = page.input_value("#text")
    assert original.replace("\r\n", "\n").strip() == before.decode().strip()

    page.fill("#text", original.replace("aliases: [coral]", "aliases: [coral"))
    page.click("#save")
    problems = page.inner_text("#problems")
    assert "bad YAML" in problems and "line " in problems
    assert file.read_bytes() == before  # nothing written
    shot(page, "edit-rejected")

    good = original.replace("keys: [coral roots,", "keys: [glasswater beacon, coral roots,")
    assert good != original
    page.fill("#text", good)
    page.click("#save")
    page.wait_for_selector("#saved")
    assert b"glasswater beacon" in file.read_bytes()
    assert not list(file.parent.glob(".*.tmp"))  # the temp file was renamed, not left
    shot(page, "edit-saved")

    _ask(page, stack.url, "The glasswater beacon flickered over the empty dock.")
    assert hit_rows(page).get("tech/lift-coral") == "key"


def test_a_change_made_in_another_editor_is_flagged_and_reindexed(stack: Stack,
                                                                  page: Any) -> None:
    file = stack.worlds / WORLD / "places" / "oru.md"
    text = file.read_text()
    assert "keys: [" in text
    page.goto(stack.url + f"/desk/world/{WORLD}")
    assert page.locator("#stale").count() == 0
    file.write_text(text.replace("keys: [", "keys: [amber lighthouse, ", 1))  # not via the desk
    page.reload()
    assert "Files changed on disk" in page.inner_text("#stale")
    page.click("#reindex")
    assert page.url.endswith(f"/desk/world/{WORLD}")
    assert page.locator("#stale").count() == 0
    _ask(page, stack.url, "The amber lighthouse turned over the bay.")
    assert hit_rows(page).get("places/oru") == "key"


def test_an_edit_outside_the_world_is_refused(stack: Stack, page: Any, tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text("---\nname: Outside\n---\nNot part of any world.\n")
    (stack.worlds / WORLD / "places" / "escape.md").symlink_to(outside)
    for file in ("../../etc/passwd", "places/escape.md", "/etc/passwd.md"):
        page.goto(stack.url + f"/desk/world/{WORLD}/edit?file={file}")
        assert "Not here" in page.inner_text("h1")
    assert outside.read_text().startswith("---\nname: Outside")


# -- The key ----------------------------------------------------------------------------
def test_writes_are_refused_without_the_key(keyed: Stack, page: Any) -> None:
    file = keyed.worlds / WORLD / "places" / "sel.md"
    before = file.read_bytes()
    # no session: a write is refused, whoever sends it, and nothing changes
    answer = page.request.post(keyed.url + f"/desk/world/{WORLD}/edit",
                               form={"file": "places/sel.md", "text": "---\nname: X\n---\nY\n"},
                               max_redirects=0)
    assert answer.status == 401
    assert file.read_bytes() == before
    # the API itself still wants the bearer key; the desk's pages redirect to the login form
    assert httpx.get(keyed.url + "/v1/models").status_code == 401
    page.goto(keyed.url + f"/desk/world/{WORLD}")
    assert "/desk/login" in page.url
    page.fill("#key", "wrong")
    page.click("#sign-in")
    assert "not the gateway's key" in page.inner_text("#login-error")
    shot(page, "login")
    page.fill("#key", KEY)
    page.click("#sign-in")
    assert page.url.endswith(f"/desk/world/{WORLD}")
    assert len(visible_ids(page)) > 40

    # signed in, but a form without its CSRF token is still refused
    answer = page.request.post(keyed.url + f"/desk/world/{WORLD}/edit",
                               form={"file": "places/sel.md", "text": "---\nname: X\n---\nY\n"})
    assert answer.status == 403
    assert file.read_bytes() == before


# -- Voices -------------------------------------------------------------------------------
def test_voices_show_runs_reports_and_roll_back(stack: Stack, page: Any, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    paths = stack.app.state.desk.voice_paths
    page.goto(stack.url + "/desk/voices")
    voice = page.locator(f".voice[data-voice='{VOICE}']")
    assert "serves run-20261201-101500/best" in voice.inner_text()
    points = page.locator("svg.curve polyline.train").get_attribute("points") or ""
    assert len(points.split()) == 60
    assert page.locator("svg.curve polyline.eval").count() == 1
    reports = page.locator(".report")
    assert reports.count() >= 1 and "overall style score" in reports.first.inner_text()
    shot(page, "voices")

    # the real `python -m training deploy --voice narrator --rollback`, kept off any vLLM
    monkeypatch.setenv("LOREGATE_VLLM_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("LOREGATE_RUN_DIR", str(tmp_path / "run"))
    voice.locator("button.rollback").click()
    output = page.inner_text("#rollback-output")
    assert "deploy: voice 'narrator'" in output, output
    link = paths.voices / VOICE / "current"
    assert link.resolve().parent.name == "run-20261201-090000"
    assert "serves run-20261201-090000/best" in page.locator(
        f".voice[data-voice='{VOICE}']").inner_text()
