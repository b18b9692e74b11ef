"""The time budget's torch side: measure a few steps, then plan (training/plan.py) and say so.

The measuring steps are forward + backward passes over the run's own first micro-batches
(one to warm up, then `MEASURE_STEPS` optimizer step's worth, timed) and two validation
micro-batches; the gradients are dropped and the random state restored, so the model and
the run are exactly as if nothing had been measured. Their time counts against the budget.
Ctrl-C while measuring stops at once: nothing was trained, and the message says so.

The plan is saved as `plan.json` in the run folder, so `--resume` continues the same plan.
As the run goes, `keep_to_budget` revises its total steps from the steps' real pace.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from training.artifacts import write_json_atomic
from training.chatdata import Example, micro_batches
from training.config import RunConfig
from training.errors import TrainingInterrupted
from training.levers import Levers, autocast, epoch_batches, model_inputs
from training.loss import eval_batch_loss, predicted_tokens, summed_loss
from training.plan import Measured, Plan, Recipe, budget_seconds, make_plan, revised_steps

MEASURE_STEPS = 1
PLAN_FILE = "plan.json"


def _sync(levers: Levers) -> None:
    if levers.cuda:
        import torch

        torch.cuda.synchronize()


def _timed_train_batches(
    model: Any, batches: list[Any], cfg: RunConfig, pad_id: int, levers: Levers
) -> tuple[float, int]:
    """(seconds, tokens) of forward + backward over `batches` after the first (warm-up)."""
    seconds, tokens = 0.0, 0
    for i, batch in enumerate(batches):
        inputs, n_tokens = model_inputs(batch, cfg, pad_id, levers, model.device)
        began = time.perf_counter()
        with autocast(levers):
            loss = summed_loss(model, inputs, levers.ce_chunk)
        (loss / max(1, predicted_tokens(inputs["labels"]))).backward()
        _sync(levers)
        if i:
            seconds += time.perf_counter() - began
            tokens += n_tokens
    return seconds, tokens


def measure_rates(
    model: Any,
    train_set: list[Example],
    val_set: list[Example],
    cfg: RunConfig,
    pad_id: int,
    levers: Levers,
) -> tuple[float, float]:
    """Seconds per token of training and of evaluation, from the run's own batches."""
    import torch

    batches = epoch_batches(train_set, cfg, levers, cfg.seed)
    wanted = 1 + MEASURE_STEPS * cfg.gradient_accumulation_steps
    batches = (batches * wanted)[:wanted]  # a small set goes round again
    python_rng, torch_rng = random.getstate(), torch.get_rng_state()
    try:
        seconds, tokens = _timed_train_batches(model, batches, cfg, pad_id, levers)
    finally:
        model.zero_grad(set_to_none=True)
        random.setstate(python_rng)
        torch.set_rng_state(torch_rng)
    train_rate = seconds / max(1, tokens)
    if not val_set:
        return train_rate, 0.0
    size = cfg.eval_batch_size or cfg.micro_batch_size
    val_batches = micro_batches(val_set, size, cfg.seed, group_by_length=True)[:2]
    model.eval()
    try:
        with torch.no_grad():
            for batch in val_batches:  # the last one timed (the first warms up)
                began = time.perf_counter()
                eval_batch_loss(model, batch, pad_id, levers)
                _sync(levers)
                eval_seconds = time.perf_counter() - began
    finally:
        model.train()
    eval_tokens = sum(len(e.input_ids) for e in val_batches[-1])
    return train_rate, eval_seconds / max(1, eval_tokens)


def plan_run(
    cfg: RunConfig,
    model: Any,
    data: tuple[list[Example], list[Example]],
    pad_id: int,
    levers: Levers,
    run_dir: Path,
    began: float,
) -> Plan | None:
    """The run's plan (None: full epochs as configured), measured and printed; on a resumed
    run, the plan it started with."""
    saved = run_dir / PLAN_FILE
    if saved.is_file():
        return _load(saved)
    budget = budget_seconds(cfg.loregate.budget_minutes, levers.cuda, cfg.max_steps)
    if budget is None:
        return None
    train_set, val_set = data
    print(f"train: measuring the step time for a {budget / 60:.0f}-minute budget...")
    try:
        train_rate, eval_rate = measure_rates(model, train_set, val_set, cfg, pad_id, levers)
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            "interrupted while measuring the step time; nothing was trained. Run it again "
            "to start over"
        ) from None
    measured = Measured(train_rate, eval_rate, elapsed_seconds=time.time() - began)
    plan = make_plan(
        [len(e.input_ids) for e in train_set],
        [len(e.input_ids) for e in val_set],
        measured,
        Recipe.of(cfg),
        budget,
    )
    write_json_atomic(saved, plan.as_dict() | {"measured": vars(measured), "began": began})
    print(plan.describe(began, [e.group for e in train_set]))
    return plan


def _load(path: Path) -> Plan:
    data = json.loads(path.read_text())
    fields = set(Plan.__dataclass_fields__)
    return Plan(**{k: v for k, v in data.items() if k in fields} | {
        "passages": tuple(data["passages"])
    })


def keep_to_budget(run: Any) -> None:
    """Revise the total steps from the steps' real pace, so a run on a machine busier (or
    quieter) than when it was measured still ends within its budget (training/plan.py)."""
    if run.plan is None or run.plan.budget_seconds is None:
        return
    state = run.state
    train_seconds = state.seconds - state.eval_seconds
    total = revised_steps(
        run.plan, run.total, state.step, time.time() - run.began, train_seconds, Recipe.of(run.cfg)
    )
    if total != run.total:
        run.bar.write(
            f"step {state.step}: {train_seconds / state.step:.0f}s a step, not the "
            f"{run.plan.train_seconds / run.plan.steps:.0f}s measured: {total} steps instead "
            f"of {run.total} to finish within {run.plan.budget_seconds / 60:.0f} min"
        )
        run.total = run.bar.total = total
        run.bar.refresh()
