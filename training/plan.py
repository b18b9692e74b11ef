"""A run that fits a time budget: measured step time + passages + budget -> a plan.

The built-in runner measures a few steps first (training/budget.py), then asks `make_plan`
how many optimizer steps and which passages fit the budget, evaluations and checkpoint
saves included, and prints the plan before it starts. Everything here is a pure function
of numbers, so it is tested without a model.

* Whole epochs fit: every passage, `num_epochs` epochs as configured.
* Less than one epoch fits: one epoch over a sample of passages spread evenly over the
  training set in its order (book by book, chapter by chapter, as prepare wrote it), so
  every book and chapter is represented in proportion; unseen passages teach more than
  seeing fewer passages twice.
* In between: every passage, and as many steps as fit (a fraction of the last epoch).

Evaluations follow the runner's own rule (`simulate_evaluations`): the base at step 0,
the last step, and one at each `eval_steps` while the evaluations so far took at most
`eval_share` of the training time; the eval sample shrinks with the run
(`eval_token_budget`, at the measured cost of an eval token against a training token).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from training.chatdata import sample_by_tokens

if TYPE_CHECKING:
    from training.config import RunConfig

CPU_DEFAULT_MINUTES = 20.0
# The adapter saves a run makes besides checkpoints: the last checkpoint, final/ and best/.
FINAL_SAVES = 3


@dataclass(frozen=True)
class Measured:
    """What the measuring steps found, and what of the budget is already gone."""

    train_seconds_per_token: float  # one optimizer step / the tokens (prompt + passage) in it
    eval_seconds_per_token: float
    elapsed_seconds: float  # set-up and measuring, already spent
    save_seconds: float = 1.0  # one checkpoint or adapter save


@dataclass(frozen=True)
class Recipe:
    """The config keys the plan depends on."""

    micro_batch_size: int
    gradient_accumulation_steps: int
    num_epochs: float
    max_steps: int | None = None
    eval_steps: int = 10
    save_steps: int = 20
    eval_share: float | None = 0.1
    eval_tokens: int | None = 8192

    @classmethod
    def of(cls, cfg: RunConfig) -> Recipe:
        return cls(
            micro_batch_size=cfg.micro_batch_size,
            gradient_accumulation_steps=cfg.gradient_accumulation_steps,
            num_epochs=cfg.num_epochs,
            max_steps=cfg.max_steps,
            eval_steps=cfg.eval_steps,
            save_steps=cfg.save_steps,
            eval_share=cfg.loregate.eval_share,
            eval_tokens=cfg.loregate.eval_tokens,
        )

    def steps_per_epoch(self, passages: int) -> int:
        batches = math.ceil(passages / self.micro_batch_size)
        return max(1, math.ceil(batches / self.gradient_accumulation_steps))

    def full_steps(self, passages: int) -> int:
        return self.max_steps or max(1, math.ceil(self.num_epochs * self.steps_per_epoch(passages)))


@dataclass(frozen=True)
class Plan:
    passages: tuple[int, ...]  # indices into the training set, in its order
    of_passages: int  # the training set's size
    steps: int
    train_tokens: int  # tokens the steps go through (prompt + passage)
    eval_tokens: int  # one evaluation's sample
    evaluations: int  # the base's included
    train_seconds: float
    eval_seconds: float  # all evaluations
    other_seconds: float  # set-up, measuring and saves
    budget_seconds: float | None
    full_epochs: bool

    @property
    def total_seconds(self) -> float:
        return self.train_seconds + self.eval_seconds + self.other_seconds

    @property
    def eval_fraction(self) -> float:
        """Evaluations' share of the whole expected run."""
        return self.eval_seconds / max(1e-9, self.total_seconds)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passages"] = list(self.passages)
        return data | {"total_seconds": round(self.total_seconds, 1)}

    def describe(self, started_at: float, groups: list[str] | None = None) -> str:
        """One paragraph for the writer: passages, steps, time, finish clock time."""
        finish = dt.datetime.fromtimestamp(started_at + self.total_seconds).strftime("%H:%M")
        chosen = [groups[i] for i in self.passages] if groups else []
        spread = (
            f" from {len(set(chosen))} of {len(set(groups or []))} chapters"
            if any(chosen)
            else ""
        )
        budget = (
            f"within {self.budget_seconds / 60:.0f} min"
            if self.budget_seconds is not None
            else "full epochs, no budget"
        )
        epochs = "every passage" if len(self.passages) == self.of_passages else "a sample"
        return (
            f"train: plan ({budget}): {len(self.passages)} of {self.of_passages} passages "
            f"({epochs}{spread}), {self.steps} steps, {self.evaluations} evaluations of "
            f"{self.eval_tokens} tokens; about {self.train_seconds / 60:.1f} min training + "
            f"{self.eval_seconds / 60:.1f} min evaluating ({self.eval_fraction:.0%}) + "
            f"{self.other_seconds / 60:.1f} min set-up and saves; expected to finish at "
            f"{finish}"
        )


def budget_seconds(minutes: float | str | None, cuda: bool, max_steps: int | None) -> float | None:
    """The budget in seconds: `auto` is 20 minutes on a CPU and none on a GPU; an explicit
    `max_steps` always wins (no budget)."""
    if max_steps:
        return None
    if minutes == "auto":
        return None if cuda else CPU_DEFAULT_MINUTES * 60
    return None if minutes is None else float(minutes) * 60


# Evaluations are planned, and an evaluation between the base's and the last step's allowed,
# only within this part of eval_share: the last one can't be skipped, and when the real pace
# cuts the run short after an evaluation was allowed (42 planned steps became 32 on a loaded
# 2-core box), evaluations already made grow as a share of it (planned 7.3%, ended at 10.1%).
INTERMEDIATE_SHARE = 0.8


def eval_token_budget(
    cap: int | None, share: float | None, planned_train_tokens: float
) -> int | None:
    """The eval sample's token cap: `cap` (loregate.eval_tokens), and small enough that the
    two evaluations every run has (the base at step 0, the last step) fit in
    INTERMEDIATE_SHARE of `share` of the run, counting an eval token as dear as a training
    token (on the CPU it costs ~0.6 of one: a forward without backward). None: no cap."""
    if share is None:
        return cap
    fits = max(1, int(INTERMEDIATE_SHARE * share * planned_train_tokens / 2))
    return fits if cap is None else min(cap, fits)


def spread(n: int, k: int) -> list[int]:
    """`k` indices of range(n), evenly spaced (the middle of k equal slices), in order."""
    if k >= n:
        return list(range(n))
    return [int((i + 0.5) * n / k) for i in range(max(0, k))]


def simulate_evaluations(
    steps: int, step_seconds: float, eval_seconds: float, eval_steps: int, share: float | None
) -> int:
    """How many evaluations the runner makes (the base's included): the base, the last step,
    and one at each `eval_steps` while the evaluations so far, that one and the last step's
    fit in INTERMEDIATE_SHARE of `share` of the run's training time (the runner's
    `_eval_in_budget`)."""
    evaluating, count = eval_seconds, 1
    room = None if share is None else INTERMEDIATE_SHARE * share * steps * step_seconds
    for step in range(1, steps + 1):
        fits = room is None or evaluating + 2 * eval_seconds <= room
        if step == steps or (step % eval_steps == 0 and fits):
            evaluating += eval_seconds
            count += 1
    return count


def _cost(
    steps: int, lengths: list[int], val_lengths: list[int], m: Measured, r: Recipe
) -> tuple[list[int], dict[str, float]]:
    per_step = r.micro_batch_size * r.gradient_accumulation_steps
    chosen = spread(len(lengths), steps * per_step)
    epoch_tokens = sum(lengths[i] for i in chosen)
    train_tokens = epoch_tokens * steps / r.steps_per_epoch(len(chosen))
    train_seconds = train_tokens * m.train_seconds_per_token
    # the base and the last evaluation fit in eval_share at the measured rates
    cost_ratio = m.eval_seconds_per_token / max(1e-12, m.train_seconds_per_token)
    cap = eval_token_budget(r.eval_tokens, r.eval_share, train_tokens / max(1e-9, cost_ratio))
    sample = sample_by_tokens(val_lengths, cap)
    eval_tokens = sum(val_lengths[i] for i in sample)
    one_eval = eval_tokens * m.eval_seconds_per_token
    evaluations = (
        simulate_evaluations(steps, train_seconds / steps, one_eval, r.eval_steps, r.eval_share)
        if val_lengths
        else 0
    )
    saves = steps // r.save_steps + evaluations + FINAL_SAVES  # each better eval saves best/
    return chosen, {
        "train_tokens": train_tokens,
        "eval_tokens": eval_tokens if val_lengths else 0,
        "evaluations": evaluations,
        "train_seconds": train_seconds,
        "eval_seconds": evaluations * one_eval,
        "other_seconds": m.elapsed_seconds + saves * m.save_seconds,
    }


def make_plan(
    lengths: list[int],
    val_lengths: list[int],
    measured: Measured,
    recipe: Recipe,
    budget: float | None,
) -> Plan:
    """The most steps (at most the configured epochs) whose expected run fits `budget`
    seconds, and the passages they go through; at least one step."""
    if not lengths:
        raise ValueError("no training passages to plan for")
    full = recipe.full_steps(len(lengths))

    def total(steps: int) -> float:
        costs = _cost(steps, lengths, val_lengths, measured, recipe)[1]
        return costs["train_seconds"] + costs["eval_seconds"] + costs["other_seconds"]

    steps = full
    if budget is not None and total(full) > budget:
        low, high = 1, full  # total() grows with the steps: the last that fits
        while low < high:
            middle = (low + high + 1) // 2
            low, high = (middle, high) if total(middle) <= budget else (low, middle - 1)
        steps = low
    chosen, costs = _cost(steps, lengths, val_lengths, measured, recipe)
    return Plan(
        passages=tuple(chosen),
        of_passages=len(lengths),
        steps=steps,
        train_tokens=round(costs["train_tokens"]),
        eval_tokens=round(costs["eval_tokens"]),
        evaluations=int(costs["evaluations"]),
        train_seconds=costs["train_seconds"],
        eval_seconds=costs["eval_seconds"],
        other_seconds=costs["other_seconds"],
        budget_seconds=budget,
        full_epochs=steps == full,
    )


def revised_steps(
    plan: Plan, current: int, step: int, elapsed: float, train_seconds: float, recipe: Recipe
) -> int:
    """The run's total steps (now `current`), revised at `step` from the steps' real pace: a
    busy machine gets fewer steps, a quiet one more (at most the configured epochs over the
    plan's passages), so the run still ends within the budget; changes under a tenth (or 2
    steps) are let be. `elapsed`: the run's wall time so far; `train_seconds`: of it, the
    training steps'. Without a budget the plan stands."""
    if plan.budget_seconds is None or step < 2:
        return current
    per_step = train_seconds / step
    one_eval = plan.eval_seconds / max(1, plan.evaluations)
    left = plan.budget_seconds - elapsed - one_eval - FINAL_SAVES * 2.0
    fits = max(step, min(recipe.full_steps(len(plan.passages)), step + int(left // per_step)))
    if abs(fits - current) < max(2, 0.1 * current) and fits > step:
        return current
    return fits
