"""Lore retrieval figures, measured in one run on one machine.

  * labelled cases (--cases-only runs just this part): the three sample worlds' labelled
    requests, tests/data/retrieval_cases.yaml on worlds/scifi_world, harbour_cases.yaml on
    worlds/harbour_world and court_cases.yaml on worlds/court_world (written before the engine
    ran on it, a held-out check), at the default settings and each world's budget: recall of
    named and described entries, violation rate (cases that inject an `absent` entry, or
    anything but the always-entries where only those may go in), clean-negative rate
    (only_always cases that get only the always-entries), mean injected lore tokens and
    selection latency p50/p95 with every request new text (engine.clear_caches() before
    each), per kind and overall. With
    --baseline REV the same cases also run on the `retrieval` package of another commit (a git
    worktree, in its own subprocess, so two versions never share an interpreter), side by side
    in one markdown table. Both sides read the cases and worlds of this tree.
  * index: a full index of a generated 1,000-entry world, then re-indexing after one file edit
  * selection latency over replayed chats (each turn re-sends the earlier messages plus the
    assistant's reply and a new user message), four ways on the same requests: keyword only
    (no semantic search: the baseline); semantic with each reply embedded between turns by
    engine.warm (what the gateway does after relaying a reply); semantic with the per-message
    cache only (the reply is embedded inside the next request); every cache cleared. Each
    semantic way is timed for every embedding pipeline (--embedder), interleaved request by
    request, with the vectors' agreement to a float32 run and whether the selections match
  * recall on tests/data/retrieval_cases.yaml against worlds/scifi_world at a budget of
    100,000 tokens, and a sweep of the vector threshold

Results: scripts/results/retrieval-<date>.json (retrieval-cases-<date>.json and .md with
--cases-only), with the settings and machine load.
Usage: python scripts/bench_retrieval.py [--entries 1000] [--conversations 12] [--turns 8]
       [--embedder both|direct|encode]   (both: before/after embedding pipelines side by side)
       [--baseline REV] [--case-repeats 3] [--cases-only | --skip-cases] [--skip-recall]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench_results import save_results  # noqa: E402
from synthetic_world import ADJECTIVES, NOUNS, generate_world, sentence  # noqa: E402

if TYPE_CHECKING:  # imported at run time only once the worker has picked its package
    from retrieval import LoreEngine, RetrievalSettings

LABELLED = {"scifi_world": REPO / "tests/data/retrieval_cases.yaml",
            "harbour_world": REPO / "tests/data/harbour_cases.yaml",
            "court_world": REPO / "tests/data/court_cases.yaml"}
CASE_KINDS = ("name", "alias", "title", "possessive", "first-name", "described", "related",
              "chapter", "common-word", "shared-name", "multi-turn", "off-topic", "long-draft")
GOALS = {"recall": ">= 0.97", "violation_rate": "<= 0.05", "clean_negative_rate": ">= 0.95",
         "mean_tokens": "<= 1200", "p50_ms": "<= 20", "p95_ms": "<= 50"}

GENERIC_REQUESTS = (
    "Continue the story.", "Rewrite the last paragraph so it is tighter and more tense.",
    "Can you suggest a title for this chapter?", "Write the next scene.",
    "Give me three options for how this chapter could end.", "Write a short poem about the sea.",
    "She opened the door and stepped into the cold night air.",
    "Summarise what happened so far.", "Write a fight scene in a kitchen.",
    "Make the dialogue snappier and cut the adverbs.",
    "He poured two cups of coffee and sat down across from her without a word.",
)


def chats(rng: random.Random, names: list[str], conversations: int,
          turns: int) -> list[list[list[dict]]]:
    """For each conversation, the request sent at each turn (the whole history so far)."""
    replayed = []
    for _ in range(conversations):
        history = [{"role": "system", "content": "You are a co-writer. Stay in the world."}]
        requests = []
        for _ in range(turns):
            mentioned = rng.sample(names, k=rng.randint(0, 2))
            user = (f"Write the scene where {' and '.join(mentioned) or 'the crew'} reach the "
                    f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}. Keep it tense and short, "
                    f"and show what the {rng.choice(NOUNS)} means to them.")
            history.append({"role": "user", "content": user})
            requests.append(list(history))
            reply = " ".join(sentence(rng, rng.choice(["She", "He", "The crew"]), names)
                             for _ in range(rng.randint(4, 7)))
            history.append({"role": "assistant", "content": reply})
        replayed.append(requests)
    return replayed


def percentiles(samples: list[float], prefix: str = "") -> dict:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    mean = round(statistics.fmean(ordered) * 1000, 2)
    return {f"{prefix}p50_ms": at(0.50), f"{prefix}p90_ms": at(0.90),
            f"{prefix}p99_ms": at(0.99), f"{prefix}mean_ms": mean, f"{prefix}max_ms": at(1.0)}


def time_selection(engines: dict[str, LoreEngine], world: str, requests: list[list[dict]],
                   cold: bool = False, warm_replies: bool = False) -> dict:
    """Per-request select() time for each engine, interleaved request by request (the order
    alternating) so that load from other processes on this shared machine falls on all alike.
    warm_replies: the gateway has already embedded each assistant reply after relaying it
    (engine.warm), untimed, as it would between turns."""
    wall: dict[str, list[float]] = {name: [] for name in engines}
    cpu: dict[str, list[float]] = {name: [] for name in engines}
    for engine in engines.values():
        engine.clear_caches()
        for request in requests[:5]:  # warm-up: first-call costs (token counter, Chroma reader)
            engine.select(world, request)
        engine.clear_caches()
    order = list(engines)
    for index, request in enumerate(requests):
        for name in order if index % 2 == 0 else order[::-1]:
            engine = engines[name]
            if cold:
                engine.clear_caches()
            if warm_replies and hasattr(engine, "warm"):
                engine.warm([m["content"] for m in request if m["role"] == "assistant"])
            started, started_cpu = time.perf_counter(), time.process_time()
            engine.select(world, request)
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)
    # wall time is what a caller waits on this shared machine; process CPU time is the work
    # itself (one core), i.e. roughly the wall time on an idle machine
    load = [round(x, 2) for x in os.getloadavg()]
    return {name: {"n": len(wall[name]), **percentiles(wall[name]),
                   **percentiles(cpu[name], "cpu_"), "load_average_after": load}
            for name in engines}


def embedding_agreement(engines: dict[str, LoreEngine], texts: list[str]) -> dict:
    """Cosine of each pipeline's vectors to a float32 run of the model (the reference) and to
    each other, one text per forward pass as the engine embeds queries."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    reference_model = SentenceTransformer(str(next(iter(engines.values())).embedder.folder),
                                          device="cpu", local_files_only=True).eval()
    reference = np.stack([reference_model.encode([t], normalize_embeddings=True,
                                                 show_progress_bar=False)[0] for t in texts])
    vectors = {name: np.stack([engine.embedder.embed([t])[0] for t in texts])
               for name, engine in engines.items()}

    def cosines(a, b) -> dict:
        values = (a * b).sum(axis=1)
        return {"min": round(float(values.min()), 6), "mean": round(float(values.mean()), 6)}

    result = {"texts": len(texts), "reference": "float32 sentence-transformers encode"}
    for name, found in vectors.items():
        result[f"{name}_vs_float32"] = cosines(found, reference)
    names = list(vectors)
    for index, first in enumerate(names):
        for second in names[index + 1 :]:
            result[f"{first}_vs_{second}"] = cosines(vectors[first], vectors[second])
    return result


def same_selections(engines: dict[str, LoreEngine], world: str,
                    requests: list[list[dict]]) -> str:
    """How many requests get the same entries, triggers and text from every pipeline."""
    same = 0
    for request in requests:
        picked = {(tuple((h.id, h.trigger) for h in engine.select(world, request).entries),
                   engine.select(world, request).context) for engine in engines.values()}
        same += len(picked) == 1
    return f"{same}/{len(requests)}"


def open_engines(settings: RetrievalSettings, pipelines: list[str]) -> dict[str, LoreEngine]:
    from retrieval import LoreEngine

    return {name: LoreEngine(settings.model_copy(update={"embed_pipeline": name}))
            for name in pipelines}


def bench_generated(args: argparse.Namespace, work: Path) -> dict:
    from retrieval import RetrievalSettings

    worlds = work / "worlds"
    names = generate_world(worlds / "bench_world", args.entries, seed=args.seed)
    settings = RetrievalSettings(worlds_dir=worlds, index_dir=work / "index")
    engines = open_engines(settings, args.pipelines)
    engine = engines[args.pipelines[-1]]  # indexes the world; the others share its index
    started = time.perf_counter()
    engine.embedder.load()
    model_load = time.perf_counter() - started
    print(f"[bench] full index of {args.entries} entries ({engine.embedder.pipeline})",
          flush=True)
    full = engine.reindex("bench_world")
    print(f"[bench]   {full}", flush=True)
    rng = random.Random(args.seed + 1)
    edits = []
    for entry_id in rng.sample(sorted(engine.world("bench_world").entries), 5):
        path = worlds / "bench_world" / f"{entry_id}.md"
        path.write_text(path.read_text() + f"\nEdited at {time.time()}.\n")
        report = engine.reindex("bench_world")
        assert report.updated == 1 and report.added == report.removed == 0, report
        edits.append(report.seconds)
    idle = engine.reindex("bench_world")
    for other in engines.values():
        other.reindex("bench_world")  # nothing changed: just opens the shared index

    requests = [r for chat in chats(rng, names, args.conversations, args.turns) for r in chat]
    print(f"[bench] selection latency over {len(requests)} chat requests, "
          f"{' vs '.join(engines)} interleaved", flush=True)
    # engines that embed only the newest message have no engine.warm (nothing to pre-embed)
    gateway_warm = (time_selection(engines, "bench_world", requests, warm_replies=True)
                    if hasattr(engine, "warm") else "engine.warm not available")
    semantic = time_selection(engines, "bench_world", requests)
    cold = time_selection(engines, "bench_world", requests, cold=True)
    own = engine.settings
    engine.settings = own.model_copy(update={"vector_top_k": 0})
    keyword_only = time_selection({"keyword": engine}, "bench_world", requests)["keyword"]
    engine.settings = own
    texts = list(dict.fromkeys(m["content"] for r in requests for m in r if m["role"] != "system"))
    agreement = embedding_agreement(engines, texts[:200])
    same = same_selections(engines, "bench_world", requests) if len(engines) > 1 else None
    chunks = engine.status()["bench_world"]
    for each in engines.values():
        each.close()
    return {
        "world_entries": args.entries,
        "world_chunks_indexed": full.chunks,
        "status": chunks,
        "embed_model_load_s": round(model_load, 2),
        "full_index_s": round(full.seconds, 2),
        "reindex_one_file_s": {"runs": [round(s, 3) for s in edits],
                               "median": round(statistics.median(edits), 3),
                               "max": round(max(edits), 3)},
        "reindex_no_change_s": round(idle.seconds, 3),
        "selection": {"requests": len(requests), "keyword_only_baseline": keyword_only,
                      "semantic_replies_warmed": gateway_warm,
                      "semantic_message_cache": semantic, "semantic_no_cache": cold},
        "embedding_agreement": agreement,
        "same_selection_every_pipeline": same,
    }


def bench_recall(work: Path, pipelines: list[str]) -> dict:
    from retrieval import RetrievalSettings

    cases = yaml.safe_load((REPO / "tests/data/retrieval_cases.yaml").read_text())["cases"]
    settings = RetrievalSettings(worlds_dir=REPO / "worlds", index_dir=work / "scifi-index")
    engines = open_engines(settings, pipelines)
    engine = engines[pipelines[-1]]
    print("[bench] recall on tests/data/retrieval_cases.yaml (scifi_world)", flush=True)
    engine.reindex("scifi_world")
    always = {e.id for e in engine.world("scifi_world").entries.values() if e.always}
    result = {"cases": len(cases), "threshold": settings.vector_threshold,
              "index_embedded_by": engine.embedder.pipeline}
    for name, each in engines.items():
        each.reindex("scifi_world")
        result[name] = _recall(each, cases, always)
    settings = engine.settings
    sweep = {}
    for threshold in (0.25, 0.30, 0.33, 0.35, 0.38, 0.40, 0.45):
        engine.settings = settings.model_copy(update={"vector_threshold": threshold})
        engine.clear_caches()
        scores = _recall(engine, cases, always)
        generic_hits = sum(
            bool({h.id for h in engine.search("scifi_world", text, budget_tokens=100_000).entries}
                 - always)
            for text in GENERIC_REQUESTS)
        sweep[f"{threshold:.2f}"] = {
            "described_recall": scores["described_recall"],
            "off_topic_only_always": scores["off_topic_only_always"],
            "generic_requests_with_extra_lore": f"{generic_hits}/{len(GENERIC_REQUESTS)}",
        }
    result[f"threshold_sweep_{engine.embedder.pipeline}"] = sweep
    for each in engines.values():
        each.close()
    return result


def _recall(engine: LoreEngine, cases: list[dict], always: set[str]) -> dict:
    named = found_named = in_budget = described = found_described = 0
    off_topic = off_topic_ok = absent_violations = 0
    missed_described = []
    for case in cases:
        request = case.get("messages") or [{"role": "user", "content": case["text"]}]
        wide = engine.select("scifi_world", request, chapter=case.get("chapter"),
                             budget_tokens=100_000)
        fitted = engine.select("scifi_world", request, chapter=case.get("chapter"))
        triggers = {hit.id: hit.trigger for hit in wide.entries}
        for entry_id in case.get("named", []):
            named += 1
            found_named += triggers.get(entry_id) in ("name", "alias", "key", "always")
            in_budget += entry_id in {hit.id for hit in fitted.entries}
        for entry_id in case.get("described", []):
            described += 1
            if entry_id in triggers:
                found_described += 1
            else:
                missed_described.append(f"{case['id']}: {entry_id}")
        absent_violations += sum(entry_id in triggers for entry_id in case.get("absent", []))
        if case.get("only_always"):
            off_topic += 1
            off_topic_ok += set(triggers) == always
    return {
        "named_recall": f"{found_named}/{named}",
        "named_in_default_budget": f"{in_budget}/{named}",
        "described_recall": f"{found_described}/{described}",
        "described_missed": missed_described,
        "absent_violations": absent_violations,
        "off_topic_only_always": f"{off_topic_ok}/{off_topic}",
    }


# labelled cases ---------------------------------------------------------------------------------

def load_labelled(world: str) -> list[dict]:
    return yaml.safe_load(LABELLED[world].read_text(encoding="utf-8"))["cases"]


def tokenizer_dir() -> Path | None:
    """The served model's tokenizer as this tree finds it, handed to both sides so that a
    baseline worktree (which has no models/) counts tokens the same way."""
    from retrieval.tokens import tokenizer_folder  # this tree's own: where it serves from

    return tokenizer_folder(None)


def _case_messages(case: dict) -> list[dict]:
    return case.get("messages") or [{"role": "user", "content": case["text"]}]


def measure_cases(worlds: list[str], repeats: int, index_dir: Path,
                  tokenizer: Path | None) -> dict:
    """Run in a worker, on whichever `retrieval` package is first on sys.path: every labelled
    case of `worlds` once for its selection, then `repeats` timed passes with every cache
    cleared before each request (every request new text)."""
    import retrieval
    from retrieval import LoreEngine, RetrievalSettings

    fields: dict = {"worlds_dir": REPO / "worlds", "index_dir": index_dir}
    if tokenizer is not None:
        fields["tokenizer_dir"] = tokenizer
    settings = RetrievalSettings(**fields)
    engine = LoreEngine(settings)
    clear = getattr(engine, "clear_caches", lambda: None)
    result: dict = {"package": str(Path(retrieval.__file__).resolve().parent),
                    "settings": json.loads(settings.model_dump_json()), "worlds": {}}
    for world in worlds:
        started = time.perf_counter()
        engine.reindex(world)
        index_s = time.perf_counter() - started
        entries = engine.world(world).entries
        for text in GENERIC_REQUESTS[:4]:  # first-call costs: model, tokenizer, Chroma reader
            engine.select(world, [{"role": "user", "content": text}])
        records = []
        cases = load_labelled(world)
        for case in cases:
            chapter = case.get("chapter")
            clear()
            selection = engine.select(world, _case_messages(case), chapter=chapter)
            always = {e.id for e in entries.values() if e.always
                      and (chapter is None or e.holds_at(chapter))}
            triggers = {hit.id: hit.trigger for hit in selection.entries}
            wanted = [*case.get("named", []), *case.get("described", [])]
            unwanted = [e for e in case.get("absent", []) if e in triggers]
            if case.get("only_always"):
                unwanted += sorted(set(triggers) - always - set(unwanted))
            records.append({
                "id": case["id"], "kind": case["kind"], "triggers": triggers,
                "tokens": selection.tokens,
                "wanted": len(wanted), "found": sum(e in triggers for e in wanted),
                "missed": [e for e in wanted if e not in triggers],
                "named_not_by_request": [e for e in case.get("named", [])
                                         if triggers.get(e) in (None, "related")],
                "unwanted": unwanted,
                "only_always": bool(case.get("only_always")),
                "clean": bool(case.get("only_always")) and set(triggers) <= always,
                "ms": [],
            })
        for rep in range(repeats):
            order = list(zip(cases, records, strict=True))
            for case, record in order if rep % 2 == 0 else order[::-1]:
                clear()
                started = time.perf_counter()
                engine.select(world, _case_messages(case), chapter=case.get("chapter"))
                record["ms"].append(round((time.perf_counter() - started) * 1000, 3))
        result["worlds"][world] = {"entries": len(entries), "index_s": round(index_s, 2),
                                   "cases": records}
    result["tokenizer"] = getattr(engine, "tokenizer", "") or str(tokenizer)
    engine.close()
    return result


def _quantile(samples: list[float], q: float) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def case_figures(records: list[dict]) -> dict:
    wanted = sum(r["wanted"] for r in records)
    negatives = [r for r in records if r["only_always"]]
    timings = [ms for r in records for ms in r["ms"]]
    return {
        "cases": len(records),
        "recall": round(sum(r["found"] for r in records) / wanted, 3) if wanted else None,
        "violation_rate": round(sum(bool(r["unwanted"]) for r in records) / len(records), 3),
        "clean_negative_rate": (round(sum(r["clean"] for r in negatives) / len(negatives), 3)
                                if negatives else None),
        "mean_tokens": round(statistics.fmean(r["tokens"] for r in records), 1),
        "p50_ms": _quantile(timings, 0.50),
        "p95_ms": _quantile(timings, 0.95),
    }


def summarise_cases(measured: dict) -> dict:
    """Figures per world and kind, per world overall, and over all the worlds."""
    summary: dict = {}
    every = []
    for world, data in measured["worlds"].items():
        records = data["cases"]
        every += records
        kinds = [k for k in CASE_KINDS if any(r["kind"] == k for r in records)]
        summary[world] = {kind: case_figures([r for r in records if r["kind"] == kind])
                          for kind in kinds}
        summary[world]["all"] = case_figures(records)
    summary["all_worlds"] = {
        kind: case_figures([r for r in every if r["kind"] == kind])
        for kind in CASE_KINDS if any(r["kind"] == kind for r in every)}
    summary["all_worlds"]["all"] = case_figures(every)
    return summary


def run_case_worker(package_root: Path, worlds: list[str], repeats: int, work: Path,
                    label: str) -> dict:
    """This script in a fresh interpreter with `package_root` first on sys.path."""
    out = work / f"cases-{label}-{'-'.join(worlds)}.json"
    tokenizer = tokenizer_dir()
    command = [sys.executable, str(Path(__file__).resolve()), "--case-worker",
               "--package-root", str(package_root), "--worlds", *worlds,
               "--case-repeats", str(repeats), "--index-dir", str(work / f"index-{label}"),
               "--json-out", str(out)]
    if tokenizer is not None:
        command += ["--tokenizer-dir", str(tokenizer)]
    print(f"[bench] labelled cases on {', '.join(worlds)}: {label} ({package_root})", flush=True)
    subprocess.run(command, check=True, cwd=REPO)
    measured = json.loads(out.read_text())
    if Path(measured["package"]) != (package_root / "retrieval").resolve():
        raise RuntimeError(f"the {label} worker imported {measured['package']}, "
                           f"not {package_root / 'retrieval'}")
    return measured


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True,
                          text=True).stdout.strip()


def bench_cases(baseline: str | None, repeats: int, work: Path) -> dict:
    """The labelled cases on this tree, and on `baseline` (a commit) when given, world by world
    and alternating which side goes first, so load from other processes falls on both."""
    def tree() -> str:  # what matters is the retrieval package, not other files' commits
        dirty = bool(git("status", "--porcelain", "--", "retrieval"))
        last = git("log", "-1", "--format=%h", "--", "retrieval")
        return f"working tree, retrieval/ as of {last}" + (" plus uncommitted changes" * dirty)

    sides = {"current": REPO}
    described = {"current": tree()}
    trees: dict[str, str] = {}  # the current tree as each world's worker found it
    worktree = None
    if baseline is not None:
        sha = git("rev-parse", "--verify", f"{baseline}^{{commit}}")
        worktree = work / f"baseline-{sha[:12]}"
        git("worktree", "add", "--detach", str(worktree), sha)
        sides = {"baseline": worktree, "current": REPO}
        described["baseline"] = (f"{baseline} = {sha[:12]}, retrieval/ as of "
                                 f"{git('log', '-1', '--format=%h', sha, '--', 'retrieval')}")
    try:
        measured: dict = {side: {"worlds": {}} for side in sides}
        for index, world in enumerate(LABELLED):
            order = list(sides) if index % 2 == 0 else list(sides)[::-1]
            for side in order:
                if side == "current":
                    trees[world] = tree()
                one = run_case_worker(sides[side], [world], repeats, work, side)
                measured[side]["worlds"][world] = one["worlds"][world]
                measured[side].update({k: v for k, v in one.items() if k != "worlds"})
    finally:
        if worktree is not None:
            git("worktree", "remove", "--force", str(worktree))
    if len(set(trees.values())) > 1 or described["current"] not in trees.values():
        described["current"] = "; ".join(f"{w}: {t}" for w, t in trees.items())
        print(f"[bench] warning: the working tree changed during the run ({described['current']})",
              flush=True)
    result = {"sides": described, "repeats": repeats, "goals": GOALS,
              "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    for side, data in measured.items():
        result[side] = {"package": data["package"], "tokenizer": data.get("tokenizer"),
                        "settings": data["settings"], "summary": summarise_cases(data),
                        "worlds": data["worlds"]}
    result["table_markdown"] = cases_table(result)
    return result


def cases_table(result: dict) -> str:
    """One markdown table: per world and kind, baseline → current where there is a baseline."""
    sides = [s for s in ("baseline", "current") if s in result]
    columns = [("recall", "recall", 3), ("violations", "violation_rate", 3),
               ("clean negatives", "clean_negative_rate", 3), ("mean tokens", "mean_tokens", 0),
               ("p50 ms", "p50_ms", 1), ("p95 ms", "p95_ms", 1)]

    def cell(row: dict, key: str, digits: int) -> str:
        values = [row[s].get(key) for s in sides]
        shown = ["-" if v is None else f"{v:.{digits}f}" for v in values]
        return " → ".join(shown)

    header = " → ".join(sides)
    lines = [f"Labelled cases, {header} (each cell: {header}); latency with every request new "
             f"text, {result['repeats']} timed passes per case.", "",
             "| world | kind | cases | " + " | ".join(c[0] for c in columns) + " |",
             "|---|---|---:|" + "---:|" * len(columns)]
    current = result["current"]["summary"]
    for world in [*LABELLED, "all_worlds"]:
        for kind, row in current[world].items():
            merged = {s: result[s]["summary"][world].get(kind, {}) for s in sides}
            label = f"**{kind}**" if kind == "all" else kind
            lines.append(f"| {world} | {label} | {row['cases']} | "
                         + " | ".join(cell(merged, key, d) for _, key, d in columns) + " |")
    lines.append("| goal | | | " + " | ".join(GOALS[key] for _, key, _ in columns) + " |")
    for side in sides:
        lines.append(f"\n{side}: {result['sides'][side]}")
    return "\n".join(lines)


def machine() -> dict:
    import torch

    return {"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def case_worker(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(args.package_root.resolve()))
    logging.basicConfig(level=logging.WARNING)
    measured = measure_cases(args.worlds, args.case_repeats, args.index_dir, args.tokenizer_dir)
    args.json_out.write_text(json.dumps(measured))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--conversations", type=int, default=12)
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-recall", action="store_true")
    parser.add_argument("--embedder", choices=("both", "direct", "encode"), default="both",
                        help="embedding pipeline(s) timed: both = sentence-transformers encode "
                        "(before) and the direct pipeline (after), side by side")
    parser.add_argument("--baseline", metavar="REV",
                        help="also run the labelled cases on the retrieval package of this "
                        "commit (git worktree + subprocess), side by side")
    parser.add_argument("--case-repeats", type=int, default=3,
                        help="timed passes over the labelled cases (every cache cleared)")
    parts = parser.add_mutually_exclusive_group()
    parts.add_argument("--cases-only", action="store_true",
                       help="only the labelled cases (no generated world, no threshold sweep)")
    parts.add_argument("--skip-cases", action="store_true")
    worker = parser.add_argument_group("internal: one side of the labelled cases")
    worker.add_argument("--case-worker", action="store_true", help=argparse.SUPPRESS)
    worker.add_argument("--package-root", type=Path, help=argparse.SUPPRESS)
    worker.add_argument("--worlds", nargs="+", default=list(LABELLED), help=argparse.SUPPRESS)
    worker.add_argument("--index-dir", type=Path, help=argparse.SUPPRESS)
    worker.add_argument("--tokenizer-dir", type=Path, help=argparse.SUPPRESS)
    worker.add_argument("--json-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case_worker:
        return case_worker(args)
    args.pipelines = ["encode", "direct"] if args.embedder == "both" else [args.embedder]
    logging.basicConfig(level=logging.WARNING)
    random.seed(args.seed)
    results: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine_before": machine(),
    }
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as tmp:
        work = Path(tmp)
        if not args.skip_cases:
            results["labelled_cases"] = bench_cases(args.baseline, args.case_repeats, work)
        if not args.cases_only:
            from retrieval import RetrievalSettings

            settings = RetrievalSettings()
            results["settings"] = {
                "entries": args.entries, "conversations": args.conversations,
                "turns": args.turns, "seed": args.seed, "recent_turns": settings.recent_turns,
                "vector_threshold": settings.vector_threshold,
                "vector_top_k": settings.vector_top_k, "embed_threads": settings.embed_threads,
                "embed_pipelines": args.pipelines, "budget_tokens": "world.yaml (1024)",
                "embed_model": "all-MiniLM-L6-v2"}
            results["generated_world"] = bench_generated(args, work)
            if not args.skip_recall:
                results["recall_scifi_world"] = bench_recall(work, args.pipelines)
    results["machine_after"] = machine()
    out = save_results("retrieval-cases" if args.cases_only else "retrieval", results)
    table = results.get("labelled_cases", {}).get("table_markdown")
    if table:
        out.with_suffix(".md").write_text(table + "\n")
    if args.cases_only:
        summary = {side: results["labelled_cases"][side]["summary"]
                   for side in ("baseline", "current") if side in results["labelled_cases"]}
        print(json.dumps(summary, indent=2))
    else:  # the per-case records stay in the file
        shown = json.loads(json.dumps(results))
        for side in ("baseline", "current"):
            shown.get("labelled_cases", {}).get(side, {}).pop("worlds", None)
        shown.get("labelled_cases", {}).pop("table_markdown", None)
        print(json.dumps(shown, indent=2))
    if table:
        print(table)
    print(f"[bench] wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
