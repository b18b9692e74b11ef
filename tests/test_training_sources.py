from pathlib import Path

from training.sources import clean_text, read_sources

MESSY = """# Chapter 1: Draft

Elena checked the seam. [check Marcus's rank]
A/N: this bit is rough
TODO: fix the timeline
FIXME: the arm is on the wrong side
<!-- an editor's
comment over two lines -->
The ship breathed.

"Noted," she said. [[cut this?]] It held.
"""


def test_clean_text_strips_notes_and_keeps_paragraphs() -> None:
    text, removed = clean_text(MESSY)
    for gone in ("A/N", "TODO", "FIXME", "check Marcus", "editor's", "cut this"):
        assert gone not in text
    assert "Elena checked the seam." in text
    assert "The ship breathed.\n\n\"Noted,\" she said. It held." in text
    assert removed >= 5


def test_clean_text_keeps_ordinary_brackets_and_todo_words_in_prose() -> None:
    prose = "She read the label [Coolant, Grade 4] aloud. Her todo list was long.\n"
    assert clean_text(prose)[0] == prose


def test_bad_files_are_named_and_the_rest_go_on(tmp_path: Path) -> None:
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "good.md").write_text("Prose here.\n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (tmp_path / "empty.txt").write_text("  \n", encoding="utf-8")
    (tmp_path / "blob.md").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "notes.md").write_text("TODO: everything\n", encoding="utf-8")
    report = read_sources(tmp_path)
    assert [s.relative for s in report.sources] == ["nested/good.md"]
    reasons = dict(report.skipped)
    assert "not UTF-8" in reasons["latin1.txt"] and "offset 3" in reasons["latin1.txt"]
    assert reasons["empty.txt"] == "empty file"
    assert "binary" in reasons["blob.md"]
    assert "nothing left" in reasons["notes.md"]
    assert "image.png" not in reasons
