"""A stand-in for vLLM's adapter endpoints (`/v1/models`, load, unload, completions), on a
real socket, for deploy's unit tests: it records every call and can be told to refuse."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeVllm:
    def __init__(self, base: str = "loregate") -> None:
        self.served: list[str] = [base]
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refuse_load: str | None = None  # an error message to answer load with
        self.answers = True  # False: completions fail, as an adapter that never comes up
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeVllm:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        self.calls.append((path, body))
        if path == "/v1/models":
            return 200, {"object": "list", "data": [{"id": name} for name in self.served]}
        if path == "/v1/load_lora_adapter":
            if self.refuse_load:
                return 400, {"error": {"message": self.refuse_load}}
            self.served.append(body["lora_name"])
            return 200, "Success"
        if path == "/v1/unload_lora_adapter":
            if body["lora_name"] not in self.served:
                return 404, {"error": {"message": "not found"}}
            self.served.remove(body["lora_name"])
            return 200, "Success"
        if path == "/v1/completions":
            if self.answers and body["model"] in self.served:
                return 200, {"choices": [{"text": "x"}]}
            return 404, {"error": {"message": f"The model `{body['model']}` does not exist."}}
        return 404, {"detail": "Not Found"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else {}
                status, data = fake._answer(self.path, body)
                raw = (data if isinstance(data, str) else json.dumps(data)).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _reply

            def log_message(self, *_: Any) -> None:
                pass

        return Handler
