"""`deploy(cfg)`: point the deployed link (`layout.deployed_link`) at a checked model, atomically.

The link is made under a temp name and moved over `current` with `os.replace`, so a
reader sees the old model or the new one, never neither. Models are never deleted:
the base and every earlier run stay, and `--rollback` goes back to the model that was
current before (from `deploy_history.jsonl`). Restarting vLLM is not ours to do: the
`make serve` supervisor watches the link and restarts vLLM itself (the gateway answers
503 + Retry-After meanwhile); deploy only says whether such a stack is running.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from training import layout
from training.config import REPO_ROOT, RunConfig
from training.errors import DeployError
from training.step import StepResult

VLLM_PID = REPO_ROOT / ".loregate" / "run" / "vllm.pid"


def models(root: Path) -> list[Path]:
    return (
        sorted(
            p
            for p in root.iterdir()
            if p.is_dir()
            and not p.is_symlink()
            and not p.name.startswith(".")
            and (p / "config.json").is_file()
        )
        if root.is_dir()
        else []
    )


def current_target(root: Path) -> Path | None:
    link = layout.deployed_link(root)
    return link.resolve() if link.is_symlink() else None


def running_vllm(pid_file: Path | None = None) -> int | None:
    """The pid of a running vLLM of ours, if its pid file names a live process."""
    try:
        pid = int((pid_file or VLLM_PID).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _resolve(target: str, root: Path, cfg: RunConfig) -> Path:
    for candidate in (root / target, Path(target), cfg.path(target)):
        if (candidate / "config.json").is_file():
            return candidate.resolve()
    raise DeployError(f"{target} is not a model folder under {root} nor a path to one")


def _previous(root: Path, now: Path | None) -> Path:
    history = layout.deploy_history(root)
    entries = (
        [json.loads(line) for line in history.read_text().splitlines()] if history.is_file() else []
    )
    targets = [Path(e["target"]) for e in entries]
    while targets and now is not None and targets[-1] == now:
        targets.pop()
    if not targets:
        raise DeployError(f"nothing to roll back to: {history} has no earlier deployment")
    return targets[-1]


def switch_link(root: Path, target: Path) -> None:
    link = layout.deployed_link(root)
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, root), tmp)
    os.replace(tmp, link)


def deploy(cfg: RunConfig) -> StepResult:
    target, rollback = cfg.loregate.run.target, cfg.loregate.run.rollback
    root = layout.merged_root(cfg)
    before = current_target(root)
    if rollback:
        chosen = _previous(root, before)
    elif target:
        chosen = _resolve(target, root, cfg)
    else:
        found = models(root)
        if not found:
            raise DeployError(f"no merged models in {root}; run `python -m training merge` first")
        chosen = found[-1].resolve()
    is_base = chosen == cfg.base_model_path.resolve()
    check_file = layout.check_marker(chosen)
    if not is_base:
        if not check_file.is_file():
            raise DeployError(f"{chosen} was never checked; run `python -m training check` first")
        if not json.loads(check_file.read_text()).get("passed"):
            raise DeployError(f"{chosen} failed its check ({check_file}); it will not be deployed")

    root.mkdir(parents=True, exist_ok=True)
    switch_link(root, chosen)
    with layout.deploy_history(root).open("a", encoding="utf-8") as fh:
        record = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "target": str(chosen),
            "previous": str(before) if before else None,
        }
        fh.write(json.dumps(record) + "\n")

    link = layout.deployed_link(root)
    print(f"deploy: {link} → {chosen}" + (f" (was {before})" if before else ""))
    pid = running_vllm()
    if pid:
        print(
            f"deploy: a running stack was detected (vLLM pid {pid}): the `make serve` supervisor "
            "sees the new link and restarts vLLM on it; the gateway answers 503 + Retry-After "
            "until the new model is up."
        )
    else:
        print("deploy: no running stack detected; the next `make serve` serves this model.")
    print("deploy: roll back with `python -m training deploy --rollback`.")
    return StepResult("deploy", link)
