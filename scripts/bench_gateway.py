"""Gateway overhead, side by side in one run on one machine.

Against a fast fake upstream (tests/fakes/upstream.py, no model), so what is measured is the
proxy's own cost:
  * TTFT at one stream: direct, loregate (lore off), loregate (lore on, 1,000-entry world;
    50 recurring messages, and every message new so its embedding is never cached),
    LiteLLM's proxy as a plain passthrough.
  * Requests/s at 16 concurrent streams: direct, loregate (lore off), LiteLLM.
With --vllm URL: TTFT at 8 concurrent streams straight to a real vLLM and through loregate.

Every server runs as its own process. LiteLLM is installed into .loregate/bench-litellm on
first use (it is a benchmark baseline, not a dependency). Results: scripts/results/gateway-*.json

Usage: python scripts/bench_gateway.py [--requests 300] [--no-litellm] [--vllm URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
# The repo root, for the test doubles in tests/fakes/ (scripts/ is on the path already: it is
# this script's own folder).
sys.path.insert(0, str(REPO))
from bench_results import save_results  # noqa: E402
from synthetic_world import generate_world  # noqa: E402
from tests.e2e_stack import running  # noqa: E402
from tests.fakes.live_server import free_port  # noqa: E402

LITELLM_VENV = REPO / ".loregate" / "bench-litellm"
MODEL = "loregate"  # the name vLLM serves the base by, and the gateway's alias for it
WARMUP = 5
VLLM_WAVES = 10
LITELLM_KEY = "sk-loregate-bench"  # LiteLLM's proxy refuses to start without a master key


def chat_body(text: str, stream: bool = True) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], "stream": stream,
            "max_tokens": 32}


async def one_stream(client: httpx.AsyncClient, url: str, body: dict,
                     headers: dict[str, str]) -> float:
    """Seconds to the first content byte of one streamed chat; the stream is read to the end."""
    started = time.perf_counter()
    ttft = None
    async with client.stream("POST", url + "/chat/completions", json=body,
                             headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
        async for chunk in response.aiter_raw():
            if ttft is None and chunk:
                ttft = time.perf_counter() - started
    assert ttft is not None
    return ttft


async def ttft_series(url: str, n: int, headers: dict[str, str], texts: list[str]) -> list[float]:
    async with httpx.AsyncClient(timeout=60) as client:
        for text in texts[:WARMUP]:  # connections, model loading, first-request costs
            await one_stream(client, url, chat_body(text), headers)
        return [await one_stream(client, url, chat_body(texts[(WARMUP + i) % len(texts)]),
                                 headers) for i in range(n)]


async def throughput(url: str, n: int, concurrency: int, headers: dict[str, str]) -> dict:
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(
            max_connections=concurrency * 2)) as client:
        await asyncio.gather(*(one_stream(client, url, chat_body("warm"), headers)
                               for _ in range(concurrency)))
        queue = asyncio.Queue()
        for i in range(n):
            queue.put_nowait(i)
        ttfts: list[float] = []

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                ttfts.append(await one_stream(client, url, chat_body("hello"), headers))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"requests_per_s": round(n / elapsed, 1), "ttft_p50_ms": ms(_pct(ttfts, 50)),
            "ttft_p99_ms": ms(_pct(ttfts, 99))}


def _pct(values: list[float], q: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def summary(values: list[float]) -> dict:
    return {"p50_ms": ms(statistics.median(values)), "p90_ms": ms(_pct(values, 90)),
            "p99_ms": ms(_pct(values, 99)), "n": len(values)}


def ensure_litellm() -> Path:
    exe = LITELLM_VENV / "bin" / "litellm"
    if not exe.exists():
        print("[bench] installing LiteLLM's proxy into .loregate/bench-litellm ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        subprocess.run([str(LITELLM_VENV / "bin" / "pip"), "install", "-q", "litellm[proxy]"],
                       check=True)
    return exe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--vllm", help="a real vLLM base URL for the TTFT comparison")
    parser.add_argument("--entries", type=int, default=1000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    names = generate_world(work / "worlds" / "bench_world", args.entries)
    lore_texts = [f"{names[i]} meets {names[-i - 1]} at the docks." for i in range(50)]
    # Every message new (nothing cached), as a writer's next message always is.
    fresh_texts = [f"{names[i % len(names)]} watches the tide turn over the harbour, day {i}."
                   for i in range(args.requests + WARMUP)]
    plain_texts = ["Write the next line."]
    up_port, gw_port, ll_port = free_port(), free_port(), free_port()
    direct = f"http://127.0.0.1:{up_port}/v1"
    gateway = f"http://127.0.0.1:{gw_port}/v1"
    litellm = f"http://127.0.0.1:{ll_port}/v1"
    py = sys.executable
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": platform.node(),
                     "cpus": os.cpu_count(), "load_average_before": os.getloadavg(),
                     "requests": args.requests,
                     "world_entries": args.entries, "upstream": "tests/fakes/upstream.py"}
    gateway_env = {"GATEWAY_UPSTREAM_URL": direct, "GATEWAY_PORT": str(gw_port),
                   "GATEWAY_WORLDS_DIR": str(work / "worlds"), "GATEWAY_WORLD": "bench_world",
                   "GATEWAY_INDEX_DIR": str(work / "index"), "GATEWAY_ACCESS_LOG": "false"}
    with running([py, "-m", "tests.fakes.upstream", "--port", str(up_port)], {},
                 direct.removesuffix("/v1") + "/health", work / "upstream.log", 60), \
         running([py, "-m", "gateway"], gateway_env, gateway.removesuffix("/v1") + "/health",
                 work / "gateway.log", 900):
        off = {"X-Lore": "off"}
        n = args.requests
        print("[bench] TTFT, one stream", flush=True)
        ttft = {
            "direct": summary(asyncio.run(ttft_series(direct, n, {}, plain_texts))),
            "loregate_lore_off": summary(asyncio.run(ttft_series(gateway, n, off, plain_texts))),
            "loregate_lore_on": summary(asyncio.run(ttft_series(gateway, n, {}, lore_texts))),
            "loregate_lore_on_new_text": summary(
                asyncio.run(ttft_series(gateway, n, {}, fresh_texts))),
        }
        print("[bench] throughput, 16 concurrent streams", flush=True)
        through = {
            "direct": asyncio.run(throughput(direct, n, 16, {})),
            "loregate_lore_off": asyncio.run(throughput(gateway, n, 16, off)),
        }
        if not args.no_litellm:
            config = work / "litellm.yaml"
            config.write_text(json.dumps({"model_list": [{"model_name": MODEL, "litellm_params": {
                "model": f"openai/{MODEL}", "api_base": direct, "api_key": "unused"}}]}))
            with running([str(ensure_litellm()), "--config", str(config), "--port",
                          str(ll_port), "--num_workers", "1"],
                         {"LITELLM_LOG": "ERROR", "LITELLM_MASTER_KEY": LITELLM_KEY},
                         litellm.removesuffix("/v1") + "/health/liveliness",
                         work / "litellm.log", 300):
                auth = {"Authorization": f"Bearer {LITELLM_KEY}"}
                ttft["litellm"] = summary(asyncio.run(ttft_series(litellm, n, auth, plain_texts)))
                through["litellm"] = asyncio.run(throughput(litellm, n, 16, auth))
        if args.vllm:
            results["vllm"] = real_vllm(args.vllm, work)
    base = ttft["direct"]["p50_ms"]
    results["ttft_one_stream"] = ttft
    results["overhead_p50_ms"] = {k: round(v["p50_ms"] - base, 2) for k, v in ttft.items()}
    results["throughput_16_streams"] = through
    if "litellm" in through:
        results["throughput_ratio_vs_litellm"] = round(
            through["loregate_lore_off"]["requests_per_s"] / through["litellm"]["requests_per_s"],
            2)
    results["load_average_after"] = os.getloadavg()
    out = save_results("gateway", results)
    print(json.dumps(results, indent=2))
    print(f"[bench] wrote {out.relative_to(REPO)}")
    return 0


def real_vllm(vllm: str, work: Path) -> dict:
    """TTFT at 8 concurrent streams, direct vs through a gateway with lore on scifi_world."""
    port = free_port()
    gateway = f"http://127.0.0.1:{port}/v1"
    env = {"GATEWAY_UPSTREAM_URL": vllm, "GATEWAY_PORT": str(port),
           "GATEWAY_INDEX_DIR": str(work / "index-scifi"), "GATEWAY_ACCESS_LOG": "false"}

    async def wave(url: str, headers: dict[str, str]) -> list[float]:
        async with httpx.AsyncClient(timeout=300) as client:
            body = {"model": "loregate", "stream": True, "max_tokens": 16, "temperature": 0,
                    "messages": [{"role": "user", "content": "Elena walks onto the bridge."}]}
            return await asyncio.gather(*(one_stream(client, url, body, headers)
                                          for _ in range(8)))

    with running([sys.executable, "-m", "gateway"], env, gateway.removesuffix("/v1") + "/health",
                 work / "gateway-vllm.log", 900):
        asyncio.run(wave(gateway, {}))  # warm the prefix cache for both paths alike
        direct: list[float] = []
        through: list[float] = []
        for i in range(VLLM_WAVES):
            # Interleave, and swap which goes first, so drift and any after-effect of the
            # previous wave on vLLM's scheduler fall on both sides alike.
            order = [(direct, vllm, {}), (through, gateway, {"X-Lore": "off"})]
            for sink, url, headers in order if i % 2 == 0 else order[::-1]:
                sink += asyncio.run(wave(url, headers))
    d, t = statistics.median(direct), statistics.median(through)
    return {"direct_ttft_p50_ms": ms(d), "gateway_ttft_p50_ms": ms(t),
            "ratio": round(t / d, 3), "streams": 8, "waves": VLLM_WAVES}


if __name__ == "__main__":
    sys.exit(main())
