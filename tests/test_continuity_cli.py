"""`python -m retrieval continuity`: findings as file:line:column, the exit codes."""

from __future__ import annotations

from pathlib import Path

from retrieval.cli import main


def test_a_planted_contradiction_in_a_chapter_file_exits_1(tmp_path: Path, capsys):
    chapter = tmp_path / "chapter-03.md"
    chapter.write_text("# Chapter 3: The Landing\n\nThe shuttle shook.\n"
                       "Elena flexed her cybernetic right arm and waited.\n", encoding="utf-8")
    assert main(["continuity", str(chapter), "--world", "scifi_world"]) == 1
    out = capsys.readouterr()
    assert f"{chapter}:4:14: attribute/arm: " in out.out
    assert "1 file(s), 1 finding(s)" in out.err


def test_the_heading_gives_the_chapter_and_the_flag_overrides_it(tmp_path: Path, capsys):
    chapter = tmp_path / "draft.md"
    chapter.write_text("# Chapter 3\n\nCalder walked onto the bridge.\n", encoding="utf-8")
    assert main(["continuity", str(chapter), "--world", "scifi_world"]) == 1
    assert "status/introduced" in capsys.readouterr().out
    assert main(["continuity", str(chapter), "--world", "scifi_world", "--chapter", "12"]) == 0


def test_the_sample_chapters_pass(capsys):
    chapters = sorted(str(p) for p in (Path(__file__).resolve().parents[1] / "training" / "data"
                                       / "raw").glob("chapter-*.md"))
    assert main(["continuity", *chapters, "--world", "scifi_world"]) == 0
    assert "14 file(s), 0 finding(s)" in capsys.readouterr().err


def test_an_unknown_world_or_a_non_utf8_file_is_one_clear_line(tmp_path: Path, capsys):
    good = tmp_path / "good.md"
    good.write_text("Elena slept.", encoding="utf-8")
    assert main(["continuity", str(good), "--world", "narnia"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown world 'narnia'" in err[0] and "scifi_world" in err[0]
    bad = tmp_path / "bad.md"
    bad.write_bytes(b"Elena \xff\xfe slept")
    assert main(["continuity", str(good), str(bad), "--world", "scifi_world"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {bad}: not UTF-8 text (byte 0xff at offset 6); save it as UTF-8"]
