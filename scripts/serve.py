"""`make serve`: run vLLM and the gateway together, show progress, stop both on Ctrl-C.

Each server runs in its own process group with a parent-death signal, so neither outlives this
supervisor, even if it is killed. When `make train` deploys a new model (the link
merged_models/current moves), vLLM restarts on it while the gateway answers 503 + Retry-After.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# standard library only: serving pulls in no training stack
from training.layout import served_model, voices_root
from training.voices import deployed

REPO = Path(__file__).resolve().parent.parent
RUN = Path(os.environ.get("LOREGATE_RUN_DIR", REPO / ".loregate" / "run"))
LOGS = Path(os.environ.get("LOREGATE_LOG_DIR", REPO / ".loregate" / "logs"))
CURRENT = served_model(REPO)
RESTART_MARKER = RUN / "upstream-restarting"
VLLM_PORT = int(os.environ.get("LOREGATE_VLLM_PORT", "8000"))
GATEWAY_PORT = int(os.environ.get("GATEWAY_PORT", "8001"))
# vLLM log lines worth showing while it starts (the rest stays in the log file).
PROGRESS_MARKERS = ("Loading weights", "Loading safetensors", "model weights took",
                    "KV cache", "Starting vLLM", "Application startup complete", "ERROR",
                    "embedding", "lore index ready", "failed to open")
STOP_GRACE_SECONDS = 30  # SIGTERM, then this long for every process group to end, then SIGKILL
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    os.setsid()
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Service:
    def __init__(self, name: str, command: list[str], health_url: str) -> None:
        self.name, self.command, self.health_url = name, command, health_url
        self.log_path = LOGS / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        RUN.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.command, cwd=REPO, stdout=log,
                                        stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        (RUN / f"{self.name}.pid").write_text(str(self.process.pid))

    def wait_healthy(self, timeout: float) -> None:
        started = time.monotonic()
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        last_note = 0.0
        while True:
            if self.process is None or self.process.poll() is not None:
                raise SystemExit(f"[serve] {self.name} exited during start-up; "
                                 f"see {self.log_path}")
            if healthy(self.health_url):
                print(f"[serve] {self.name} ready after {time.monotonic() - started:.0f} s",
                      flush=True)
                return
            offset = _show_progress(self.name, self.log_path, offset)
            elapsed = time.monotonic() - started
            if elapsed - last_note >= 15:
                print(f"[serve] waiting for {self.name}... {elapsed:.0f} s", flush=True)
                last_note = elapsed
            if elapsed > timeout:
                raise SystemExit(f"[serve] {self.name} not healthy after {timeout:.0f} s; "
                                 f"see {self.log_path}")
            time.sleep(1)

    def stop(self) -> None:
        stop_all([self])


def stop_all(services: list[Service]) -> None:
    """SIGTERM every service's process group at once (vLLM's engine workers too), give them
    STOP_GRACE_SECONDS together, then SIGKILL what lingers: stopping one after the other
    would add up their shutdown times."""
    running = [s for s in services if s.process is not None]
    for service in running:
        _signal_group(service.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while time.monotonic() < deadline and any(group_alive(s.process.pid) for s in running):
        for service in running:
            service.process.poll()  # reap the leader so it doesn't linger as a zombie
        time.sleep(0.2)
    for service in running:
        if group_alive(service.process.pid):
            print(f"[serve] {service.name} did not stop within {STOP_GRACE_SECONDS} s; "
                  "killing it", file=sys.stderr, flush=True)
        _signal_group(service.process.pid, signal.SIGKILL)
        service.process.wait()
        (RUN / f"{service.name}.pid").unlink(missing_ok=True)
        service.process = None


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _show_progress(name: str, log_path: Path, offset: int) -> int:
    if not log_path.exists():
        return offset
    with log_path.open("rb") as log:
        log.seek(offset)
        for raw in log:
            line = raw.decode(errors="replace").strip()
            if any(marker in line for marker in PROGRESS_MARKERS):
                print(f"[serve] {name}: {line[-150:]}", flush=True)
        return log.tell()


def _model_target() -> str | None:
    return os.path.realpath(CURRENT) if CURRENT.exists() else None


def continue_config() -> str:
    """One Continue model per voice on disk (its picker switches voices), `loregate` first."""
    base = f"http://127.0.0.1:{GATEWAY_PORT}/v1"
    key = "your GATEWAY_API_KEY" if os.environ.get("GATEWAY_API_KEY") else "unused"
    names = ["loregate", *(voice.name for voice in deployed(voices_root(REPO)))]
    yaml_models = "".join(f"""
    - name: {name}
      provider: openai
      model: {name}
      apiBase: {base}
      apiKey: {key}
      roles: [chat, edit{", autocomplete" if name == "loregate" else ""}]""" for name in names)
    json_models = ",\n                ".join(
        f'{{"title": "{name}", "provider": "openai", "model": "{name}", '
        f'"apiBase": "{base}", "apiKey": "{key}"}}' for name in names)
    return f"""Continue.dev: paste into ~/.continue/config.yaml
  name: loregate
  version: 0.0.1
  schema: v1
  models:{yaml_models}

or, for the older ~/.continue/config.json:
  {{"models": [{json_models}]}}"""


def main() -> int:
    vllm = Service("vllm", ["scripts/serve_vllm.sh", "", str(VLLM_PORT)],
                   f"http://127.0.0.1:{VLLM_PORT}/health")
    os.environ["GATEWAY_UPSTREAM_URL"] = f"http://127.0.0.1:{VLLM_PORT}/v1"
    os.environ["GATEWAY_RESTART_MARKER"] = str(RESTART_MARKER)
    gateway = Service("gateway", ["scripts/serve_rag_proxy.sh", *sys.argv[1:2]],
                      f"http://127.0.0.1:{GATEWAY_PORT}/health")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    # a shell that starts us in the background hands SIGINT down ignored: Ctrl-C must still
    # stop both servers
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        print("[serve] starting vLLM (the first start takes a minute or more on a CPU)",
              flush=True)
        vllm.start()
        gateway.start()
        vllm.wait_healthy(timeout=900)
        gateway.wait_healthy(timeout=600)
        # one write, so whoever waits for the banner finds the Continue config with it
        print(f"\n[serve] ready. Gateway: http://127.0.0.1:{GATEWAY_PORT}/v1   "
              f"vLLM: http://127.0.0.1:{VLLM_PORT}/v1   logs: {LOGS}\n"
              f"[serve] desk: http://127.0.0.1:{GATEWAY_PORT}/desk\n\n{continue_config()}"
              "\n\n[serve] Ctrl-C stops both.", flush=True)
        served = _model_target()
        while True:
            time.sleep(2)
            for service in (vllm, gateway):
                if service.process and service.process.poll() is not None:
                    print(f"[serve] {service.name} stopped unexpectedly; see "
                          f"{service.log_path}", file=sys.stderr)
                    return 1
            if (target := _model_target()) != served:
                print(f"[serve] new model deployed ({target}); restarting vLLM", flush=True)
                RESTART_MARKER.touch()
                try:
                    vllm.stop()
                    vllm.start()
                    vllm.wait_healthy(timeout=900)
                finally:
                    RESTART_MARKER.unlink(missing_ok=True)
                served = target
    except KeyboardInterrupt:
        print("\n[serve] stopping...", flush=True)
        return 0
    finally:
        stop_all([gateway, vllm])
        RESTART_MARKER.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
