"""The two generation routes: chat (lore on by default) and completions (lore on request)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from gateway.budget import reply_tokens
from gateway.errors import APIError
from gateway.forward import forward
from gateway.inject import inject_chat, inject_completion
from gateway.lore import LoreOutcome
from gateway.observe import RequestRecord
from gateway.protocol import (
    ChatRequest,
    CompletionRequest,
    Controls,
    forwarded_body,
    read_controls,
    validate,
)
from gateway.state import GatewayState

log = logging.getLogger("loregate.chat")

TOOL_FIELDS = ("tools", "tool_choice", "parallel_tool_calls")
# vLLM's answer to `tools` when it runs without a tool parser.
NO_TOOL_PARSER = ("--enable-auto-tool-choice", "tool-call-parser")


async def chat_completions(request: Request, body: dict[str, Any],
                           record: RequestRecord) -> Response:
    state: GatewayState = request.app.state.gateway
    parsed = validate(ChatRequest, body)
    controls = read_controls(parsed, request.headers)
    record.stream = parsed.stream
    sent = await _with_voice(state, forwarded_body(parsed), controls, record)
    window = state.pool.window(sent, reply_tokens(sent, state.lore.reply_reserve))
    outcome = await state.lore.for_chat(sent["messages"], controls, window)
    _note_lore(record, controls, outcome)
    if outcome.context:
        sent = {**sent, "messages": inject_chat(sent["messages"], outcome.context)}
    headers = {**outcome.headers(), "X-Request-Id": record.request_id}

    if sent.get("tools") and (state.settings.tools == "drop" or state.tools_refused):
        sent = _without_tools(sent, headers, "the model server has no tool parser")
    try:
        return await forward(state.pool, "/chat/completions", sent, record, headers)
    except APIError as exc:
        retry = (exc.status == 400 and sent.get("tools") and state.settings.tools == "auto"
                 and refuses_tools(exc.message))
        if not retry:
            exc.headers.update(headers)
            raise
        state.tools_refused = True
        sent = _without_tools(sent, headers, "the model server refused them: " + exc.message)
        return await forward(state.pool, "/chat/completions", sent, record, headers)


async def completions(request: Request, body: dict[str, Any], record: RequestRecord) -> Response:
    state: GatewayState = request.app.state.gateway
    parsed = validate(CompletionRequest, body)
    controls = read_controls(parsed, request.headers)
    record.stream = parsed.stream
    outcome = await state.lore.for_completion(parsed.prompt, controls)
    _note_lore(record, controls, outcome)
    sent = (forwarded_body(parsed, prompt=inject_completion(parsed.prompt, outcome.context))
            if outcome.context else forwarded_body(parsed))
    sent = await _with_voice(state, sent, controls, record)
    headers = {**outcome.headers(), "X-Request-Id": record.request_id}
    return await forward(state.pool, "/completions", sent, record, headers)


async def _with_voice(state: GatewayState, body: dict[str, Any], controls: Controls,
                      record: RequestRecord) -> dict[str, Any]:
    """`body` with `model` naming what answers upstream: the voice asked for, or the world's."""
    requested = body.get("model")
    if requested is not None and not isinstance(requested, str):
        raise APIError(400, "'model' must be a string: a voice's name, or 'loregate'.",
                       param="model")
    world = controls.world or state.lore.default_world
    route = await state.voices.route(requested, state.lore.voice_of(world))
    record.voice = route.voice
    return {**body, "model": route.model}


def _note_lore(record: RequestRecord, controls: Controls, outcome: LoreOutcome) -> None:
    record.world = outcome.world
    record.chapter = controls.chapter
    record.lore_status = outcome.status
    if outcome.selection is not None:
        record.entries = [hit.id for hit in outcome.selection.entries]
        record.lore_hits = list(outcome.selection.entries)  # with their triggers, for the desk
        record.lore_context = outcome.selection.context  # the exact block injected
        record.lore_tokens = outcome.selection.tokens
        record.lore_ms = outcome.seconds * 1000


def refuses_tools(message: str) -> bool:
    return any(marker in message for marker in NO_TOOL_PARSER)


def _without_tools(body: dict[str, Any], headers: dict[str, str], why: str) -> dict[str, Any]:
    """`body` less its tool fields, as a new dict; says so in `headers` and the log."""
    count = len(body.get("tools") or [])
    headers["X-Tools-Dropped"] = str(count)
    log.warning("dropped %d tools from the request: %s. Serve a model with tool support "
                "(scripts/serve_vllm.sh enables a tool parser) to keep them.", count, why)
    return {name: value for name, value in body.items() if name not in TOOL_FIELDS}
