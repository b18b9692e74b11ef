"""A fast stand-in for vLLM's OpenAI server, for fault injection and gateway benchmarks.

It answers like vLLM (chat and completions, streamed or not, /v1/models with max_model_len,
/tokenize, /health) with canned text and no model, so what is measured through it is the
gateway's own cost. Behaviours for tests: `fail_after` chunks (drop mid-stream), `delay`
between chunks, `refuse_tools` (vLLM's 400 without a tool parser), and a log of every request
body it received.

Usage (from the repo root): python -m tests.fakes.upstream [--port 9000] [--chunks 16]
       [--delay 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MODEL = "fake-model"


@dataclass
class Behaviour:
    chunks: int = 16
    delay: float = 0.0
    first_delay: float = 0.0
    fail_after: int | None = None  # chunks sent before the connection is dropped
    refuse_tools: bool = False
    fail_status: int | None = None  # answer every chat with this error status
    endless: bool = False
    max_model_len: int = 8192
    adapters: list[str] = field(default_factory=list)  # LoRA names /v1/models lists, as vLLM
    received: list[dict[str, Any]] = field(default_factory=list)
    received_headers: list[dict[str, str]] = field(default_factory=list)
    disconnects: int = 0


def build_fake_upstream(behaviour: Behaviour | None = None) -> Starlette:
    b = behaviour or Behaviour()

    async def chat(request: Request) -> Response:
        body = await request.json()
        b.received.append(body)
        b.received_headers.append(dict(request.headers))
        if b.fail_status:
            return _error(b.fail_status, "the engine is not running")
        if b.refuse_tools and body.get("tools"):
            return _error(400, '"auto" tool choice requires --enable-auto-tool-choice and '
                          "--tool-call-parser to be set")
        if body.get("max_tokens", 0) and body["max_tokens"] > b.max_model_len:
            return _error(400, f"max_tokens is larger than max_model_len ({b.max_model_len})")
        words = [f"w{i} " for i in range(b.chunks)]
        if not body.get("stream"):
            if b.first_delay and not await _generate_unless_gone(request, b.first_delay):
                b.disconnects += 1  # like vLLM, stop generating for a client that left
                return Response(status_code=499)
            return JSONResponse(_completion(body, "".join(words)))
        return StreamingResponse(_stream(request, body, words), media_type="text/event-stream")

    async def _stream(request: Request, body: dict[str, Any], words: list[str]):
        created = int(time.time())
        try:
            if b.first_delay:
                await asyncio.sleep(b.first_delay)
            index = 0
            while b.endless or index < len(words):
                if b.fail_after is not None and index >= b.fail_after:
                    raise ConnectionResetError("fake upstream drops the stream")
                word = words[index % len(words)]
                yield _sse(_chunk(created, {"content": word} if index else
                                  {"role": "assistant", "content": word}))
                index += 1
                if b.delay:
                    await asyncio.sleep(b.delay)
            yield _sse(_chunk(created, {}, finish="stop"))
            if (body.get("stream_options") or {}).get("include_usage"):
                yield _sse({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                            "created": created, "model": MODEL, "choices": [],
                            "usage": {"prompt_tokens": 1, "completion_tokens": len(words),
                                      "total_tokens": len(words) + 1}})
            yield b"data: [DONE]\n\n"
        except asyncio.CancelledError:
            b.disconnects += 1
            raise

    async def completions(request: Request) -> Response:
        body = await request.json()
        b.received.append(body)
        text = "".join(f"w{i} " for i in range(b.chunks))
        return JSONResponse({"id": "cmpl-fake", "object": "text_completion", "model": MODEL,
                             "choices": [{"index": 0, "text": text, "finish_reason": "stop"}]})

    async def models(_: Request) -> Response:
        model = {"id": MODEL, "object": "model", "owned_by": "fake",
                 "max_model_len": b.max_model_len}
        adapters = [{"id": name, "object": "model", "parent": MODEL,
                     "max_model_len": b.max_model_len} for name in b.adapters]
        return JSONResponse({"object": "list", "data": [model, *adapters]})

    async def tokenize(request: Request) -> Response:
        body = await request.json()
        text = json.dumps(body.get("messages") or body.get("prompt") or "")
        return JSONResponse({"count": len(text) // 4, "max_model_len": b.max_model_len,
                             "tokens": []})

    async def health(_: Request) -> Response:
        return Response(status_code=200)

    app = Starlette(routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/models", models),
        Route("/tokenize", tokenize, methods=["POST"]),
        Route("/health", health),
    ])
    app.state.behaviour = b
    return app


async def _generate_unless_gone(request: Request, seconds: float) -> bool:
    """Pretend to generate for `seconds`; False if the client disconnected meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            return False
        await asyncio.sleep(0.01)
    return True


def _chunk(created: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created,
            "model": MODEL, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _completion(body: dict[str, Any], text: str) -> dict[str, Any]:
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", MODEL),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": {"message": message, "type": "BadRequestError",
                                   "param": None, "code": status}}, status_code=status)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--chunks", type=int, default=16)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    app = build_fake_upstream(Behaviour(chunks=args.chunks, delay=args.delay))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
