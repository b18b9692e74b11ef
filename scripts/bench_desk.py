"""The desk's cost: World page loads on the 1,000-entry synthetic world, and the gateway's own
overhead with the desk mounted against the gateway as it was before the desk.

  * World page: GET /desk/world/bench_world (1,000 entries, all rendered; the problems list
    computed and cached) over HTTP, and the same page's load event in headless Chromium
    (Playwright and /usr/bin/chromium, when installed: scripts/install_browser.sh).
  * Overhead, side by side in one run: two gateways in front of one fake vLLM
    (tests/fakes/upstream.py), one from this checkout (desk mounted), one whose `gateway`
    package is the baseline commit's (before the desk), everything else shared. TTFT at one
    stream (lore off and on) and requests/s at 16 streams, in interleaved rounds (ABAB...,
    each round swapping which goes first) so drift falls on both alike.

Every process is pinned to the same 2 cores. Results: scripts/results/desk-*.json

Usage: python scripts/bench_desk.py [--requests 150] [--rounds 4] [--baseline REF]
       python scripts/bench_desk.py --pages-only     (the World page alone: one gateway)
       python scripts/bench_desk.py --control        (A/A: both sides this checkout, the
                                                      noise floor of the side-by-side)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests/fakes and tests/e2e_stack
from bench_gateway import summary, throughput, ttft_series  # noqa: E402

from bench_results import save_results  # noqa: E402
from synthetic_world import generate_world  # noqa: E402
from tests.e2e_stack import running  # noqa: E402
from tests.fakes.live_server import free_port  # noqa: E402

WORLD = "bench_world"
CORES = {0, 1}
PAGE_WARMUP, PAGE_LOADS, BROWSER_LOADS = 5, 50, 20


def baseline_commit() -> str:
    """The commit just before gateway/desk/ first appeared."""
    first = subprocess.run(["git", "rev-list", "--reverse", "HEAD", "--", "gateway/desk"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    if not first:
        raise SystemExit("no commit adds gateway/desk/; pass --baseline REF")
    return first[0] + "^"


def export_gateway(ref: str, into: Path) -> Path:
    """`gateway/` as it was at `ref`, alone in a folder (run from there, it shadows ours)."""
    archive = subprocess.run(["git", "archive", "--format=tar", ref, "gateway"], cwd=REPO,
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def pin(process: subprocess.Popen) -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setaffinity(process.pid, CORES & os.sched_getaffinity(0) or CORES)


@contextlib.contextmanager
def gateway(name: str, work: Path, upstream: str, cwd: Path | None) -> Iterator[str]:
    port = free_port()
    env = {"GATEWAY_UPSTREAM_URL": upstream, "GATEWAY_PORT": str(port),
           "GATEWAY_WORLDS_DIR": str(work / "worlds"), "GATEWAY_WORLD": WORLD,
           "GATEWAY_INDEX_DIR": str(work / f"index-{name}"), "GATEWAY_ACCESS_LOG": "false",
           # the baseline runs from its own folder: our retrieval/ and training/ stay on path
           "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "gateway"]
    if cwd is None:
        cm = running(command, env, f"http://127.0.0.1:{port}/health", work / f"{name}.log", 900)
    else:
        cm = _running_in(cwd, command, env, port, work / f"{name}.log")
    with cm as process:
        pin(process)
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def _running_in(cwd: Path, command: list[str], env: dict[str, str], port: int,
                log: Path) -> Iterator[subprocess.Popen]:
    wrapped = ["/bin/sh", "-c", f'cd "{cwd}" && exec "$@"', "sh", *command]
    with running(wrapped, env, f"http://127.0.0.1:{port}/health", log, 900) as process:
        yield process


def page_loads(url: str) -> dict:
    """HTTP time of the World page (and its JSON twin), warm, in ms."""
    page, times, json_times = f"{url}/desk/world/{WORLD}", [], []
    with httpx.Client(timeout=60) as client:
        for _ in range(PAGE_WARMUP):
            client.get(page).raise_for_status()
        for _ in range(PAGE_LOADS):
            started = time.perf_counter()
            response = client.get(page)
            times.append(time.perf_counter() - started)
            started = time.perf_counter()
            client.get(page, params={"format": "json", "chapter": 5})
            json_times.append(time.perf_counter() - started)
        response.raise_for_status()
        entries = response.text.count('class="entry"')
    return {"html": summary(times), "json_chapter_5": summary(json_times),
            "entries_rendered": entries, "bytes": len(response.content)}


def browser_loads(url: str) -> dict | None:
    """The World page's load event in headless Chromium (navigation start to load), in ms."""
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        loads = []
        for i in range(BROWSER_LOADS + 2):
            page.goto(f"{url}/desk/world/{WORLD}", wait_until="load")
            duration = page.evaluate(
                "() => performance.getEntriesByType('navigation')[0].loadEventEnd")
            if i >= 2:  # the first two warm the browser's cache of css and js
                loads.append(duration / 1000)
        browser.close()
    return summary(loads)


def desk_cost_per_request(n: int = 200_000) -> dict:
    """What the desk adds to one request's own work, in-process: the record set as the
    current one, the tap noting chapter, hits and block on it, the ring append. An upper
    bound (it includes the record's own attach) far below what end-to-end runs can see."""
    import gateway.desk.state as desk_state
    from gateway.lore import LoreOutcome
    from gateway.observe import Metrics, RequestRecord, attach
    from gateway.protocol import Controls
    from retrieval import LoreHit, Selection

    metrics = Metrics()
    record = RequestRecord("chat", metrics)
    hit = LoreHit("characters/x", "X", 1.0, "name", 40, "name 'X'")
    outcome = LoreOutcome("ok", WORLD, Selection(WORLD, [hit], [], 40, "lore"))
    controls, scope = Controls(WORLD, 12, None, None), {}
    started = time.perf_counter()
    for _ in range(n):
        attach(scope, record)
        desk_state._note(controls, outcome)
        metrics.recent.append(record)
    return {"us_per_request": round((time.perf_counter() - started) / n * 1e6, 3), "n": n}


def overhead_round(url: str, n: int, texts: list[str]) -> dict:
    api = url + "/v1"
    return {"ttft_lore_off": asyncio.run(ttft_series(api, n, {"X-Lore": "off"}, ["Go on."])),
            "ttft_lore_on": asyncio.run(ttft_series(api, n, {}, texts)),
            "rps_16": asyncio.run(throughput(api, n, 16, {"X-Lore": "off"}))["requests_per_s"]}


def compare(before: str, after: str, rounds: int, n: int, texts: list[str]) -> dict:
    sides: dict[str, list[dict]] = {"without_desk": [], "with_desk": []}
    for i in range(rounds):
        order = [("without_desk", before), ("with_desk", after)]
        for name, url in order if i % 2 == 0 else order[::-1]:
            print(f"[bench] round {i + 1}/{rounds}: {name}", flush=True)
            sides[name].append(overhead_round(url, n, texts))
    out = {}
    for name, runs in sides.items():
        out[name] = {
            "ttft_lore_off": summary([t for r in runs for t in r["ttft_lore_off"]]),
            "ttft_lore_on": summary([t for r in runs for t in r["ttft_lore_on"]]),
            "rps_16_median": statistics.median(r["rps_16"] for r in runs),
            "rps_16_rounds": [r["rps_16"] for r in runs]}
    a, b = out["without_desk"], out["with_desk"]

    def p50(side: dict, key: str) -> float:
        return side[key]["p50_ms"]

    out["delta_with_minus_without"] = {
        "ttft_lore_off_p50_ms": round(p50(b, "ttft_lore_off") - p50(a, "ttft_lore_off"), 2),
        "ttft_lore_on_p50_ms": round(p50(b, "ttft_lore_on") - p50(a, "ttft_lore_on"), 2),
        "rps_16": round(b["rps_16_median"] - a["rps_16_median"], 1)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--baseline", help="git ref of the gateway without the desk")
    parser.add_argument("--control", action="store_true",
                        help="A/A: the 'without' side is this checkout too (the noise floor)")
    parser.add_argument("--pages-only", action="store_true",
                        help="measure the World page only (no baseline gateway, no overhead)")
    args = parser.parse_args()
    pin_self = getattr(os, "sched_setaffinity", None)
    if pin_self:
        pin_self(0, CORES & os.sched_getaffinity(0) or CORES)
    work = Path(tempfile.mkdtemp(prefix="bench-desk-"))
    names = generate_world(work / "worlds" / WORLD, args.entries)
    texts = [f"{names[i]} meets {names[-i - 1]} at the docks." for i in range(50)]
    ref = args.baseline or baseline_commit()
    before_dir = export_gateway(ref, work / "baseline")
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": platform.node(),
                     "cpus": os.cpu_count(), "pinned_cores": sorted(CORES),
                     "load_average_before": os.getloadavg(), "world_entries": args.entries,
                     "baseline": subprocess.run(["git", "rev-parse", ref], cwd=REPO,
                                                capture_output=True, text=True).stdout.strip(),
                     "requests_per_series": args.requests, "rounds": args.rounds}
    results["pages_only"], results["control_a_a"] = args.pages_only, args.control
    results["desk_cost_in_process"] = desk_cost_per_request()
    up_port = free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    with running([sys.executable, "-m", "tests.fakes.upstream", "--port", str(up_port)], {},
                 f"http://127.0.0.1:{up_port}/health", work / "upstream.log", 60) as up:
        pin(up)
        with gateway("with-desk", work, upstream, None) as after:
            # the overhead first: both gateways have served only chats when it is measured
            if not args.pages_only:
                with gateway("without-desk", work, upstream,
                             None if args.control else before_dir) as before:
                    desk_status = httpx.get(before + "/desk").status_code
                    assert args.control or desk_status == 404, "the baseline has a desk"
                    results["overhead"] = compare(before, after, args.rounds, args.requests,
                                                  texts)
            print("[bench] World page loads", flush=True)
            results["world_page"] = page_loads(after)
            results["world_page_browser_load"] = browser_loads(after)
    results["load_average_after"] = os.getloadavg()
    out = save_results("desk", results)
    print(json.dumps(results, indent=2))
    print(f"[bench] wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
