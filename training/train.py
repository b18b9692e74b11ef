"""`train(cfg)`: prepared data → `checkpoints/run-YYYYMMDD-HHMMSS/best` (a LoRA adapter).

The run folder holds the exact config it ran with (`config.yaml`, and `axolotl.yaml` as
axolotl reads it), the data's stats and manifest, library versions, `metrics.jsonl`
(train and eval loss per step), `loss.png`, `checkpoint-N/` folders, `best/` (lowest
eval loss) and `final/`. The backend comes from one dict by name: `peft` is the built-in
runner (CPU or GPU), `axolotl` runs `axolotl train`; `auto` picks axolotl only where CUDA
and the axolotl command are both present.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from training import distributed, layout
from training.artifacts import provenance, read_manifest, write_json_atomic
from training.config import RunConfig, save_config
from training.errors import TrainingError
from training.runlog import MetricsLog, plot_losses
from training.runner import run_builtin
from training.step import StepResult

Backend = Callable[[RunConfig, Path, Path | None], Path]


def run_axolotl(cfg: RunConfig, run_dir: Path, resume: Path | None) -> Path:
    """`axolotl train` on the resolved config; its logs are turned into our metrics + PNG."""
    import yaml

    data = cfg.axolotl_dict()
    data["output_dir"] = str(run_dir)
    data["base_model"] = (
        str(cfg.base_model_path) if cfg.base_model_path.exists() else cfg.base_model
    )
    for key in ("datasets", "test_datasets"):
        for entry in data.get(key, []):
            entry["path"] = str(cfg.path(entry["path"]))
    if resume is not None:
        data["resume_from_checkpoint"] = str(resume)
    config_path = run_dir / "axolotl.yaml"
    config_path.write_text(yaml.safe_dump(data, sort_keys=True), encoding="utf-8")
    result = subprocess.run(["axolotl", "train", str(config_path)], check=False)
    if result.returncode:
        raise TrainingError(f"axolotl train exited with {result.returncode}; see its output above")
    states = sorted(
        run_dir.glob("checkpoint-*/trainer_state.json"), key=lambda p: p.stat().st_mtime
    )
    if states:
        history = json.loads(states[-1].read_text())["log_history"]
        log = MetricsLog(layout.metrics_file(run_dir))
        for entry in history:
            record = {
                k: entry[k] for k in ("step", "loss", "eval_loss", "learning_rate") if k in entry
            }
            log.write(**record)
        plot_losses(log.read(), layout.loss_plot(run_dir), run_dir.name)
    # load_best_model_at_end: what axolotl leaves in output_dir is the best adapter.
    best = layout.best_adapter(run_dir)
    best.mkdir(exist_ok=True)
    for name in ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin"):
        if (run_dir / name).exists():
            shutil.copy2(run_dir / name, best / name)
    return best


BACKENDS: dict[str, Backend] = {"peft": run_builtin, "axolotl": run_axolotl}


def pick_backend(name: str) -> str:
    if name != "auto":
        return name
    import torch

    return "axolotl" if torch.cuda.is_available() and shutil.which("axolotl") else "peft"


def train(cfg: RunConfig) -> StepResult:
    resume = cfg.loregate.run.resume
    backend_name = pick_backend(cfg.loregate.backend)
    manifest = read_manifest(cfg.train_file.parent)
    if backend_name == "peft" and not cfg.base_model_path.exists():
        raise TrainingError(
            f"base model {cfg.base_model_path} does not exist; set base_model in the config "
            "(for the embedded default run `make model`)"
        )
    group = distributed.start(cfg.loregate.distributed) if backend_name == "peft" \
        else distributed.SINGLE
    try:
        return StepResult("train", _train_in(cfg, backend_name, manifest, resume, group))
    finally:
        distributed.stop()


def _train_in(cfg: RunConfig, backend_name: str, manifest: dict, resume: str | None,
              group: distributed.Group) -> Path:
    """The run folder (made by rank 0 alone, the others use its), then the backend."""
    root = layout.runs_root(cfg)
    if resume:
        run_dir, checkpoint = layout.resume_point(resume, root)
        print(f"train: resuming {run_dir.name} from {checkpoint.name}")
    elif not group.main:
        run_dir, checkpoint = distributed.agree(None, group), None
    else:
        run_dir, checkpoint = distributed.agree(layout.new_run_dir(root), group), None
        save_config(cfg, run_dir / "config.yaml")
        save_config(cfg, run_dir / "axolotl.yaml", axolotl_only=True)
        stats = cfg.train_file.parent / "stats.json"
        if stats.is_file():
            shutil.copy2(stats, run_dir / "data_stats.json")
        write_json_atomic(
            run_dir / "provenance.json",
            provenance(
                "train", cfg.model_dump(mode="json"), backend=backend_name, data_manifest=manifest
            ),
        )
    ranks = f" on {group.world} ranks" if group.active else ""
    print(f"train: backend {backend_name}{ranks}, run folder {run_dir}")
    return BACKENDS[backend_name](cfg, run_dir, checkpoint)
