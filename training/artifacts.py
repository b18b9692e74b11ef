"""What every step writes next to its output: atomic files, hashes, config + versions."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from training import layout
from training.errors import PrepareError

LIBRARIES = ("torch", "transformers", "peft", "tokenizers", "safetensors", "accelerate", "axolotl")


def write_text_atomic(path: Path, text: str) -> Path:
    """Write via a sibling temp file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_json_atomic(path: Path, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        found["loregate_git"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    return found


def provenance(step: str, config: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The record a step leaves beside its output (cf. peft's adapter_config.json)."""
    return {
        "step": step,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions(),
        "config": config,
        **extra,
    }


def replace_dir(tmp: Path, final: Path) -> Path:
    """Move a finished temp folder into place; an older folder of that name goes last."""
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        final.rename(old)
    try:
        tmp.rename(final)
    except OSError:
        if old.exists():
            old.rename(final)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return final


def read_manifest(data_dir: Path) -> dict:  # type: ignore[type-arg]
    """The manifest of prepared data, checked against the files it lists (train refuses
    data without one: it is written last, so its presence means prepare finished)."""
    path = layout.manifest(data_dir)
    if not path.is_file():
        raise PrepareError(
            f"{data_dir} has no {layout.MANIFEST}: it was not made by `python -m training "
            "prepare` or that run did not finish; run prepare first"
        )
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for name, digest in manifest["files"].items():
        file = data_dir / name
        if not file.is_file() or sha256_file(file) != digest:
            raise PrepareError(
                f"{file} changed after prepare (hash differs from {layout.MANIFEST}); rerun prepare"
            )
    return manifest
