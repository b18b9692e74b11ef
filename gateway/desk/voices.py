"""The Voices view's data: training runs and their loss curves, style reports and their
plots, what each voice serves now, its history, and the rollback.

Everything is read from where training writes it (`training.layout` knows the folders);
rollback runs `python -m training deploy --voice V --rollback` in a child process, the same
command a writer would type, so the desk never holds deploy's state.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training import layout
from training.voices import VOICE_NAME

MAX_RUNS = 20  # newest first; older runs stay on disk
MAX_POINTS = 400  # a loss curve is thinned to this many points: the page stays small
MAX_HISTORY = 50
ROLLBACK_TIMEOUT_S = 120  # loading an adapter into a running vLLM takes seconds
REPORT_NAME = re.compile(r"^style_[A-Za-z0-9_-]+$")
PLOT_NAME = re.compile(r"^style_[A-Za-z0-9_-]+\.png$")


@dataclass(frozen=True)
class VoicePaths:
    repo: Path  # where `python -m training` runs
    runs: Path  # checkpoints/
    reports: Path  # scripts/results/ (style_*.json + .md + plots)
    voices: Path  # voices/
    config: Path | None = None  # the run config deploy reads; None: its default


def _jsonl(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue  # a line being written right now
        if isinstance(value, dict):
            rows.append(value)
    return rows[-limit:] if limit else rows


Bounds = tuple[float, float, float, float]  # steps from-to, losses from-to


def bounds(*series: list[tuple[float, float]]) -> Bounds:
    xs = [x for points in series for x, _ in points] or [0.0]
    ys = [y for points in series for _, y in points] or [0.0]
    return min(xs), max(xs), min(ys), max(ys)


def curve(points: list[tuple[float, float]], box: Bounds, width: int = 360,
          height: int = 120) -> str:
    """An SVG polyline's points for (step, loss) pairs, scaled from `box` (shared by the
    train and eval curves, so they compare) into width x height."""
    if not points:
        return ""
    step = max(1, len(points) // MAX_POINTS)
    points = points[::step]
    x0, x1, y0, y1 = box
    sx = width / (x1 - x0) if x1 > x0 else 0.0
    sy = height / (y1 - y0) if y1 > y0 else 0.0
    return " ".join(f"{(x - x0) * sx:.1f},{height - (y - y0) * sy:.1f}" for x, y in points)


def run_view(run: Path) -> dict[str, Any]:
    metrics = _jsonl(layout.metrics_file(run))
    train = [(float(m["step"]), float(m["loss"])) for m in metrics
             if isinstance(m.get("loss"), int | float) and "step" in m]
    evals = [(float(m["step"]), float(m["eval_loss"])) for m in metrics
             if isinstance(m.get("eval_loss"), int | float) and "step" in m]
    summary_file = layout.summary_file(run)
    try:
        summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    except ValueError:
        summary = {}
    box = bounds(train, evals)
    return {"name": run.name, "steps": len(train), "train_curve": curve(train, box),
            "eval_curve": curve(evals, box) if len(evals) > 1 else "",
            "first_loss": train[0][1] if train else None,
            "last_loss": train[-1][1] if train else None,
            "best_eval_loss": summary.get("best_eval_loss"),
            "low": box[2], "high": box[3],
            "seconds": summary.get("wall_seconds") or summary.get("seconds"),
            "has_best": layout.best_adapter(run).is_dir()}


def runs_view(root: Path) -> list[dict[str, Any]]:
    runs = sorted((p for p in root.glob(f"{layout.RUN_PREFIX}*") if p.is_dir()),
                  reverse=True) if root.is_dir() else []
    return [run_view(run) for run in runs[:MAX_RUNS]]


def reports_view(root: Path) -> list[dict[str, Any]]:
    """Each style report (`python -m training eval --report`): its score and its plots."""
    reports = []
    for result in sorted(root.glob("style_*.json")) if root.is_dir() else []:
        if not REPORT_NAME.match(result.stem):
            continue
        try:
            data = json.loads(result.read_text(encoding="utf-8"))
        except ValueError:
            continue
        if not isinstance(data, dict) or "overall_score" not in data:
            continue  # another benchmark's JSON (style_attribution)
        plots = [p.name for p in sorted(root.glob(f"{result.stem}_*.png"))
                 if PLOT_NAME.match(p.name)]
        reports.append({"name": result.stem, "model": data.get("model"),
                        "date": data.get("date"), "score": data.get("overall_score"),
                        "floor": (data.get("other_authors_floor") or {}).get("mean"),
                        "plots": plots})
    return reports


def adapter_label(path: str | None) -> str | None:
    """`run-20261201-101500/best` for an adapter folder: what a writer tells runs apart by
    (the full path goes in the page's tooltip)."""
    if not path:
        return None
    adapter = Path(path)
    return f"{layout.run_name(adapter)}/{adapter.name}" if adapter.name in (
        layout.BEST, layout.FINAL) else adapter.name


def _voice(root: Path, name: str) -> dict[str, Any]:
    link = layout.voice_link(root, name)
    target = os.readlink(link) if link.is_symlink() else None
    serving = link.resolve() if target else None
    history = [{**h, "target_label": adapter_label(h.get("target")),
                "previous_label": adapter_label(h.get("previous"))}
               for h in _jsonl(layout.voice_history(root, name), MAX_HISTORY)]
    return {"name": name, "target": str(serving) if serving else None,
            "label": adapter_label(str(serving)) if serving else None,
            "run": layout.run_name(serving) if serving else None,
            "broken": bool(target) and not (serving and serving.is_dir()),
            "history": list(reversed(history)),
            "can_roll_back": len(history) > 0}


def voices_view(root: Path) -> list[dict[str, Any]]:
    names = sorted(p.name for p in root.iterdir()
                   if p.is_dir() and VOICE_NAME.match(p.name)) if root.is_dir() else []
    return [_voice(root, name) for name in names]


def page(paths: VoicePaths) -> dict[str, Any]:
    return {"runs": runs_view(paths.runs), "reports": reports_view(paths.reports),
            "voices": voices_view(paths.voices), "voices_dir": str(paths.voices)}


def rollback(paths: VoicePaths, voice: str) -> tuple[bool, str]:
    """Run deploy's rollback for `voice`: (it worked, what it printed)."""
    if not VOICE_NAME.match(voice):
        return False, f"{voice!r} is not a voice name"
    env = {**os.environ, layout.VOICES_ENV: str(paths.voices)}
    command = [sys.executable, "-m", "training", "deploy", "--voice", voice, "--rollback"]
    if paths.config is not None:
        command += ["--config", str(paths.config)]
    try:
        done = subprocess.run(
            command, cwd=paths.repo, env=env, capture_output=True, text=True,
            timeout=ROLLBACK_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return False, f"the rollback did not finish within {ROLLBACK_TIMEOUT_S} s"
    output = (done.stdout + done.stderr).strip()
    return done.returncode == 0, output[-4000:]
