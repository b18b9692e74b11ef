"""The running vLLM, as deploy talks to it: which adapters it holds, load, unload, and a probe.

Plain urllib (standard library): deploy must not need the gateway's HTTP stack, and every
call is one short request. vLLM answers adapter calls only when it was started with
`--enable-lora` and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, as `scripts/serve_vllm.sh` does.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

from training.errors import DeployError, TrainingInterrupted

VLLM_URL_ENV = "LOREGATE_VLLM_URL"
PROBE_PROMPT = "The"


def default_url() -> str:
    port = os.environ.get("LOREGATE_VLLM_PORT", "8000")
    return os.environ.get(VLLM_URL_ENV, f"http://127.0.0.1:{port}").rstrip("/").removesuffix("/v1")


class VllmAdmin:
    def __init__(self, url: str | None = None, timeout: float = 30.0) -> None:
        self.url = (url or default_url()).rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None,
              timeout: float | None = None) -> tuple[int, str]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def models(self) -> list[str] | None:
        """The names vLLM serves (base and adapters), or None when nothing answers."""
        try:
            status, text = self._call("GET", "/v1/models", timeout=3)
        except (OSError, TimeoutError):
            return None
        if status != 200:
            return None
        return [m["id"] for m in json.loads(text).get("data", [])]

    def load(self, name: str, path: str) -> None:
        status, text = self._call("POST", "/v1/load_lora_adapter",
                                  {"lora_name": name, "lora_path": path})
        if status == 404 and "load_lora_adapter" not in text and "adapter" not in text:
            raise DeployError("the running vLLM cannot load adapters (it was started without "
                              "--enable-lora or VLLM_ALLOW_RUNTIME_LORA_UPDATING); restart "
                              "`make serve` once, then deploy again")
        if status != 200:
            raise DeployError(f"vLLM refused the adapter {path}: {_message(text)}")

    def unload(self, name: str) -> bool:
        status, _ = self._call("POST", "/v1/unload_lora_adapter", {"lora_name": name})
        return status == 200

    def probe(self, name: str, deadline_s: float = 60.0) -> float:
        """Seconds until `name` answers a one-token completion; DeployError past the deadline."""
        started = time.monotonic()
        last = ""
        while time.monotonic() - started < deadline_s:
            try:
                status, text = self._call("POST", "/v1/completions", {
                    "model": name, "prompt": PROBE_PROMPT, "max_tokens": 1, "temperature": 0})
            except KeyboardInterrupt as exc:
                raise TrainingInterrupted("deploy interrupted before the switch; the voice "
                                          "was not changed") from exc
            except (OSError, TimeoutError) as exc:
                status, text = 0, str(exc)
            if status == 200:
                return time.monotonic() - started
            last = _message(text)
            time.sleep(0.2)
        raise DeployError(f"the new adapter did not answer within {deadline_s:.0f} s "
                          f"({last}); the voice was not switched")


def _message(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text[:300]
    error = data.get("error", data) if isinstance(data, dict) else data
    return str(error.get("message", error) if isinstance(error, dict) else error)[:300]
