"""vLLM start-up on this machine: time to first answer and single-stream tokens/s, per flag set.

Each flag set starts scripts/serve_vllm.sh's server from cold, in turn, on the same model, so the
comparison is side by side in one run. The baseline is vLLM's own default (torch.compile'd graphs),
started twice on one fresh compile cache (cold, then warm as on every later start); the
alternative is `--enforce-eager` (no compilation).

Usage: python scripts/bench_vllm_startup.py [--model models/SmolLM2-135M-Instruct] [--tokens 128]
Results: scripts/results/vllm-startup-*.json
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # for tests.fakes
from bench_results import save_results  # noqa: E402
from tests.fakes.live_server import free_port  # noqa: E402

# Run in this order against one fresh compile cache, so the second start finds what the first
# compiled (as every `make serve` after the first does).
FLAG_SETS = {
    "vllm_default (cold compile cache)": [],
    "vllm_default (warm compile cache)": [],
    "--enforce-eager": ["--enforce-eager"],
}
PROMPT = [{"role": "user", "content": "Write a paragraph about a ship's engineer at work."}]


def measure(model: str, flags: list[str], tokens: int, log: Path, cache: Path) -> dict:
    port = free_port()
    command = [str(REPO / ".venv/bin/python"), "-m", "vllm.entrypoints.openai.api_server",
               "--model", model, "--served-model-name", "loregate", "--port", str(port),
               "--max-model-len", "8192", *flags]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1",
           "VLLM_CACHE_ROOT": str(cache)}
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"vLLM exited; see {log}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        healthy = time.perf_counter() - started
        body = {"model": "loregate", "messages": PROMPT, "max_tokens": tokens,
                "temperature": 0, "ignore_eos": True}
        first = httpx.post(url + "/v1/chat/completions", json=body, timeout=600)
        first.raise_for_status()
        first_answer = time.perf_counter() - started
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            r = httpx.post(url + "/v1/chat/completions", json=body, timeout=600).json()
            runs.append(r["usage"]["completion_tokens"] / (time.perf_counter() - t0))
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=60)
    return {"flags": flags, "healthy_s": round(healthy, 1),
            "first_answer_s": round(first_answer, 1),
            "tokens_per_s_single_stream": round(sorted(runs)[1], 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/SmolLM2-135M-Instruct")
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="bench-vllm-"))
    results = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": platform.node(),
               "cpus": os.cpu_count(), "load_average_before": os.getloadavg(),
               "model": args.model, "runs": {}}
    for name, flags in FLAG_SETS.items():
        print(f"[bench] {name}: starting vLLM {' '.join(flags)}", flush=True)
        log = logs / f"{len(results['runs'])}.log"
        results["runs"][name] = measure(args.model, flags, args.tokens, log, logs / "cache")
        print(f"[bench] {name}: {results['runs'][name]}", flush=True)
    results["load_average_after"] = os.getloadavg()
    out = save_results("vllm-startup", results)
    print(f"[bench] wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
