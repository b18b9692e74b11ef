"""`python -m retrieval`: index, query and check worlds with the gateway's settings.

Examples:
  python -m retrieval check scifi_world
  python -m retrieval index scifi_world --watch
  python -m retrieval query scifi_world "Elena checks the arm before the fold" --chapter 9 --explain
  python -m retrieval continuity manuscript/chapter-12.md --world scifi_world --chapter 12

Exit status: 0 fine, 1 problems found (check, continuity) or the index failed, 2 bad arguments
or unknown world. Settings come from GATEWAY_* variables; --worlds-dir / --index-dir override them.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from retrieval.continuity.cli import continuity_files, fact_issues
from retrieval.engine import LoreEngine
from retrieval.errors import RetrievalError, UnknownWorld
from retrieval.select import LoreHit, Selection
from retrieval.settings import ConfigKeyError, RetrievalSettings
from retrieval.world import load_world

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--worlds-dir", type=Path, help="default: $GATEWAY_WORLDS_DIR or worlds/")
    common.add_argument("--index-dir", type=Path,
                        help="default: $GATEWAY_INDEX_DIR or .loregate/index")
    parser = argparse.ArgumentParser(prog="python -m retrieval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    index = commands.add_parser("index", parents=[common], help="build or refresh an index")
    index.add_argument("world")
    index.add_argument("--watch", action="store_true", help="then re-index on every save")
    index.add_argument("--rebuild", action="store_true",
                       help="drop the index first (e.g. after changing the embedding model)")

    query = commands.add_parser("query", parents=[common], help="show the lore for a text")
    query.add_argument("world")
    query.add_argument("text")
    query.add_argument("--chapter", type=int, help="story chapter the text is set in")
    query.add_argument("--budget", type=int, help="token budget (default: the world's)")
    query.add_argument("--explain", action="store_true",
                       help="list each entry with its score and trigger, and what was dropped")

    check = commands.add_parser("check", parents=[common], help="lint a world's files")
    check.add_argument("world")

    guard = commands.add_parser("continuity", parents=[common],
                                help="check prose files against the world's facts")
    guard.add_argument("files", nargs="+", type=Path, metavar="FILE")
    guard.add_argument("--world", required=True)
    guard.add_argument("--chapter", type=int,
                       help="story chapter (default: each file's '# Chapter N' heading)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Ctrl-C must stop an index build even when a shell started us in the background, which
    # hands its children SIGINT ignored (and Python then never raises KeyboardInterrupt)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("chromadb", "sentence_transformers", "httpx", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    updates = {key: value for key, value in (("worlds_dir", args.worlds_dir),
                                             ("index_dir", args.index_dir)) if value is not None}
    try:
        settings = RetrievalSettings().model_copy(update=updates)
    except ConfigKeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "check":
            return _check(settings, args.world)
        if args.command == "continuity":
            return continuity_files(settings, args.world, args.files, args.chapter)
        engine = LoreEngine(settings)
        try:
            if args.command == "index":
                return _index(engine, args.world, args.rebuild, args.watch)
            return _query(engine, args)
        finally:
            engine.close()
    except UnknownWorld as exc:
        print(f"error: {exc}. Worlds are folders under {settings.worlds_dir}.", file=sys.stderr)
        return EXIT_USAGE
    except RetrievalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS


def _check(settings: RetrievalSettings, name: str) -> int:
    names = LoreEngine(settings).world_names()
    if name not in names:
        raise UnknownWorld(name, names)
    world = load_world(settings.worlds_dir / name, max_entry_bytes=settings.max_entry_bytes)
    issues = [*world.issues, *fact_issues(world)]
    for issue in issues:
        print(issue)
    print(f"{name}: {len(world.entries)} entries, {len(issues)} issue(s)", file=sys.stderr)
    return EXIT_PROBLEMS if issues else EXIT_OK


def _index(engine: LoreEngine, name: str, rebuild: bool, watch: bool) -> int:
    report = engine.reindex(name, rebuild=rebuild)
    issues = len(engine.world(name).issues)
    print(f"{report}" + (f"; {issues} file(s) skipped, see `python -m retrieval check {name}`"
                         if issues else ""))
    if watch:
        engine.start_watching()
        print(f"watching {engine.settings.worlds_dir} (Ctrl-C to stop)", file=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return EXIT_OK


def _query(engine: LoreEngine, args: argparse.Namespace) -> int:
    if args.budget is not None and args.budget < 0:
        print("error: --budget must be 0 or more", file=sys.stderr)
        return EXIT_USAGE
    selection = engine.search(args.world, args.text, chapter=args.chapter,
                              budget_tokens=args.budget)
    if args.explain:
        print(explain(selection))
        print()
    print(selection.context or "(no lore selected)")
    return EXIT_OK


def explain(selection: Selection) -> str:
    lines = [f"{len(selection.entries)} entries, {selection.tokens} tokens"]
    lines += [_row(hit) for hit in selection.entries]
    if selection.dropped:
        lines.append(f"dropped (over budget): {len(selection.dropped)}")
        lines += [_row(hit) for hit in selection.dropped]
    return "\n".join(lines)


def _row(hit: LoreHit) -> str:
    why = f"  [{hit.why}]" if hit.why else ""
    return (f"  {hit.trigger:<8} {hit.score:8.4f} {hit.tokens:5d} tok  {hit.id}  ({hit.name})"
            f"{why}")
