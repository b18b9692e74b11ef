"""Continuity guard figures, measured in one run on one machine.

  * labelled passages (tests/data/continuity_cases.yaml): precision and recall per kind
    (status, attribute, spelling) on the development set, on the held-out set (written after
    the checks were tuned, scored as it came) and on both, with every miss and false alarm
  * speed: ms per 1,000 words over the 14 sample chapters (24,700 words), one thread, after
    warm-up, each chapter at its own chapter number
  * time to first token through the gateway with the guard on and off, alternating request
    by request against the same fake vLLM (tests/fakes/upstream.py), and the ratio

Results: scripts/results/continuity-<date>.json, with the settings and the load average.
Usage: python scripts/bench_continuity.py [--repeats 20] [--requests 200] [--skip-ttft]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
from bench_results import save_results  # noqa: E402
from retrieval.continuity import KINDS, CheckerCache  # noqa: E402
from retrieval.continuity.evaluate import evaluate, load_cases, world_root  # noqa: E402

CASES = REPO / "tests" / "data" / "continuity_cases.yaml"
CHAPTERS = sorted((REPO / "training" / "data" / "raw").glob("chapter-*.md"))


def labelled() -> dict:
    cases = load_cases(CASES)
    holdout = {raw["id"] for raw in yaml.safe_load(CASES.read_text()) if raw.get("set")}
    report = {}
    for name, subset in (("development", [c for c in cases if c.id not in holdout]),
                         ("holdout", [c for c in cases if c.id in holdout]), ("all", cases)):
        score = evaluate(subset)
        report[name] = {"passages": len(subset), "words": score.words, "kinds": score.table(),
                        "misses": score.misses, "false_alarms": score.alarms}
    return report


def speed(repeats: int) -> dict:
    checker = CheckerCache().get(world_root("scifi_world"))
    texts = [(p.read_text(encoding="utf-8"), int(p.stem.split("-")[1])) for p in CHAPTERS]
    words = sum(len(text.split()) for text, _ in texts)
    for _ in range(3):  # warm-up: caches, lazily built tables
        for text, chapter in texts:
            checker.check(text, chapter)
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        for text, chapter in texts:
            checker.check(text, chapter)
        runs.append((time.perf_counter() - started) * 1000)
    per_k = [ms / words * 1000 for ms in runs]
    return {"words": words, "repeats": repeats, "ms_total_p50": round(statistics.median(runs), 2),
            "ms_per_1000_words_p50": round(statistics.median(per_k), 3),
            "ms_per_1000_words_max": round(max(per_k), 3)}


def ttft(requests: int) -> dict:
    import httpx  # only this part needs servers

    from gateway import GatewaySettings, build_app
    from tests.fakes.gateway import FakeEngine
    from tests.fakes.live_server import serve
    from tests.fakes.upstream import Behaviour, build_fake_upstream

    body = {"model": "loregate", "stream": True, "messages": [
        {"role": "user", "content": "Elena checks the coils before the fold."}]}
    times: dict[str, list[float]] = {"on": [], "off": []}
    totals: dict[str, list[float]] = {"on": [], "off": []}
    with serve(build_fake_upstream(Behaviour(chunks=200))) as upstream:
        config = GatewaySettings(upstream_url=[upstream + "/v1"], access_log=False)
        with serve(build_app(config, engine=FakeEngine())) as url, httpx.Client() as client:
            for i in range(requests + 10):
                mode = "on" if i % 2 == 0 else "off"
                first, total = _one_stream(client, url, body, mode)
                if i >= 10:  # the first few warm both paths up
                    times[mode].append(first)
                    totals[mode].append(total)
    p50 = {mode: statistics.median(values) for mode, values in times.items()}
    return {"requests_each": len(times["on"]), "reply_chunks": 200,
            "ttft_ms_p50": {m: round(v, 3) for m, v in p50.items()},
            "ttft_ratio_on_to_off": round(p50["on"] / p50["off"], 3),
            "total_ms_p50": {m: round(statistics.median(v), 3) for m, v in totals.items()}}


def _one_stream(client, url: str, body: dict, mode: str) -> tuple[float, float]:
    started = time.perf_counter()
    first = None
    with client.stream("POST", url + "/v1/chat/completions", json=body,
                       headers={"X-Continuity": mode}) as response:
        for chunk in response.iter_raw():
            if first is None and b"content" in chunk:
                first = time.perf_counter()
    return (first - started) * 1000, (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--skip-ttft", action="store_true")
    args = parser.parse_args()
    results = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_before": os.getloadavg()},
        "settings": vars(args),
        "labelled": labelled(),
        "speed": speed(args.repeats),
    }
    if not args.skip_ttft:
        results["ttft"] = ttft(args.requests)
    results["machine"]["load_after"] = os.getloadavg()
    path = save_results("continuity", results)
    summary = {name: part["kinds"] for name, part in results["labelled"].items()}
    print(json.dumps({"labelled": summary, "speed": results["speed"],
                      "ttft": results.get("ttft")}, indent=1))
    for kind in KINDS:
        print(kind, {name: (k[kind]["precision"], k[kind]["recall"])
                     for name, k in summary.items()})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
