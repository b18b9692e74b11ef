"""A run's checkpoints (adapter, optimizer, RNG, trainer state) and adapter folders, each
written to a temp folder and swapped in whole."""

from __future__ import annotations

import random
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from training import layout
from training.artifacts import replace_dir, write_json_atomic


def save_checkpoint(
    model: Any, optimizer: Any, state: Any, run_dir: Path, limit: int | None
) -> Path:
    import torch

    final = layout.checkpoint_dir(run_dir, state.step)
    tmp = run_dir / f".tmp-checkpoint-{state.step}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(str(tmp))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save({"python": random.getstate(), "torch": torch.get_rng_state()}, tmp / "rng.pt")
        write_json_atomic(tmp / layout.TRAINER_STATE, asdict(state))
        replace_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if limit:
        for path in layout.checkpoints(run_dir)[:-limit]:
            shutil.rmtree(path, ignore_errors=True)
    return final


def save_adapter(model: Any, target: Path, **info: Any) -> Path:
    tmp = target.with_name(f".tmp-{target.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(str(tmp))
        write_json_atomic(tmp / "loregate_adapter.json", info)
        replace_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
