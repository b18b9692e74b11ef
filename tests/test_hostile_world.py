"""A world folder that fights back: a 50 MB entry, a FIFO, links out of the world, /dev/zero,
a YAML alias bomb. Each is reported as one issue and never read past the size cap; the rest
of the world loads and indexes; and closing the engine stops an index build at once."""

from __future__ import annotations

import errno
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from retrieval import LoreEngine, RetrievalSettings
from retrieval import index as index_module
from retrieval import store as store_module
from retrieval.cli import main
from retrieval.entry import MAX_MESSAGE, parse_entry
from retrieval.render import (
    _ABBREVIATIONS,
    _LIST_OR_HEADING,
    _SENTENCE_END,
    cut_points,
    shortened,
    shortening_points,
)
from retrieval.store import Chunk
from retrieval.world import MAX_ENTRY_BYTES, Interrupted, load_world

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "worlds" / "scifi_world"
MB = 1 << 20
HANG_LIMIT_S = 30  # a load that takes longer than this is hanging (it used to, forever)

GOOD = {
    "characters/elena.md": "---\nname: Elena Vasquez\naliases: [Elena]\n---\nElena is the chief "
                           "engineer of the Meridian. She is forty-nine.\n",
    "places/greenhouse.md": "---\nname: Greenhouse\n---\nThe hydroponic garden on deck three: "
                            "tomato vines and lettuce beds under violet lamps.\n",
}
# 403 bytes that expand to 9**7 strings: its repr in an error message was 62 MB
ALIAS_BOMB = """---
name: Bomb
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
priority: [*f,*f,*f,*f,*f,*f,*f,*f,*f]
---
Boom.
"""


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def finishes(work: Callable[[], object], seconds: float = HANG_LIMIT_S) -> object:
    """`work()`'s result, failing the test (not hanging it) if it takes longer."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]


def unblock_fifo(path: Path) -> None:
    """Let a reader stuck opening the FIFO go (it reads EOF), so a failing test can't hang."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    except OSError as exc:
        assert exc.errno == errno.ENXIO  # nobody is reading it: nothing to unblock


def issues_by_file(world) -> dict[Path, list[str]]:
    found: dict[Path, list[str]] = {}
    for issue in world.issues:
        found.setdefault(issue.file, []).append(issue.message)
    return found


@pytest.fixture
def read_bytes(monkeypatch) -> list[int]:
    """Sizes of every os.read while the test runs."""
    sizes: list[int] = []
    real = os.read

    def counting(fd: int, n: int) -> bytes:
        data = real(fd, n)
        sizes.append(len(data))
        return data

    monkeypatch.setattr(os, "read", counting)
    return sizes


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    """Every path os.open is asked for while the test runs."""
    paths: list[str] = []
    real = os.open

    def recording(path, flags, *args, **kwargs):
        paths.append(os.fspath(path))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", recording)
    return paths


# files that are not read --------------------------------------------------------------------


def test_fifo_is_reported_not_read(tmp_path):
    world_dir = tmp_path / "w"
    write(world_dir, "characters/elena.md", GOOD["characters/elena.md"])
    fifo = world_dir / "characters" / "pipe.md"
    os.mkfifo(fifo)
    try:
        world = finishes(lambda: load_world(world_dir))
    finally:
        unblock_fifo(fifo)
    assert list(world.entries) == ["characters/elena"]
    [message] = issues_by_file(world)[fifo]
    assert "named pipe (FIFO)" in message and "not a regular file" in message


def test_file_over_the_cap_is_skipped_with_its_size_and_not_read(tmp_path, read_bytes):
    world_dir = tmp_path / "w"
    write(world_dir, "lore/small.md", "---\nname: Small\n---\nFits.\n")
    huge = write(world_dir, "lore/huge.md", "---\nname: Huge\n---\n")
    with huge.open("r+b") as handle:  # 50 MB in an instant: a sparse file
        handle.truncate(50 * MB)
    world = finishes(lambda: load_world(world_dir))
    assert list(world.entries) == ["lore/small"]
    [message] = issues_by_file(world)[huge]
    assert "50.0 MB (52,428,800 bytes)" in message and "1.0 MB" in message
    assert "GATEWAY_MAX_ENTRY_BYTES" in message
    assert sum(read_bytes) < MAX_ENTRY_BYTES  # the big one was refused before any read


def test_cap_is_configurable_and_counts_bytes(tmp_path):
    write(tmp_path, "lore/a.md", "---\nname: A\n---\n" + "x" * 84)  # exactly 100 bytes
    write(tmp_path, "lore/b.md", "---\nname: B\n---\n" + "x" * 85)
    world = load_world(tmp_path, max_entry_bytes=100)
    assert list(world.entries) == ["lore/a"]
    assert [issue.file.name for issue in world.issues] == ["b.md"]
    assert "101 bytes" in world.issues[0].message


def test_setting_for_the_cap(monkeypatch):
    assert RetrievalSettings().max_entry_bytes == MAX_ENTRY_BYTES == MB
    monkeypatch.setenv("GATEWAY_MAX_ENTRY_BYTES", "4096")
    assert RetrievalSettings().max_entry_bytes == 4096


# links ----------------------------------------------------------------------------------------


def test_links_out_of_the_world_are_reported_and_never_opened(tmp_path, opened):
    outside = write(tmp_path, "elsewhere/secret.md", "---\nname: Secret\n---\nPrivate notes.\n")
    world_dir = tmp_path / "w"
    write(world_dir, "characters/elena.md", GOOD["characters/elena.md"])
    file_link = world_dir / "characters" / "x.md"
    file_link.symlink_to(outside)
    zero_link = world_dir / "lore" / "zero.md"
    zero_link.parent.mkdir()
    zero_link.symlink_to("/dev/zero")
    folder_link = world_dir / "places"
    folder_link.symlink_to(outside.parent, target_is_directory=True)
    world = finishes(lambda: load_world(world_dir))
    assert list(world.entries) == ["characters/elena"]
    issues = issues_by_file(world)
    for link in (file_link, zero_link, folder_link):
        [message] = issues[link]
        assert "outside the world folder" in message and "not read" in message
    shown = [str(issue) for issue in world.issues]
    assert any(line.startswith(f"{file_link}:1: is a link to {outside}") for line in shown)
    assert not [path for path in opened if not Path(path).is_relative_to(world_dir.resolve())]


def test_links_inside_the_world_are_followed_and_loops_are_not(tmp_path):
    world_dir = tmp_path / "w"
    write(world_dir, ".shared/ship.md", "---\nname: Meridian\n---\nThe survey ship.\n")
    write(world_dir, "characters/elena.md", GOOD["characters/elena.md"])
    (world_dir / "places").symlink_to(world_dir / ".shared", target_is_directory=True)
    (world_dir / "characters" / "chief.md").symlink_to(world_dir / "characters" / "elena.md")
    loop = world_dir / "characters" / "again"
    loop.symlink_to(world_dir, target_is_directory=True)
    world = finishes(lambda: load_world(world_dir))
    assert sorted(world.entries) == ["characters/chief", "characters/elena", "places/ship"]
    assert [(issue.file, "contains it" in issue.message) for issue in world.issues] == [
        (loop, True)]


# YAML -----------------------------------------------------------------------------------------


def test_yaml_alias_bomb_is_refused_with_a_short_message(tmp_path):
    assert len(ALIAS_BOMB) < 410
    entry, problems = finishes(lambda: parse_entry(ALIAS_BOMB, "lore/bomb.md"))
    assert entry is None
    [problem] = problems
    assert problem.line == 4  # where the first alias is
    assert problem.message == "front matter uses a YAML alias (*a); write the values out"
    write(tmp_path, "world.yaml", ALIAS_BOMB.split("---\n")[1])
    world = finishes(lambda: load_world(tmp_path))
    [issue] = world.issues
    assert "world.yaml uses a YAML alias (*a)" in issue.message


def test_anchors_without_aliases_and_stars_in_text_still_load():
    text = '---\nname: &n "Star *gazer*"\nkeys: ["*"]\n---\nA body with *emphasis*.\n'
    entry, problems = parse_entry(text, "lore/star.md")
    assert problems == [] and entry is not None
    assert entry.name == "Star *gazer*" and entry.keys == ("*",)


def test_messages_quoting_huge_values_stay_short():
    items = ", ".join(str(n) for n in range(20_000))
    text = f"---\nname: Big\npriority: [{items}]\nalways: [{items}]\n---\nBody.\n"
    _, problems = parse_entry(text, "lore/big.md")
    assert len(problems) == 2
    assert all(len(p.message) <= MAX_MESSAGE for p in problems)
    assert any(p.message.startswith("priority: must be a whole number, got [0, 1, 2, 3, ...")
               for p in problems)


# the whole world, through check and the engine ---------------------------------------------


def make_hostile_world(worlds: Path) -> tuple[Path, dict[str, Path]]:
    world_dir = worlds / "hostile"
    for relative, text in GOOD.items():
        write(world_dir, relative, text)
    outside = write(worlds.parent, "outside/notes.md", "---\nname: Notes\n---\nNot lore.\n")
    bad = {
        "huge": write(world_dir, "lore/huge.md", "---\nname: Huge\n---\n"),
        "fifo": world_dir / "lore" / "pipe.md",
        "link": world_dir / "characters" / "notes.md",
        "zero": world_dir / "lore" / "zero.md",
        "bomb": write(world_dir, "lore/bomb.md", ALIAS_BOMB),
    }
    with bad["huge"].open("r+b") as handle:
        handle.truncate(50 * MB)
    os.mkfifo(bad["fifo"])
    bad["link"].symlink_to(outside)
    bad["zero"].symlink_to("/dev/zero")
    return world_dir, bad


def test_check_reports_each_hostile_file_once(tmp_path, capsys):
    _, bad = make_hostile_world(tmp_path / "worlds")
    try:
        code = finishes(lambda: main(["check", "hostile", "--worlds-dir", str(tmp_path / "worlds"),
                                      "--index-dir", str(tmp_path / "index")]))
    finally:
        unblock_fifo(bad["fifo"])
    assert code == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(bad)
    for path in bad.values():
        assert sum(f"{path.parent.name}/{path.name}:" in line for line in lines) == 1
    assert any("50.0 MB" in line for line in lines)


def test_hostile_world_loads_and_indexes_its_good_entries(tmp_path, read_bytes):
    _, bad = make_hostile_world(tmp_path / "worlds")
    engine = LoreEngine(RetrievalSettings(worlds_dir=tmp_path / "worlds",
                                          index_dir=tmp_path / "index"))
    try:
        report = finishes(lambda: engine.reindex("hostile"))
        world = engine.world("hostile")
        assert sorted(world.entries) == ["characters/elena", "places/greenhouse"]
        assert report.added == 2
        issues = issues_by_file(world)
        assert {path: len(messages) for path, messages in issues.items()} == {
            path: 1 for path in bad.values()}
        assert max(read_bytes) < MAX_ENTRY_BYTES
        hits = engine.search("hostile", "Where do they grow tomatoes under violet lamps?")
        assert "places/greenhouse" in [hit.id for hit in hits.entries]
        assert "Not lore" not in engine.search("hostile", "Notes").context
    finally:
        unblock_fifo(bad["fifo"])
        engine.close()


# stopping -------------------------------------------------------------------------------------


def big_world(worlds: Path, entries: int = 300) -> None:
    words = ["the", "ship", "crossed", "narrows", "slowly", "while", "crew", "watched", "dark"]
    rng = random.Random(7)
    for number in range(entries):
        body = " ".join(rng.choice(words) for _ in range(220)) + "."
        write(worlds / "big", f"lore/e{number:03d}.md", f"---\nname: Entry {number}\n---\n{body}\n")


def test_close_stops_a_running_open_within_two_seconds(tmp_path):
    big_world(tmp_path / "worlds")
    engine = LoreEngine(RetrievalSettings(worlds_dir=tmp_path / "worlds",
                                          index_dir=tmp_path / "index"))
    embedding = threading.Event()
    real_embed = engine.embedder.embed

    def embed(texts, *args, **kwargs):
        embedding.set()
        return real_embed(texts, *args, **kwargs)

    engine.embedder.embed = embed  # type: ignore[method-assign]
    failure: list[BaseException] = []

    def open_engine() -> None:
        try:
            engine.open()
        except BaseException as exc:
            failure.append(exc)

    opening = threading.Thread(target=open_engine, daemon=True)
    opening.start()
    assert embedding.wait(120), "indexing never started"
    started = time.monotonic()
    engine.close()
    opening.join(2.0)
    assert not opening.is_alive(), "open() still running 2 s after close()"
    assert time.monotonic() - started < 2.0
    assert [type(exc) for exc in failure] == [Interrupted]
    with pytest.raises(Interrupted):  # a closed engine loads nothing more
        engine.reindex("big")


def test_load_world_stops_when_asked(tmp_path):
    write(tmp_path, "lore/a.md", "---\nname: A\n---\nText.\n")
    stop = threading.Event()
    assert list(load_world(tmp_path, stop=stop).entries) == ["lore/a"]
    stop.set()
    with pytest.raises(Interrupted):
        load_world(tmp_path, stop=stop)


def test_ctrl_c_ends_an_index_build_within_two_seconds(tmp_path):
    big_world(tmp_path / "worlds")
    command = [sys.executable, "-m", "retrieval", "index", "big", "--worlds-dir",
               str(tmp_path / "worlds"), "--index-dir", str(tmp_path / "index")]
    process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        for line in process.stderr:  # wait until it is busy embedding (or loading the model)
            if "embedding 300 entries" in line:
                break
        # keep reading, or a full pipe would block the process where the test waits for it
        threading.Thread(target=process.stderr.read, daemon=True).start()
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        process.wait(timeout=10)
        assert time.monotonic() - started < 2.0
        assert process.returncode != 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_open_leaves_the_models_loaded_even_with_nothing_to_index(tmp_path):
    for relative, text in GOOD.items():
        write(tmp_path / "worlds" / "small", relative, text)
    settings = RetrievalSettings(worlds_dir=tmp_path / "worlds", index_dir=tmp_path / "index")
    first = LoreEngine(settings)
    first.open()
    first.close()
    engine = LoreEngine(settings)  # everything is indexed: open() embeds nothing
    assert engine.ready_parts() == {"embedder": False, "tokenizer": False}
    engine.open()
    try:
        assert engine.ready_parts() == {"embedder": True, "tokenizer": True}
    finally:
        engine.close()


def test_replace_batches_end_on_entry_boundaries(monkeypatch):
    monkeypatch.setattr(store_module, "_BATCH", 4)
    sizes = {"a": 3, "b": 2, "c": 6, "d": 1}
    chunks = [Chunk(f"{entry}#{n}", entry, "h", "t") for entry, count in sizes.items()
              for n in range(count)]
    ranges = list(store_module._entry_batches(chunks))
    assert ranges == [(0, 3), (3, 5), (5, 11), (11, 12)]
    for _, end in ranges:
        assert end == len(chunks) or chunks[end - 1].entry_id != chunks[end].entry_id


# linear text handling -------------------------------------------------------------------------


def reference_cut_points(body: str) -> list[int]:
    """cut_points as it was (quadratic): the behaviour the linear one must keep."""
    points: set[int] = set()
    for match in _SENTENCE_END.finditer(body):
        word = body[: match.start()].rsplit(None, 1)[-1] if body[: match.start()].strip() else ""
        if body[match.start()] == "." and word.lower().lstrip("(\"'“") in _ABBREVIATIONS:
            continue
        points.add(match.end())
    lines = body.split("\n")
    offset = 0
    for index, line in enumerate(lines[:-1]):
        offset += len(line) + 1
        following = lines[index + 1]
        if not line.strip() or not following.strip() or _LIST_OR_HEADING.match(line) or (
            _LIST_OR_HEADING.match(following)
        ):
            points.add(offset - 1)
    points.add(len(body))
    return sorted(p for p in points if body[:p].strip())


def reference_pieces(text: str) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    for sentence in index_module._sentences(text):
        if current and len(" ".join([*current, sentence]).split()) > index_module.MAX_CHUNK_WORDS:
            pieces.append(" ".join(current))
            current = []
        current.append(sentence)
    if current:
        pieces.append(" ".join(current))
    return pieces or [text.strip()]


FRAGMENTS = ["Dr.", "dr .", "x.", ".", "!", "?", "…", ")", '"', " ", "  ", "\n", "\n\n", "#",
             "## ", "##", "# H", "- item", "1. one", "word", "(Mr.", "e.g.", "St", "\t",
             "\u00a0", "\u2003", "'", "*", "_", "no.", "etc.", "\r"]


def sample_bodies() -> list[str]:
    bodies = [entry.body for entry in load_world(SAMPLE).entries.values()]
    rng = random.Random(1)
    for _ in range(3000):
        bodies.append("".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 25))))
    return bodies


def test_cut_points_and_shortening_points_keep_their_behaviour():
    for body in sample_bodies():
        reference = reference_cut_points(body)
        assert cut_points(body) == reference, repr(body)
        assert shortening_points(body) == [p for p in reference if shortened(body, p)], repr(body)


def test_pieces_keep_their_behaviour():
    for entry in load_world(SAMPLE).entries.values():
        for text in [entry.body, *re.split(r"^## .*$", entry.body, flags=re.MULTILINE)]:
            assert index_module._pieces(text) == reference_pieces(text)


class CountingText(str):
    """A str that counts the characters copied out of it by slicing."""

    copied = 0

    def __getitem__(self, key):  # type: ignore[override]
        part = super().__getitem__(key)
        CountingText.copied += len(part)
        return part


def test_finding_cut_points_copies_the_text_a_bounded_number_of_times():
    body = "\n\n".join(entry.body for entry in load_world(SAMPLE).entries.values()) * 4
    for find in (cut_points, shortening_points):
        CountingText.copied = 0
        points = find(CountingText(body))
        assert len(points) > 1000
        # the old cut_points copied the text before every sentence end: ~points * len / 2
        assert CountingText.copied < 2 * len(body), find.__name__
