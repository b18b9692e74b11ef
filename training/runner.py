"""The built-in training loop (transformers + peft), read top to bottom like nanoGPT's.

It reads the same axolotl keys as `axolotl train`: LoRA shape, micro batch, gradient
accumulation, epochs, learning rate with warmup and cosine decay, weight decay, eval and
save intervals, best-by-eval-loss. On CPU it trains in fp32 with plain AdamW (the
`paged_adamw_8bit` of the GPU recipe needs bitsandbytes and CUDA); `sample_packing`
groups examples of similar length into a micro-batch so little is spent on padding,
without letting examples attend to each other.

With CUDA the levers of `loregate.speed` come on (training/levers.py): bf16 weights kept
bf16 under autocast, `sample_packing` as packed rows with per-example attention, a chunked
LM head + loss, compiled decoder layers, selective checkpointing within a memory budget,
and bitsandbytes' paged 8-bit AdamW.

The eval loss runs on a fixed sample of the validation set of at most
`loregate.eval_tokens` tokens (the same examples every time, spread over the set; fewer
on a run too short for its base and last evaluations to fit `loregate.eval_share`), with
its own progress bar; an evaluation due at `eval_steps` runs only while the evaluations so
far, it and the last step's fit in `loregate.eval_share` (10 %) of the run's projected
training time, so evaluating never dominates a run. The base model's loss at step 0 and the
last step are always evaluated.

With a time budget (`loregate.budget_minutes`; 20 minutes by default on a CPU) the run is
measured and planned first (training/budget.py, training/plan.py), and its total steps are
revised as it goes from the steps' real pace, so it ends within the budget on a busy machine.
A no-op hook per decoder layer lets Ctrl-C land inside a backward pass.

Ctrl-C finishes nothing half-way, in a training step or an evaluation alike: the last
completed optimizer step is saved as a checkpoint and `python -m training train --resume`
continues from it with the same data order (each epoch's order comes from seed + epoch).
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from training import distributed, layout
from training.artifacts import write_json_atomic
from training.budget import keep_to_budget, plan_run
from training.chatdata import (
    Example,
    eval_sample,
    load_tokenizer,
    micro_batches,
    read_examples,
)
from training.checkpoints import save_adapter, save_checkpoint
from training.config import RunConfig
from training.errors import TrainingError, TrainingInterrupted
from training.eval_loss import evaluate_loss
from training.levers import (
    CheckpointPlanner,
    Levers,
    autocast,
    compile_decoder_layers,
    epoch_batches,
    gpu_summary,
    make_optimizer,
    model_inputs,
    resolve_levers,
)
from training.loss import interrupt_points, summed_loss
from training.loss import predicted_tokens as _predicted
from training.plan import INTERMEDIATE_SHARE, Plan
from training.plan import eval_token_budget as plan_eval_tokens
from training.runlog import MetricsLog, SilentLog, plot_losses
from training.trainable import load_trainable


@dataclass
class TrainState:
    step: int = 0
    tokens: int = 0
    trained_tokens: int = 0
    seconds: float = 0.0
    best_eval_loss: float | None = None
    best_step: int | None = None
    eval_seconds: float = 0.0  # of `seconds`, spent in evaluations after step 0
    base_eval_seconds: float = 0.0  # the base model's evaluation (not part of `seconds`)
    last_eval_seconds: float = 0.0  # the latest evaluation after step 0


def get_lr(step: int, total: int, cfg: RunConfig) -> float:
    """Linear warmup, then the configured decay (pure: same step, same rate)."""
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else int(total * cfg.warmup_ratio)
    if step < warmup:
        return cfg.learning_rate * (step + 1) / (warmup + 1)
    if cfg.lr_scheduler == "constant":
        return cfg.learning_rate
    progress = (step - warmup) / max(1, total - warmup)
    if cfg.lr_scheduler == "linear":
        return cfg.learning_rate * (1.0 - progress)
    return cfg.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass
class Run:
    """What a run holds while it trains: made once by `_set_up`, read and advanced by
    each step, closed by `_finish`."""

    cfg: RunConfig
    run_dir: Path
    state: TrainState
    model: Any
    optimizer: Any
    params: list[Any]
    levers: Levers
    planner: CheckpointPlanner | None
    train_set: list[Example]
    val_batches: list[list[Any]]
    pad_id: int
    steps_per_epoch: int
    total: int
    log: MetricsLog
    bar: Any = None
    started: float = 0.0
    eval_deferred: bool = False  # said once that an evaluation waits for the budget
    epoch_cache: dict[int, list[list[Any]]] = field(default_factory=dict)
    plan: Plan | None = None  # the time budget's plan (training/plan.py); None: full epochs
    began: float = 0.0  # wall clock at the start of the train step
    group: distributed.Group = distributed.SINGLE  # torchrun's ranks (training/distributed.py)


def run_builtin(cfg: RunConfig, run_dir: Path, resume: Path | None) -> Path:
    run = _set_up(cfg, run_dir, resume, began=time.time())
    state, group = run.state, run.group
    try:
        if state.step == 0 and run.val_batches:  # the base's own loss: the curve's yardstick
            began = time.perf_counter()
            base_loss = evaluate_loss(run.model, run.val_batches, run.pad_id, run.levers,
                                      group=group)
            state.base_eval_seconds = time.perf_counter() - began
            run.log.write(step=0, eval_loss=base_loss)
            run.bar.write(f"step 0 eval loss {base_loss:.4f} (base model)")
            run.started = time.perf_counter()  # the base evaluation is no part of the run
            run.bar.reset()  # nor of the train bar's clock
        while state.step < run.total:
            step_loss, lr = _train_step(run)
            _log_step(run, step_loss, lr)
            keep_to_budget(run)
            run.total = distributed.agree(run.total, group)  # rank 0's pace decides for all
            due = state.step == run.total or (
                state.step % cfg.eval_steps == 0 and _eval_in_budget(run)
            )
            if distributed.agree(due, group):
                _evaluate_and_keep_best(run)
            if state.step % cfg.save_steps == 0 and state.step < run.total:
                _save(run)
    except KeyboardInterrupt:
        path = _stop(run)
        raise TrainingInterrupted(
            f"interrupted after step {state.step}/{run.total}; checkpoint {path}. Continue with: "
            f"python -m training train --resume {run_dir}"
        ) from None
    except distributed.RankFailed as exc:
        path = _stop(run)
        raise TrainingError(
            f"{exc}; the run stopped after step {state.step}/{run.total} with checkpoint "
            f"{path}. Continue with: python -m training train --resume {run_dir} (on any "
            "number of ranks)"
        ) from None
    return _finish(run)


def _save(run: Run) -> Path:
    """A checkpoint of the last completed step, written by rank 0 (every rank holds the
    same adapter and optimizer state)."""
    if run.group.main:
        return save_checkpoint(run.model, run.optimizer, run.state, run.run_dir,
                               run.cfg.save_total_limit)
    return layout.checkpoint_dir(run.run_dir, run.state.step)


def _stop(run: Run) -> Path:
    """Ctrl-C or a lost rank: the last completed step saved, the loss curve drawn."""
    run.bar.close()
    with distributed.signals_held():
        path = _save(run)
        if run.group.main:
            plot_losses(run.log.read(), layout.loss_plot(run.run_dir), run.run_dir.name)
    return path


def _set_up(cfg: RunConfig, run_dir: Path, resume: Path | None, began: float) -> Run:
    """Seeds, data, model, optimizer (and their state when resuming), the time budget's plan
    (measured on a fresh run), the metrics log."""
    import torch
    from tqdm import tqdm

    if cfg.loregate.torch_threads:
        torch.set_num_threads(cfg.loregate.torch_threads)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)

    tokenizer = load_tokenizer(cfg.base_model_path, cfg.special_tokens.pad_token)
    train_set, val_set = _read_data(cfg, tokenizer)
    levers = resolve_levers(cfg, torch.cuda.is_available())
    state = TrainState()
    if resume is not None:
        state = TrainState(**json.loads((resume / layout.TRAINER_STATE).read_text()))
    model = load_trainable(cfg, resume, levers)
    model.train()
    layers = model.get_base_model().model.layers
    if levers.compile:
        compile_decoder_layers(layers)
    else:  # Ctrl-C lands between layers of a backward too
        interrupt_points(layers)
    if levers.offload:  # checkpointed layers keep their input in host memory
        from training.offload import offload_checkpoints

        offload_checkpoints(layers, model.device)
    planner = CheckpointPlanner(layers, levers.memory_budget) if levers.memory_budget else None
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer, fallback = make_optimizer(params, cfg, levers.cuda)
    if fallback:
        print(f"train: {fallback}; using torch AdamW")
    if resume is not None:
        optimizer.load_state_dict(torch.load(resume / "optimizer.pt", weights_only=True))
        rng = torch.load(resume / "rng.pt", weights_only=False)
        random.setstate(rng["python"])
        torch.set_rng_state(rng["torch"])

    pad_id = tokenizer.pad_token_id
    group = distributed.current()
    plan = plan_run(cfg, model, (train_set, val_set), pad_id, levers, run_dir, began)
    plan = distributed.agree(plan, group)  # measured on every rank, rank 0's is the plan
    if plan is not None:
        train_set = [train_set[i] for i in plan.passages]
    batches_per_epoch = len(epoch_batches(train_set, cfg, levers, cfg.seed))
    steps_per_epoch = max(1, math.ceil(batches_per_epoch / cfg.gradient_accumulation_steps))
    total = plan.steps if plan else cfg.max_steps or math.ceil(cfg.num_epochs * steps_per_epoch)
    planned = sum(len(e.input_ids) for e in train_set) * total / steps_per_epoch
    sample = eval_sample(val_set, plan.eval_tokens if plan else eval_token_budget(cfg, planned))
    val_batches = micro_batches(
        sample, cfg.eval_batch_size or cfg.micro_batch_size, cfg.seed, group_by_length=True
    )
    log = (MetricsLog if group.main else SilentLog)(layout.metrics_file(run_dir))
    log.truncate_after(state.step)
    ignored = sorted(cfg.axolotl_extras)
    if ignored:
        print(f"train: the built-in runner ignores {', '.join(ignored)} (axolotl reads them)")
    eval_note = (
        f" (eval loss on {len(sample)}, {sum(len(e.input_ids) for e in sample)} tokens)"
        if len(sample) < len(val_set)
        else ""
    )
    print(
        f"train: {len(train_set)} examples, {len(val_set)} validation{eval_note}, "
        f"{steps_per_epoch} steps/epoch, "
        f"{total} steps, lr {cfg.learning_rate}, LoRA r={cfg.lora_r} on {model.device}; "
        f"speed levers: {levers.describe()}"
    )
    run = Run(
        cfg=cfg,
        run_dir=run_dir,
        state=state,
        model=model,
        optimizer=optimizer,
        params=params,
        levers=levers,
        planner=planner,
        train_set=train_set,
        val_batches=val_batches,
        pad_id=tokenizer.pad_token_id,
        steps_per_epoch=steps_per_epoch,
        total=max(1, total),
        log=log,
        plan=plan,
        began=began,
        group=group,
    )
    run.bar = tqdm(total=total, initial=state.step, unit="step", desc="train", dynamic_ncols=True,
                   disable=not group.main)
    run.started = time.perf_counter() - state.seconds
    return run


def eval_token_budget(cfg: RunConfig, planned_train_tokens: float) -> int | None:
    """The eval sample's token cap for a run of `planned_train_tokens` (training/plan.py)."""
    return plan_eval_tokens(cfg.loregate.eval_tokens, cfg.loregate.eval_share, planned_train_tokens)


def _read_data(cfg: RunConfig, tokenizer: Any) -> tuple[list[Example], list[Example]]:
    train_set, skipped = read_examples(cfg.train_file, tokenizer, cfg.sequence_len)
    val_file = cfg.validation_file
    val_set, val_skipped = (
        read_examples(val_file, tokenizer, cfg.sequence_len) if val_file else ([], 0)
    )
    if skipped or val_skipped:
        print(
            f"train: skipped {skipped + val_skipped} examples longer than "
            f"sequence_len {cfg.sequence_len}"
        )
    if not train_set:
        raise TrainingError(
            f"no training example fits sequence_len {cfg.sequence_len}; rerun prepare with a "
            "smaller --max-tokens or raise sequence_len"
        )
    return train_set, val_set


def _train_step(run: Run) -> tuple[float, float]:
    """One optimizer step over `gradient_accumulation_steps` micro-batches: (loss, lr). On
    several ranks each takes its share of the micro-batches, divides by the predicted tokens
    of all of them, and the gradients are summed: the single-process step, split."""
    import torch

    cfg, state, levers, group = run.cfg, run.state, run.levers, run.group
    epoch, within = divmod(state.step, run.steps_per_epoch)
    if epoch not in run.epoch_cache:  # each epoch's order comes from seed + epoch
        run.epoch_cache = {epoch: epoch_batches(run.train_set, cfg, levers, cfg.seed + epoch)}
    accum = cfg.gradient_accumulation_steps
    step_batches = run.epoch_cache[epoch][within * accum : (within + 1) * accum]
    micro = [model_inputs(b, cfg, run.pad_id, levers, run.model.device)
             for b in distributed.share(step_batches, group)]
    local = sum(_predicted(inputs["labels"]) for inputs, _ in micro)
    (predicted,) = distributed.sum_floats([local], group)
    lr = get_lr(state.step, run.total, cfg)
    for group_ in run.optimizer.param_groups:
        group_["lr"] = lr
    step_loss, tokens = 0.0, 0
    for inputs, n_tokens in micro:
        if run.planner:
            run.planner.before()
        with autocast(levers):
            loss = summed_loss(run.model, inputs, levers.ce_chunk) / max(1, predicted)
        loss.backward()  # the step's mean: each micro-batch adds its share
        if run.planner:
            run.planner.after()
        step_loss += float(loss.detach())
        tokens += n_tokens
    distributed.sum_gradients(run.params, group)
    step_loss, tokens = distributed.sum_floats([step_loss, tokens], group)
    state.tokens += int(tokens)
    torch.nn.utils.clip_grad_norm_(run.params, cfg.max_grad_norm)
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    state.step += 1
    state.trained_tokens += int(predicted)
    state.seconds = time.perf_counter() - run.started
    return step_loss, lr


def _log_step(run: Run, step_loss: float, lr: float) -> None:
    state = run.state
    speed = state.tokens / max(1e-9, state.seconds)
    run.log.write(
        step=state.step,
        epoch=round(state.step / run.steps_per_epoch, 3),
        loss=step_loss,
        lr=lr,
        tokens_per_s=round(speed, 1),
        seconds=round(state.seconds, 2),
    )
    run.bar.set_postfix(loss=f"{step_loss:.3f}", tok_s=f"{speed:.0f}")
    run.bar.update(1)
    if state.step % run.cfg.logging_steps == 0:
        run.bar.write(
            f"step {state.step}/{run.total} loss {step_loss:.4f} lr {lr:.2e} {speed:.0f} tok/s"
        )


def _eval_in_budget(run: Run) -> bool:
    """Whether the evaluations so far, this one and the last step's (each costing what the
    latest took) stay within INTERMEDIATE_SHARE of `loregate.eval_share` of the run's
    projected training time."""
    share, state = run.cfg.loregate.eval_share, run.state
    evaluating = state.eval_seconds + state.base_eval_seconds
    training = state.seconds - state.eval_seconds
    one = state.last_eval_seconds or state.base_eval_seconds
    whole = training * run.total / max(1, state.step)
    if share is None or evaluating + 2 * one <= INTERMEDIATE_SHARE * share * whole:
        return True
    if not run.eval_deferred:
        run.eval_deferred = True
        run.bar.write(
            f"step {state.step}: evaluation deferred; evaluations took {evaluating:.0f}s, and "
            f"this one and the last (~{one:.0f}s each) would go over loregate.eval_share "
            f"{share:.0%} of ~{whole:.0f}s of training (lower loregate.eval_tokens or raise "
            "eval_steps to evaluate more often)"
        )
    return False


def _evaluate_and_keep_best(run: Run) -> None:
    state = run.state
    began = time.perf_counter()
    eval_loss = evaluate_loss(run.model, run.val_batches, run.pad_id, run.levers,
                              group=run.group)
    spent = time.perf_counter() - began
    state.eval_seconds += spent
    state.last_eval_seconds = spent
    state.seconds = time.perf_counter() - run.started
    if eval_loss is None:
        return
    run.log.write(step=state.step, eval_loss=eval_loss)
    run.bar.write(f"step {state.step} eval loss {eval_loss:.4f}")
    if state.best_eval_loss is None or eval_loss < state.best_eval_loss:
        state.best_eval_loss, state.best_step = eval_loss, state.step
        if run.group.main:
            save_adapter(run.model, layout.best_adapter(run.run_dir), step=state.step,
                         eval_loss=eval_loss)


def _finish(run: Run) -> Path:
    """The last checkpoint, final/ (and best/ when nothing was evaluated), the loss curve
    and summary.json."""
    cfg, state, run_dir, model = run.cfg, run.state, run.run_dir, run.model
    run.bar.close()
    if not run.group.main:  # rank 0 writes what the run leaves
        distributed.barrier(run.group)
        return layout.best_adapter(run_dir)
    save_checkpoint(model, run.optimizer, state, run_dir, cfg.save_total_limit)
    save_adapter(model, layout.final_adapter(run_dir), step=state.step)
    if not layout.best_adapter(run_dir).exists():  # no validation split: the last step is best
        save_adapter(model, layout.best_adapter(run_dir), step=state.step, eval_loss=None)
    plot_losses(run.log.read(), layout.loss_plot(run_dir), run_dir.name)
    summary = {
        **asdict(state),
        "total_steps": run.total,
        "examples": len(run.train_set),
        "tokens_per_s": round(state.tokens / max(1e-9, state.seconds), 1),
        "wall_seconds": round(time.time() - run.began, 1),
    }
    if run.plan is not None:
        summary["planned_seconds"] = round(run.plan.total_seconds, 1)
        print(
            f"train: took {summary['wall_seconds'] / 60:.1f} min against a plan of "
            f"{run.plan.total_seconds / 60:.1f} min "
            f"({summary['wall_seconds'] / run.plan.total_seconds - 1:+.0%})"
        )
    if run.levers.cuda:
        summary |= gpu_summary(run.levers, run.planner)
    write_json_atomic(layout.summary_file(run_dir), summary)
    print(
        f"train: done in {state.seconds:.0f}s, {summary['tokens_per_s']} tokens/s; best eval loss "
        f"{state.best_eval_loss} at step {state.best_step} → {layout.best_adapter(run_dir)}"
    )
    distributed.barrier(run.group)  # the others end once the adapters are written
    return layout.best_adapter(run_dir)
