"""Lore retrieval figures, measured in one run on one machine.

  * index: a full index of a generated 1,000-entry world, then re-indexing after one file edit
  * selection latency over replayed chats (each turn re-sends the earlier messages plus the
    assistant's reply and a new user message), four ways on the same requests: keyword only
    (no semantic search: the baseline); semantic with each reply embedded between turns by
    engine.warm (what the gateway does after relaying a reply); semantic with the per-message
    cache only (the reply is embedded inside the next request); every cache cleared. Each
    semantic way is timed for every embedding pipeline (--embedder), interleaved request by
    request, with the vectors' agreement to a float32 run and whether the selections match
  * recall on the labelled requests in tests/data/retrieval_cases.yaml against
    worlds/scifi_world: named/aliased entries, described-but-unnamed entries, off-topic
    requests, and a sweep of the vector threshold

Results: scripts/results/retrieval-<date>.json, with the settings and machine load.
Usage: python scripts/bench_retrieval.py [--entries 1000] [--conversations 12] [--turns 8]
       [--embedder both|direct|encode]   (both: before/after embedding pipelines side by side)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench_results import save_results  # noqa: E402
from retrieval import LoreEngine, RetrievalSettings  # noqa: E402
from synthetic_world import ADJECTIVES, NOUNS, generate_world, sentence  # noqa: E402

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
            if warm_replies:
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
    return {name: LoreEngine(settings.model_copy(update={"embed_pipeline": name}))
            for name in pipelines}


def bench_generated(args: argparse.Namespace, work: Path) -> dict:
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
    gateway_warm = time_selection(engines, "bench_world", requests, warm_replies=True)
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


def machine() -> dict:
    import torch

    return {"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


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
    args = parser.parse_args()
    args.pipelines = ["encode", "direct"] if args.embedder == "both" else [args.embedder]
    logging.basicConfig(level=logging.WARNING)
    random.seed(args.seed)
    settings = RetrievalSettings()
    results: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine_before": machine(),
        "settings": {"entries": args.entries, "conversations": args.conversations,
                     "turns": args.turns, "seed": args.seed,
                     "recent_turns": settings.recent_turns,
                     "vector_threshold": settings.vector_threshold,
                     "vector_top_k": settings.vector_top_k,
                     "embed_threads": settings.embed_threads,
                     "embed_pipelines": args.pipelines,
                     "budget_tokens": "world.yaml (1024)", "embed_model": "all-MiniLM-L6-v2"},
    }
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as tmp:
        work = Path(tmp)
        results["generated_world"] = bench_generated(args, work)
        if not args.skip_recall:
            results["recall_scifi_world"] = bench_recall(work, args.pipelines)
    results["machine_after"] = machine()
    out = save_results("retrieval", results)
    print(json.dumps(results, indent=2))
    print(f"[bench] wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
