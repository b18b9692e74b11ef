"""The desk without a browser: path safety of edits, the key and CSRF checks, the Host
check, rollback's command, the Recent ring's bound and the markdown escaping."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.desk import edit, voices
from gateway.desk.ask import messages_from
from gateway.desk.markdown import render
from gateway.observe import RECENT_SIZE, Metrics, RequestRecord
from retrieval import load_world

REPO = Path(__file__).resolve().parent.parent
LOCAL = "http://127.0.0.1:8001"
ENTRY = "---\nname: Sel\naliases: [the moon Sel]\n---\nSel is the innermost moon.\n"


@pytest.fixture
def world(tmp_path: Path) -> Path:
    root = tmp_path / "worlds" / "scifi_world"
    shutil.copytree(REPO / "worlds" / "scifi_world", root)
    return root


@pytest.fixture
def desk_client(make_client: Any) -> Iterator[Callable[..., TestClient]]:
    """`desk_client(worlds, **settings)`: a started gateway (fake engine and upstream)."""
    with contextlib.ExitStack() as started:
        def start(worlds: Path, **settings: Any) -> TestClient:
            client, _, _ = make_client(worlds_dir=worlds, **settings)
            client.base_url = LOCAL  # the desk answers only to the gateway's own names
            return started.enter_context(client)

        yield start


# -- edits never leave the world --------------------------------------------------------
@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd.md", "places/../../x.md",
                                  "places/sel.txt", ".hidden/x.md", "README.md", "",
                                  "places\\sel.md", "places/missing.md"])
def test_paths_outside_the_world_or_not_entries_are_refused(world: Path, name: str) -> None:
    with pytest.raises(edit.EditRefused):
        edit.resolve_target(world, name)


def test_a_link_out_of_the_world_is_refused_and_one_inside_is_written_through(
        world: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text(ENTRY)
    (world / "places" / "out.md").symlink_to(outside)
    with pytest.raises(edit.EditRefused, match="outside the world"):
        edit.resolve_target(world, "places/out.md")
    (world / "places" / "moon.md").symlink_to(world / "places" / "sel.md")
    target = edit.resolve_target(world, "places/moon.md")
    assert target.real == (world / "places" / "sel.md").resolve()
    edit.write_atomically(target.real, ENTRY)
    assert (world / "places" / "moon.md").is_symlink()  # the link is kept, its file changed
    assert (world / "places" / "sel.md").read_text() == ENTRY


def test_writes_are_atomic_and_keep_the_mode(world: Path) -> None:
    file = world / "places" / "sel.md"
    file.chmod(0o640)
    edit.write_atomically(file, ENTRY)
    assert file.read_text() == ENTRY
    assert file.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in file.parent.iterdir() if p.name.startswith(".")] == []


def test_validation_uses_the_parser_and_the_worlds_ids(world: Path) -> None:
    loaded = load_world(world)
    target = edit.resolve_target(world, "places/sel.md")
    bad_yaml = edit.validate("---\nname: Sel\naliases: [x\n---\nText.\n", target, loaded)
    assert bad_yaml and "bad YAML" in bad_yaml[0].message
    dangling = edit.validate("---\nname: Sel\nrelated: [places/nowhere]\n---\nText.\n",
                             target, loaded)
    assert [p.message for p in dangling] == ["related: no entry 'places/nowhere' in this world"]
    assert edit.validate(ENTRY, target, loaded) == []


def _base(html: str) -> str:
    match = re.search(r'name="base" value="([0-9a-f]+)"', html)
    assert match, "the edit form carries the file's fingerprint"
    return match.group(1)


def test_the_edit_route_writes_nothing_when_invalid(desk_client: Any, world: Path) -> None:
    client = desk_client(world.parent)
    file = world / "places" / "sel.md"
    before = file.read_bytes()
    page = client.get("/desk/world/scifi_world/edit", params={"file": "places/sel.md"})
    assert page.status_code == 200
    form = {"csrf": client.cookies["loregate_csrf"], "file": "places/sel.md",
            "base": _base(page.text)}
    answer = client.post("/desk/world/scifi_world/edit",
                         data={**form, "text": "---\nname: [Sel\n---\nText\n"})
    assert answer.status_code == 422 and "bad YAML" in answer.text
    assert file.read_bytes() == before
    answer = client.post("/desk/world/scifi_world/edit",
                         data={**form, "text": ENTRY.replace("\n", "\r\n")},
                         follow_redirects=False)
    assert answer.status_code == 303
    assert file.read_text() == ENTRY  # LF kept on disk


def test_a_file_changed_on_disk_since_the_form_opened_is_not_overwritten(
        desk_client: Any, world: Path) -> None:
    client = desk_client(world.parent)
    file = world / "places" / "sel.md"
    page = client.get("/desk/world/scifi_world/edit", params={"file": "places/sel.md"})
    theirs = ENTRY.replace("innermost", "outermost")
    file.write_text(theirs)  # the writer's own editor saved meanwhile
    form = {"csrf": client.cookies["loregate_csrf"], "file": "places/sel.md", "text": ENTRY}
    answer = client.post("/desk/world/scifi_world/edit", data={**form, "base": _base(page.text)})
    assert answer.status_code == 409 and "changed on disk" in answer.text
    assert file.read_text() == theirs
    again = client.post("/desk/world/scifi_world/edit",  # "save again" replaces it, knowingly
                        data={**form, "base": _base(answer.text)}, follow_redirects=False)
    assert again.status_code == 303 and file.read_text() == ENTRY


def test_problems_are_what_check_reports_on_disk_now(desk_client: Any, world: Path) -> None:
    client = desk_client(world.parent)
    assert client.get("/desk/world/scifi_world?format=json").json()["problems"] == []
    broken = world / "places" / "broken.md"
    broken.write_text("---\nname: Broken\naliases: [x\n---\nText.\n")
    problems = client.get("/desk/world/scifi_world?format=json").json()["problems"]
    checked = load_world(world).issues  # what `python -m retrieval check` prints
    assert [(p["file"], p["line"]) for p in problems] == [
        (i.file.relative_to(world).as_posix(), i.line) for i in checked]
    assert problems[0]["file"] == "places/broken.md"
    assert "bad YAML" in problems[0]["message"]
    page = client.get("/desk/world/scifi_world").text
    assert "/desk/world/scifi_world/edit?file=places/broken.md" in page  # fix it right here
    broken.write_text("---\nname: Broken\naliases: [x]\n---\nText.\n")  # fixed elsewhere
    assert client.get("/desk/world/scifi_world?format=json").json()["problems"] == []


# -- who may use it ---------------------------------------------------------------------
def test_every_post_needs_the_csrf_token(desk_client: Any, world: Path) -> None:
    client = desk_client(world.parent)
    client.get("/desk/ask")
    for data in ({"text": "Elena"}, {"text": "Elena", "csrf": "forged"}):
        assert client.post("/desk/ask", data=data).status_code == 403
    ok = client.post("/desk/ask", data={"text": "Elena", "csrf": client.cookies["loregate_csrf"]})
    assert ok.status_code == 200 and "characters/elena-vasquez" in ok.text


def test_another_host_name_is_refused(desk_client: Any, world: Path) -> None:
    client = desk_client(world.parent)
    assert client.get("/desk/ask").status_code == 200
    rebound = client.get("/desk/ask", headers={"Host": "attacker.example"})
    assert rebound.status_code == 403


def test_with_a_key_the_desk_asks_once_and_the_cookie_opens_only_the_desk(
        desk_client: Any, world: Path) -> None:
    client = desk_client(world.parent, api_key="sekrit")
    first = client.get("/desk/world/scifi_world", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/desk/login")
    assert client.get("/desk/login").status_code == 200  # reachable without the key
    csrf = client.cookies["loregate_csrf"]
    wrong = client.post("/desk/login", data={"csrf": csrf, "key": "nope"})
    assert wrong.status_code == 401 and "loregate_desk" not in client.cookies
    signed = client.post("/desk/login", data={"csrf": csrf, "key": "sekrit",
                                              "next": "https://evil.example/"},
                         follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/desk"
    assert client.get("/desk/world/scifi_world").status_code == 200
    assert client.get("/v1/models").status_code == 401  # the cookie is not an API key
    bearer = TestClient(client.app, base_url=LOCAL)
    assert bearer.get("/desk/recent", headers={"Authorization": "Bearer sekrit"}).status_code == 200


# -- voices -----------------------------------------------------------------------------
def test_rollback_runs_deploys_own_command(desk_client: Any, world: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def fake_run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append({"argv": argv, **kwargs})
        return subprocess.CompletedProcess(argv, 0, "deploy: voice 'narrator' → run-1\n", "")

    monkeypatch.setattr(voices.subprocess, "run", fake_run)
    client = desk_client(world.parent)
    client.app.state.desk.voice_paths = voices.VoicePaths(REPO, tmp_path, tmp_path,
                                                          tmp_path / "voices")
    client.get("/desk/voices")
    assert client.post("/desk/voices/narrator/rollback", data={}).status_code == 403
    assert calls == []
    done = client.post("/desk/voices/narrator/rollback",
                       data={"csrf": client.cookies["loregate_csrf"]})
    assert done.status_code == 200 and "deploy: voice" in done.text
    assert calls[0]["argv"][1:] == ["-m", "training", "deploy", "--voice", "narrator",
                                    "--rollback"]
    assert calls[0]["env"]["LOREGATE_VOICES"] == str(tmp_path / "voices")
    assert client.post("/desk/voices/NOT A VOICE/rollback",
                       data={"csrf": client.cookies["loregate_csrf"]}).status_code == 409
    assert len(calls) == 1


def test_loss_curves_share_one_scale() -> None:
    train, evals = [(0.0, 4.0), (10.0, 2.0)], [(0.0, 3.0), (10.0, 3.0)]
    box = voices.bounds(train, evals)
    assert voices.curve(train, box, 100, 100) == "0.0,0.0 100.0,100.0"
    assert voices.curve(evals, box, 100, 100) == "0.0,50.0 100.0,50.0"


# -- the rest ---------------------------------------------------------------------------
def test_recent_keeps_a_bounded_number_of_generation_requests() -> None:
    metrics = Metrics()
    for _ in range(RECENT_SIZE + 5):
        RequestRecord("chat", metrics).finish()
    RequestRecord("models", metrics).finish()
    assert len(metrics.recent) == RECENT_SIZE
    assert all(r.route == "chat" for r in metrics.recent)


def test_markdown_escapes_everything() -> None:
    html = render("## A <b>\n**bold** <script>alert(1)</script>\n\n- one\n- two")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<h3>A &lt;b&gt;</h3>" in html and "<strong>bold</strong>" in html
    assert "<ul><li>one</li><li>two</li></ul>" in html


def test_a_pasted_conversation_becomes_messages() -> None:
    assert messages_from("Elena walks.\nShe stops.") == [
        {"role": "user", "content": "Elena walks.\nShe stops."}]
    assert [m["role"] for m in messages_from("user: hi\nassistant: yes\nUser: Marcus")] == [
        "user", "assistant", "user"]
    assert messages_from('[{"role": "system", "content": "x"}]') == [
        {"role": "system", "content": "x"}]


def test_the_desk_modules_stay_small() -> None:
    for module in (REPO / "gateway" / "desk").glob("*.py"):
        assert len(module.read_text().splitlines()) < 400, module
    assert os.access(REPO / "scripts" / "install_browser.sh", os.X_OK)


def test_recent_shows_what_was_injected_and_the_continuity_findings() -> None:
    from gateway.desk.recent import recent_view
    from retrieval import LoreHit

    metrics = Metrics()
    record = RequestRecord("chat", metrics, request_id="req-1", world="scifi_world",
                           voice="narrator", chapter=12, lore_tokens=40,
                           lore_context="World lore: Elena Vasquez...",
                           lore_hits=[LoreHit("characters/elena-vasquez", "Elena Vasquez", 1.0,
                                              "alias", 40, "alias 'Elena'")])
    record.first_byte_at = record.started + 0.0123
    record.finish()
    store = {"req-1": {"count": 1, "findings": [{"kind": "attribute", "quote": "her right arm",
                                                 "message": "Elena's replaced arm is the left"}]}}
    row = recent_view(list(metrics.recent), store, 10)["requests"][0]
    assert row["entries"][0]["why"] == "alias 'Elena'" and row["chapter"] == 12
    assert row["context"] == "World lore: Elena Vasquez..."
    assert row["ttft_ms"] == 12.3 and row["voice"] == "narrator"
    assert row["findings_count"] == 1 and row["findings"][0]["kind"] == "attribute"
