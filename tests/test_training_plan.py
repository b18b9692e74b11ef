"""The time budget's plan: measured step time + passages + budget -> steps and passages."""

import itertools

import pytest

from training.plan import (
    Measured,
    Recipe,
    budget_seconds,
    make_plan,
    revised_steps,
    simulate_evaluations,
    spread,
)

RECIPE = Recipe(micro_batch_size=2, gradient_accumulation_steps=2, num_epochs=2, eval_steps=10)
# the corpus: 1,656 passages (1,488 train, 168 validation) of ~450 tokens
TRAIN = [300 + (i * 53) % 300 for i in range(1488)]
VAL = [300 + (i * 71) % 300 for i in range(168)]
# ~17 s a step of 4 passages on 2 CPU cores; an eval token ~0.4 of a training token
CPU = Measured(train_seconds_per_token=17 / 1800, eval_seconds_per_token=0.4 * 17 / 1800,
               elapsed_seconds=60.0)


def test_a_short_budget_takes_a_sample_spread_over_the_whole_set() -> None:
    plan = make_plan(TRAIN, VAL, CPU, RECIPE, budget=20 * 60)
    assert plan.total_seconds <= 20 * 60
    assert plan.total_seconds > 0.9 * 20 * 60  # and uses the budget, not a fraction of it
    assert len(plan.passages) == plan.steps * 4 < len(TRAIN)  # one epoch over a sample
    assert not plan.full_epochs
    chosen = list(plan.passages)
    assert chosen == sorted(set(chosen))
    gaps = [b - a for a, b in itertools.pairwise(chosen)]
    assert max(gaps) - min(gaps) <= 1  # evenly over the set: every book and chapter
    assert chosen[0] < len(TRAIN) / len(chosen) and chosen[-1] > len(TRAIN) * (1 - 1 / len(chosen))


@pytest.mark.parametrize("eval_cost", [0.4, 1.0, 2.5])  # an eval token against a train token
def test_evaluation_stays_within_its_share(eval_cost: float) -> None:
    rate = CPU.train_seconds_per_token
    measured = Measured(rate, eval_cost * rate, elapsed_seconds=60.0)
    plan = make_plan(TRAIN, VAL, measured, RECIPE, budget=20 * 60)
    assert plan.evaluations >= 2  # the base and the last step
    assert plan.eval_seconds <= 0.1 * plan.train_seconds + plan.eval_seconds / plan.evaluations
    assert plan.eval_fraction <= 0.1


def test_a_long_budget_trains_the_configured_epochs_over_every_passage() -> None:
    small = TRAIN[:80]
    plan = make_plan(small, VAL[:10], CPU, RECIPE, budget=20 * 60)
    assert plan.full_epochs and plan.passages == tuple(range(80))
    assert plan.steps == RECIPE.full_steps(80) == 2 * 20
    assert plan.total_seconds < 20 * 60


def test_between_one_and_all_epochs_every_passage_and_the_steps_that_fit() -> None:
    corpus = TRAIN[:400]  # one epoch (100 steps of ~17 s) ~28 min, two ~57 min
    plan = make_plan(corpus, VAL, CPU, RECIPE, budget=45 * 60)
    assert plan.passages == tuple(range(400))
    assert RECIPE.steps_per_epoch(400) < plan.steps < RECIPE.full_steps(400)
    assert plan.total_seconds <= 45 * 60


def test_a_slower_machine_gets_fewer_steps_and_the_plan_scales_with_the_budget() -> None:
    slow = Measured(2 * CPU.train_seconds_per_token, 2 * CPU.eval_seconds_per_token, 60.0)
    fast_plan = make_plan(TRAIN, VAL, CPU, RECIPE, budget=20 * 60)
    slow_plan = make_plan(TRAIN, VAL, slow, RECIPE, budget=20 * 60)
    long_plan = make_plan(TRAIN, VAL, CPU, RECIPE, budget=40 * 60)
    assert slow_plan.steps < fast_plan.steps < long_plan.steps
    assert abs(slow_plan.steps / fast_plan.steps - 0.5) < 0.1


def test_no_budget_is_full_epochs_and_an_impossible_one_still_trains_a_step() -> None:
    plan = make_plan(TRAIN, VAL, CPU, RECIPE, budget=None)
    assert plan.full_epochs and plan.steps == RECIPE.full_steps(len(TRAIN))
    tiny = make_plan(TRAIN, VAL, CPU, RECIPE, budget=30.0)  # set-up alone took 60 s
    assert tiny.steps == 1 and len(tiny.passages) == 4


def test_the_budget_default_is_20_minutes_on_a_cpu_and_none_on_a_gpu() -> None:
    assert budget_seconds("auto", cuda=False, max_steps=None) == 20 * 60
    assert budget_seconds("auto", cuda=True, max_steps=None) is None
    assert budget_seconds(5, cuda=True, max_steps=None) == 300
    assert budget_seconds(None, cuda=False, max_steps=None) is None
    assert budget_seconds(20, cuda=False, max_steps=7) is None  # max_steps wins


def test_evaluations_follow_the_runners_rule() -> None:
    # no share limit: the base, every 10 steps, and the last
    assert simulate_evaluations(35, 10.0, 50.0, 10, None) == 1 + 3 + 1
    # 50 s evals against 1,000 s of training under 10 %: room for the base and the last
    assert simulate_evaluations(100, 10.0, 50.0, 10, 0.1) == 2
    # 25 s evals: room for one more within four fifths of the share (a fifth kept for the
    # pace cutting the run short later)
    assert simulate_evaluations(100, 10.0, 25.0, 10, 0.1) == 2 + 1
    assert simulate_evaluations(100, 10.0, 20.0, 10, 0.1) == 2 + 2
    assert simulate_evaluations(1, 10.0, 50.0, 10, 0.1) == 2


@pytest.mark.parametrize(("n", "k"), [(10, 3), (1488, 281), (7, 7), (5, 9), (100, 1)])
def test_spread_is_even_distinct_and_in_order(n: int, k: int) -> None:
    picked = spread(n, k)
    assert len(picked) == min(n, k) and picked == sorted(set(picked))
    assert all(0 <= i < n for i in picked)


def test_the_plan_names_passages_steps_and_the_finish_time() -> None:
    plan = make_plan(TRAIN, VAL, CPU, RECIPE, budget=20 * 60)
    groups = [f"book-{i // 500}#chapter-{i // 50}" for i in range(len(TRAIN))]
    line = plan.describe(started_at=0.0, groups=groups)
    assert f"{len(plan.passages)} of {len(TRAIN)} passages" in line
    assert f"{plan.steps} steps" in line and "expected to finish at" in line
    assert "from 30 of 30 chapters" in line


def test_a_run_slower_than_measured_is_cut_to_stay_within_its_budget() -> None:
    plan = make_plan(TRAIN, VAL, CPU, RECIPE, budget=20 * 60)
    pace = plan.train_seconds / plan.steps
    elapsed_at = lambda step, slow: plan.other_seconds + step * pace * slow  # noqa: E731

    def at(step: int, slow: float) -> int:
        return revised_steps(plan, plan.steps, step, elapsed_at(step, slow), step * pace * slow,
                             RECIPE)

    assert at(10, 1.0) == plan.steps  # on pace: the plan stands
    assert at(10, 1.03) == plan.steps  # a little off: let be
    halved = at(10, 2.0)
    assert 0.4 * plan.steps < halved < 0.6 * plan.steps  # twice as slow: about half the steps
    assert at(10, 0.5) > plan.steps  # twice as fast: more, up to the configured epochs
    assert at(10, 0.5) <= RECIPE.full_steps(len(plan.passages))
    assert at(plan.steps - 1, 3.0) == plan.steps - 1  # out of time: stop now
    unbudgeted = make_plan(TRAIN, VAL, CPU, RECIPE, budget=None)
    assert revised_steps(unbudgeted, unbudgeted.steps, 10, 1e9, 1e9, RECIPE) == unbudgeted.steps


def test_backward_passes_run_python_at_every_layer_so_ctrl_c_lands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from training import loss

    calls: list[tuple[int, ...]] = []
    monkeypatch.setattr(loss, "_noop", lambda grad: calls.append(tuple(grad.shape)))
    layers = torch.nn.ModuleList(torch.nn.Linear(4, 4 + i) for i in range(5))
    for i in range(1, 5):
        layers[i] = torch.nn.Linear(4 + i - 1, 4 + i)
    handles = loss.interrupt_points(layers)
    hidden = torch.randn(2, 4, requires_grad=True)
    for layer in layers:
        hidden = layer(hidden)
    hidden.sum().backward()
    assert calls == [(2, 8), (2, 7), (2, 6), (2, 5), (2, 4)]  # Python inside, layer by layer
    for handle in handles:
        handle.remove()
