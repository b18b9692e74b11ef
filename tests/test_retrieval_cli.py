"""`python -m retrieval`: exit codes and output, driven in-process through `main(argv)`."""

import subprocess
import sys
from pathlib import Path

import pytest

from retrieval.cli import main
from retrieval.store import LoreStore

REPO = Path(__file__).resolve().parent.parent
GOOD = "---\nname: Elena Vasquez\naliases: [Elena]\n---\nElena is the chief engineer.\n"


def make_worlds(root: Path) -> list[str]:
    good = root / "worlds" / "good" / "characters"
    good.mkdir(parents=True)
    (good / "elena.md").write_text(GOOD)
    broken = root / "worlds" / "broken" / "places"
    broken.mkdir(parents=True)
    (broken / "ok.md").write_text("---\nname: Ok\n---\nFine.\n")
    (broken / "bad.md").write_text("---\nname: Bad\nrelated: [places/nowhere]\n---\nBody.\n")
    return ["--worlds-dir", str(root / "worlds"), "--index-dir", str(root / "index")]


def test_check_exit_codes(tmp_path, capsys):
    dirs = make_worlds(tmp_path)
    assert main(["check", "good", *dirs]) == 0
    assert main(["check", "broken", *dirs]) == 1
    out = capsys.readouterr().out
    assert "places/bad.md:3: related: no entry 'places/nowhere'" in out
    assert main(["check", "missing", *dirs]) == 2
    assert "unknown world 'missing' (known worlds: broken, good)" in capsys.readouterr().err


def test_index_then_query_with_explain(tmp_path, capsys):
    dirs = make_worlds(tmp_path)
    assert main(["index", "good", *dirs]) == 0
    assert "good: 1 added" in capsys.readouterr().out
    assert main(["query", "good", "Elena's coffee went cold", "--explain", *dirs]) == 0
    out = capsys.readouterr().out
    assert "alias" in out and "characters/elena" in out
    assert "World lore for good" in out and "Elena is the chief engineer." in out
    assert main(["query", "good", "Elena", "--budget", "0", *dirs]) == 0
    assert "(no lore selected)" in capsys.readouterr().out


def test_query_errors(tmp_path, capsys):
    dirs = make_worlds(tmp_path)
    assert main(["query", "nowhere", "text", *dirs]) == 2
    assert main(["query", "good", "text", "--budget", "-5", *dirs]) == 2
    LoreStore(tmp_path / "index").create("good", "another-model", 512)
    assert main(["query", "good", "Elena", *dirs]) == 1
    assert "another-model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["query", "good"])
    assert usage.value.code == 2


def test_module_entry_point_runs(tmp_path):
    dirs = make_worlds(tmp_path)
    done = subprocess.run([sys.executable, "-m", "retrieval", "check", "broken", *dirs],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "bad.md:3:" in done.stdout
