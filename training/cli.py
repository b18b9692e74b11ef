"""`python -m training prepare|train|merge|check|deploy|eval`: load one config, call one step.

Library errors become one line on stderr and a non-zero exit here, at the edge.

Example usage:
    python -m training prepare --input training/data/raw --min-tokens 500 --max-tokens 2000
    python -m training train --config configs/train_embedded.yaml
    python -m training train --resume latest
    python -m training merge --adapter checkpoints/run-20250101-120000/best
    python -m training check --merged merged_models/run-20250101-120000
    python -m training deploy                # the latest run's adapter as voice 'default'
    python -m training deploy --voice noir   # ... as voice 'noir' (model 'noir' in clients)
    python -m training deploy --voice noir --rollback
    python -m training deploy --merged       # newest checked merged model, vLLM restarts
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys
from pathlib import Path
from typing import Any

from training import layout
from training.step import Step, StepResult

DEFAULT_CONFIG = layout.DEFAULT_CONFIG

# The steps, by name: module and function, imported only when that step runs (so `--help`
# and a config error never load torch). Every function is `step(cfg) -> StepResult`.
STEPS: dict[str, tuple[str, str]] = {
    "prepare": ("training.prepare", "prepare"),
    "train": ("training.train", "train"),
    "merge": ("training.merge", "merge"),
    "check": ("training.check", "check"),
    "deploy": ("training.deploy", "deploy"),
    "eval": ("training.evaluate", "evaluate"),
}
# step -> {loregate.run option: the flag's attribute}
RUN_OPTIONS: dict[str, dict[str, str]] = {
    "train": {"resume": "resume"},
    "merge": {"adapter": "adapter", "merged": "output"},
    "check": {"adapter": "adapter", "merged": "merged"},
    "deploy": {"target": "model", "rollback": "rollback", "voice": "voice",
               "serve_merged": "merged"},
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="step", required=True)

    def step(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument(
            "--config", default=DEFAULT_CONFIG, help=f"run config (default {DEFAULT_CONFIG})"
        )
        p.add_argument("--base-model", help="base model folder (overrides base_model)")
        return p

    p = step("prepare", "prose folder → training.jsonl, validation.jsonl, stats, manifest")
    p.add_argument("--input", help="folder of .txt/.md prose (recursive)")
    p.add_argument("--output", help="folder for the prepared data")
    p.add_argument("--min-tokens", type=int, help="shortest passage kept (default 500)")
    p.add_argument("--max-tokens", type=int, help="longest passage (default 2000)")
    p.add_argument("--split", type=float, help="train share, rest is validation (default 0.9)")
    p.add_argument("--seed", type=int)
    p.add_argument("--prompts", choices=("heuristic", "llm"))
    p.add_argument("--llm-url", help="OpenAI-compatible server for --prompts llm")
    p.add_argument("--llm-model", help="model name on that server (default: its first)")
    p.add_argument(
        "--continuation-share", type=float, help="share of 'continue the story' examples"
    )

    p = step("train", "prepared data → checkpoints/run-*/best (LoRA adapter)")
    p.add_argument("--data", help="prepared data folder (default: the config's datasets)")
    p.add_argument(
        "--resume", nargs="?", const="latest", help="continue a run: latest, or its folder"
    )
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    p.add_argument(
        "--minutes",
        type=float,
        help="time budget: measure, then fit steps and passages to it (0: full epochs; "
        "default loregate.budget_minutes, 20 on a CPU)",
    )
    p.add_argument("--backend", choices=("auto", "peft", "axolotl"))

    p = step("merge", f"base + adapter → {layout.MERGED_DIR}/<run>/")
    p.add_argument("--adapter", type=Path, help="adapter folder (default: latest run's best)")
    p.add_argument(
        "--output", type=Path, help=f"merged model folder (default {layout.MERGED_DIR}/<run>)"
    )
    p.add_argument(
        "--nf4-roundtrip", action="store_true", help="merge into an NF4 round-tripped base"
    )

    p = step("check", "prove the merged model: size, logits, stop token")
    p.add_argument(
        "--merged", type=Path, help="merged model folder (default: from the adapter's run)"
    )
    p.add_argument("--adapter", type=Path, help="adapter folder (default: latest run's best)")

    p = step("deploy", "serve an adapter as a voice, no restart (or --merged: a merged model)")
    p.add_argument(
        "model", nargs="?", help="a run name or adapter folder (with --merged: a run name under "
        f"{layout.MERGED_DIR}/ or a model folder); default: the latest run's best"
    )
    p.add_argument("--voice", help=f"the voice's name (default '{layout.DEFAULT_VOICE}')")
    p.add_argument("--rollback", action="store_true", help="back to what was current before")
    p.add_argument("--merged", action="store_true",
                   help=f"switch {layout.DEPLOYED} instead (vLLM restarts on that model)")

    # listed for --help; main() hands `eval` and its arguments to the style benchmark's CLI
    sub.add_parser("eval", help="does it write like you? the style benchmark "
                   "(python -m training eval --help)", add_help=False)
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The flags as config keys: recipe keys by their axolotl/loregate names, and the
    options of this invocation under `loregate.run`."""
    out: dict[str, Any] = {}
    loregate: dict[str, Any] = {}
    if args.base_model:
        out["base_model"] = args.base_model
    if args.step == "prepare":
        prepare = {
            key: getattr(args, key)
            for key in (
                "input",
                "output",
                "min_tokens",
                "max_tokens",
                "split",
                "seed",
                "prompts",
                "llm_url",
                "llm_model",
                "continuation_share",
            )
            if getattr(args, key) is not None
        }
        if prepare:
            loregate["prepare"] = prepare
    if args.step == "train":
        if args.data:
            data = Path(args.data)
            out["datasets"] = [{"path": str(data / "training.jsonl")}]
            out["test_datasets"] = [{"path": str(data / "validation.jsonl"), "split": "train"}]
        if args.max_steps:
            out["max_steps"] = args.max_steps
        if args.backend:
            loregate["backend"] = args.backend
        if args.minutes is not None:
            loregate["budget_minutes"] = args.minutes or None
    if args.step == "merge" and args.nf4_roundtrip:
        loregate["merge_nf4_roundtrip"] = True
    run = {
        option: str(value) if isinstance(value, Path) else value
        for option, flag in RUN_OPTIONS.get(args.step, {}).items()
        if (value := getattr(args, flag)) not in (None, False)
    }
    if run:
        loregate["run"] = run
    if loregate:
        out["loregate"] = loregate
    return out


def run_step(args: argparse.Namespace) -> StepResult:
    from training.config import load_config

    cfg = load_config(args.config, _overrides(args))
    module, function = STEPS[args.step]
    step: Step = getattr(importlib.import_module(module), function)
    return step(cfg)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "eval":  # its flags are its own: the style benchmark's parser
        return importlib.import_module(STEPS["eval"][0]).main(argv[1:])
    args = _parser().parse_args(argv)
    from training.errors import KNOWN_ERRORS, TrainingInterrupted

    try:
        return run_step(args).exit_code
    except TrainingInterrupted as exc:
        print(f"{args.step}: {exc}", file=sys.stderr)
        return 130
    except KNOWN_ERRORS as exc:
        print(f"{args.step}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            print(f"{args.step}: error: disk full ({exc}); free space and rerun", file=sys.stderr)
            return 1
        raise
