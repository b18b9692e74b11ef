"""Where a run's things live: the one module that knows the folder layout.

    checkpoints/                     cfg.output_dir
      run-YYYYMMDD-HHMMSS/           a run (the newest sorts last)
        checkpoint-N/                a resume point (trainer_state.json inside)
        best/  final/                the run's adapters
    merged_models/                   cfg.loregate.merged_dir
      run-YYYYMMDD-HHMMSS/           a merged model (loregate_check.json once checked)
      current -> run-...             the deployed model, what vLLM serves
      deploy_history.jsonl
    voices/                          $LOREGATE_VOICES, else the checkout's
      <voice>/
        current -> ../../checkpoints/run-.../best   the adapter vLLM serves as <voice>
        history.jsonl                every switch of this voice, newest last
    training/data/prepared/manifest.json

Steps and serving read paths only from here. It imports only the standard library and
`training.errors` (the config is a type hint), so `scripts/serve.py` and the gateway can
import it without pulling pydantic, torch or any step.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from training.errors import TrainingError

if TYPE_CHECKING:
    from training.config import RunConfig

DEFAULT_CONFIG = "configs/train_embedded.yaml"  # the run config every command reads by default
RUNS_DIR = "checkpoints"  # RunConfig.output_dir's default
RUN_PREFIX = "run-"
CHECKPOINT_PREFIX = "checkpoint-"
TRAINER_STATE = "trainer_state.json"
BEST = "best"
FINAL = "final"
MERGED_DIR = "merged_models"  # RunConfig.loregate.merged_dir's default
CURRENT = "current"
MERGED_MODELS_ENV = "LOREGATE_MERGED_MODELS"  # the stack's override of MERGED_DIR
CHECK_FILE = "loregate_check.json"
MANIFEST = "manifest.json"
STYLE_PROMPT = "system_prompt.txt"  # beside the prepared data: the voice's own style prompt
DEPLOY_HISTORY = "deploy_history.jsonl"
DEPLOYED = f"{MERGED_DIR}/{CURRENT}"  # for messages: what a writer sees on disk
VOICES_DIR = "voices"
VOICES_ENV = "LOREGATE_VOICES"  # the stack's override of VOICES_DIR
VOICE_HISTORY = "history.jsonl"
DEFAULT_VOICE = "default"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
RUN_STATE_DIR = ".loregate/run"  # pid files and what the running vLLM was started with
RUN_DIR_ENV = "LOREGATE_RUN_DIR"  # the stack's override of RUN_STATE_DIR
VLLM_LORA_STATE = "vllm-lora.json"


# -- runs ---------------------------------------------------------------------------
def runs_root(cfg: RunConfig) -> Path:
    return cfg.path(cfg.output_dir)


def new_run_dir(root: Path) -> Path:
    """A fresh `run-<timestamp>` folder (made here, so two runs never share one)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = root / f"{RUN_PREFIX}{stamp}"
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = root / f"{RUN_PREFIX}{stamp}-{suffix}"
    run_dir.mkdir(parents=True)
    return run_dir


def latest_run(root: Path) -> Path:
    runs = sorted(p for p in root.glob(f"{RUN_PREFIX}*") if p.is_dir())
    if not runs:
        raise TrainingError(f"no runs in {root}; run `python -m training train` first")
    return runs[-1]


def metrics_file(run_dir: Path) -> Path:
    return run_dir / "metrics.jsonl"


def loss_plot(run_dir: Path) -> Path:
    return run_dir / "loss.png"


def summary_file(run_dir: Path) -> Path:
    return run_dir / "summary.json"


# -- checkpoints and resume points ----------------------------------------------------
def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return run_dir / f"{CHECKPOINT_PREFIX}{step}"


def checkpoint_step(checkpoint: Path) -> int:
    return int(checkpoint.name.split("-")[1])


def checkpoints(run_dir: Path) -> list[Path]:
    """The run's complete checkpoints, oldest step first."""
    found = [p for p in run_dir.glob(f"{CHECKPOINT_PREFIX}*") if (p / TRAINER_STATE).is_file()]
    return sorted(found, key=checkpoint_step)


def resume_point(target: str, root: Path) -> tuple[Path, Path]:
    """(run folder, newest checkpoint) for `--resume latest|RUN_DIR|CHECKPOINT_DIR`."""
    path = latest_run(root) if target == "latest" else Path(target)
    if not path.is_absolute() and not path.exists():
        path = root / target
    if (path / TRAINER_STATE).is_file():
        return path.parent, path
    found = checkpoints(path)
    if not found:
        raise TrainingError(f"{path} has no checkpoint to resume from; start a new run instead")
    return path, found[-1]


# -- adapters -----------------------------------------------------------------------
def best_adapter(run_dir: Path) -> Path:
    return run_dir / BEST


def final_adapter(run_dir: Path) -> Path:
    return run_dir / FINAL


def default_adapter(cfg: RunConfig) -> Path:
    """The adapter merge and check use when none is named: the latest run's best."""
    return best_adapter(latest_run(runs_root(cfg)))


def run_of(adapter: Path) -> Path:
    """The run folder an adapter belongs to (its parent for best/ and final/)."""
    return adapter.parent if adapter.name in (BEST, FINAL) else adapter


def run_name(adapter: Path) -> str:
    return run_of(adapter).name


# -- merged models and the deployed pointer -------------------------------------------
def merged_root(cfg: RunConfig) -> Path:
    """Where merged models go: $LOREGATE_MERGED_MODELS wins, as it does for the serving
    stack, so `deploy --merged` moves the very link `make serve` watches."""
    env = os.environ.get(MERGED_MODELS_ENV)
    return Path(env) if env else cfg.path(cfg.loregate.merged_dir)


def merged_model(cfg: RunConfig, adapter: Path) -> Path:
    """Where the merge of `adapter` goes (and where check looks for it)."""
    return merged_root(cfg) / run_name(adapter)


def deployed_link(root: Path) -> Path:
    """The symlink under a merged-models folder that names the served model."""
    return root / CURRENT


def served_model(repo: Path) -> Path:
    """The deployed link as the serving stack sees it ($LOREGATE_MERGED_MODELS or the repo's)."""
    return deployed_link(Path(os.environ.get(MERGED_MODELS_ENV, repo / MERGED_DIR)))


def deploy_history(root: Path) -> Path:
    return root / DEPLOY_HISTORY


def check_marker(merged: Path) -> Path:
    """The check's verdict inside a merged model; deploy refuses a model without a pass."""
    return merged / CHECK_FILE


# -- voices: adapters served by name --------------------------------------------------
def voices_root(repo: Path) -> Path:
    return Path(os.environ.get(VOICES_ENV, repo / VOICES_DIR))


def voices_of(cfg: RunConfig) -> Path:
    """The voices folder a run config deploys into ($LOREGATE_VOICES wins, as it does for
    the serving stack, so deploy and `make serve` always agree)."""
    env = os.environ.get(VOICES_ENV)
    return Path(env) if env else cfg.path(cfg.loregate.voices_dir)


def voice_link(root: Path, voice: str) -> Path:
    """The symlink naming the adapter served as `voice`."""
    return root / voice / CURRENT


def voice_history(root: Path, voice: str) -> Path:
    return root / voice / VOICE_HISTORY


def lora_name(voice: str, adapter: Path) -> str:
    """The name vLLM knows one deployed adapter by: unique per voice and adapter, so a new
    adapter never replaces one that requests in flight are using."""
    return f"{voice}.{run_name(adapter)}.{adapter.name}"


def vllm_lora_state(repo: Path) -> Path:
    """What `scripts/serve_vllm.sh` started vLLM with (LoRA on, rank limit, adapters)."""
    return Path(os.environ.get(RUN_DIR_ENV, repo / RUN_STATE_DIR)) / VLLM_LORA_STATE


# -- prepared data --------------------------------------------------------------------
def manifest(data_dir: Path) -> Path:
    return data_dir / MANIFEST
