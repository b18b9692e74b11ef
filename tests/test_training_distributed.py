"""Two processes train like one: `torchrun --nproc_per_node 2` (gloo on the CPU) against a
single process with the same global batch, through the same CLI `make train` uses, on the
tiny model. Same losses, same adapter (within float tolerance), one run folder written by
rank 0, and a 2-rank checkpoint that resumes on 1 rank.

Why the tolerances: both runs compute every micro-batch's loss in float32 with the same bits;
they differ only in the order the gradients are summed ((g1+g3)+(g2+g4) against
g1+g2+g3+g4), an error of at most a few float32 ulps of sum|g|. AdamW's first steps move
each weight by about lr * sign(g), so a weight whose summed gradient cancels to within that
rounding can move the other way (by up to 2 * lr a step); such weights are a vanishing share,
and since their gradient is ~0 the loss does not feel them to first order. Hence: losses
equal to 1e-5 relative, the adapter equal to 1e-3 relative (L2) and almost every weight to
1e-5 absolute.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_training_tiny import build_tiny_base, tiny_config, write_corpus
from training.cli import main as training_cli

REPO = Path(__file__).resolve().parent.parent
TORCHRUN = Path(sys.executable).parent / "torchrun"
STEPS = 4


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny base, a corpus and its prepared data, shared by every run here."""
    work = tmp_path_factory.mktemp("ddp")
    base = build_tiny_base(work / "base")
    write_corpus(work / "raw", chapters=4, scenes=3)
    config = tiny_config(work, base)
    assert training_cli(["prepare", "--config", str(config)]) == 0
    return work


def config_for(work: Path, name: str) -> Path:
    """A config whose runs go to their own folder: 4 micro-batches of 1 per step (so 2 ranks
    take 2 each), no dropout (each rank draws its own masks), a constant rate (a shorter
    first leg of a resumed run keeps the same schedule), and evaluations on schedule (the
    eval share would skip them by timing, and timing differs between runs)."""
    runs = work / name
    runs.mkdir()
    path = tiny_config(work, work / "base", micro_batch_size=1, gradient_accumulation_steps=4,
                       lora_dropout=0.0, lr_scheduler="constant", warmup_steps=0,
                       eval_steps=2, save_steps=2, output_dir=str(runs / "checkpoints"),
                       loregate={"eval_share": None})  # every eval_steps, however long
    return shutil.copy(path, runs / "config.yaml")


def train(config: Path, ranks: int, *args: str) -> Path:
    command = [str(TORCHRUN), "--standalone", f"--nproc_per_node={ranks}"] if ranks > 1 else [
        sys.executable]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([*command, "-m", "training", "train", "--config", str(config), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    runs = sorted((config.parent / "checkpoints").glob("run-*"))
    assert len(runs) == 1, runs  # rank 0 made the run folder, the others used it
    return runs[0]


def losses(run: Path) -> dict[str, list[float]]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {kind: [r[kind] for r in records if kind in r] for kind in ("loss", "eval_loss")}


def adapter(folder: Path):  # type: ignore[no-untyped-def]
    import torch
    from safetensors.torch import load_file

    tensors = load_file(str(folder / "adapter_model.safetensors"))
    return torch.cat([tensors[k].reshape(-1).double() for k in sorted(tensors)])


def tokens(run: Path) -> tuple[int, int]:
    summary = json.loads((run / "summary.json").read_text())
    return summary["tokens"], summary["trained_tokens"]


def assert_same_training(one: Path, two: Path) -> None:
    # the same tokens, each seen once (AdamW would not notice every rank training on every
    # micro-batch: the doubled gradient is divided out; the token count does notice)
    assert tokens(two) == tokens(one)
    a, b = losses(one), losses(two)
    assert len(a["loss"]) == len(b["loss"]) == STEPS and len(a["eval_loss"]) >= 2
    for kind in ("loss", "eval_loss"):
        assert b[kind] == pytest.approx(a[kind], rel=1e-5), kind
    wa, wb = adapter(one / "final"), adapter(two / "final")
    assert float((wa - wb).norm() / wa.norm()) < 1e-3
    assert float(((wa - wb).abs() > 1e-5).double().mean()) < 1e-3


@pytest.fixture(scope="module")
def single(prepared: Path) -> Path:
    return train(config_for(prepared, "one"), 1, "--max-steps", str(STEPS))


def test_two_ranks_train_the_single_process_run(prepared: Path, single: Path) -> None:
    double = train(config_for(prepared, "two"), 2, "--max-steps", str(STEPS))
    assert_same_training(single, double)
    assert (double / "best" / "adapter_model.safetensors").is_file()
    assert sorted(p.name for p in double.glob("checkpoint-*")) == sorted(
        p.name for p in single.glob("checkpoint-*"))
    # rank 0 alone logs: one line per step, not two
    assert len([line for line in (double / "metrics.jsonl").read_text().splitlines()
                if '"loss"' in line]) == STEPS


def test_a_two_rank_checkpoint_resumes_on_one_rank(prepared: Path, single: Path) -> None:
    config = config_for(prepared, "split")
    first = train(config, 2, "--max-steps", str(STEPS // 2))
    resumed = train(config, 1, "--resume", str(first), "--max-steps", str(STEPS))
    assert resumed == first
    assert_same_training(single, resumed)


def children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:  # the field after the state: the parent's pid
            found.append(int(stat.parent.name))
    return found


def test_a_rank_that_dies_ends_the_run_with_a_resumable_checkpoint(prepared: Path) -> None:
    import time

    config = config_for(prepared, "dies")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    # far more steps than the run can take before the kill: on a quiet machine 40 steps took
    # 3 s, over before the first look at the folder, and older checkpoints are pruned
    process = subprocess.Popen(
        [str(TORCHRUN), "--standalone", "--nproc_per_node=2", "-m", "training", "train",
         "--config", str(config), "--max-steps", "1000000"], cwd=REPO, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    runs = config.parent / "checkpoints"
    deadline = time.monotonic() + 600
    while not list(runs.glob("run-*/checkpoint-*")) and time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()[-3000:]
        time.sleep(0.5)
    workers = sorted(children(process.pid))
    assert len(workers) == 2, workers
    os.kill(workers[-1], 9)  # the rank started last: not rank 0 in torchrun's order
    out, _ = process.communicate(timeout=300)
    assert process.returncode != 0
    assert "--resume" in out, out[-3000:]
    (run,) = runs.glob("run-*")
    saved = max(int(p.name.split("-")[1]) for p in run.glob("checkpoint-*"))
    resumed = train(config, 1, "--resume", str(run), "--max-steps", str(saved + 1))
    assert len(losses(resumed)["loss"]) == saved + 1  # the steps before, and one more
