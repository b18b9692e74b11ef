"""Which model upstream a request's `model` names: a voice, the writer's default, or the base.

Voices are links on disk (`training.voices`, standard library only); `deploy` loads a new
adapter into vLLM before it moves a link, so reading the links on every request is the whole
switch: no restart, no reload here. The names a client may send:

    loregate      the world's voice (world.yaml `voice:`), else GATEWAY_VOICE, else the base
    base          the base model, no adapter
    <voice>       that voice; an unknown name is a 404 naming the known ones

A voice whose adapter the model server has not loaded (it serves a merged model, or was
started elsewhere) is never sent upstream by name: `loregate` falls back to the base, and a
request for that voice by name gets a 503 saying what to do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import APIError
from training.voices import linked

log = logging.getLogger("loregate.voices")

ALIAS = "loregate"
BASE = "base"
REFRESH_S = 1.0  # a name found missing upstream is looked up again at most this often


@dataclass(frozen=True)
class Route:
    model: str  # what the upstream is asked for
    voice: str | None  # the voice that answers, None for the base


ListModels = Callable[[], Awaitable[list[dict[str, Any]]]]


class VoiceRouter:
    def __init__(self, root: Path, default_voice: str, base_name: str,
                 list_models: ListModels) -> None:
        self.root, self.default_voice, self.base_name = root, default_voice, base_name
        self._list_models = list_models
        self._loaded: set[str] = set()
        self._missing: dict[str, float] = {}  # name -> when the upstream last lacked it

    def voices(self) -> dict[str, str]:
        """voice -> the upstream name of its adapter, as the links say now."""
        return linked(self.root)

    async def route(self, requested: str | None, world_voice: str | None = None) -> Route:
        voices = self.voices()
        if requested in (None, "", ALIAS, self.base_name):
            return await self._default(voices, world_voice)
        if requested == BASE:
            return Route(self.base_name, None)
        if requested not in voices:
            known = ", ".join([ALIAS, BASE, *voices])
            raise APIError(404, f"The model '{requested}' does not exist. Known voices: "
                           f"{known}. Train one with `make train VOICE=<name>`.",
                           type="invalid_request_error", param="model",
                           code="model_not_found")
        lora = voices[requested]
        if not await self._is_loaded(lora):
            raise APIError(503, f"The voice '{requested}' is deployed but the model server has "
                           "not loaded it (it serves a merged model, or was started before "
                           "the voice existed); restart `make serve`.",
                           type="server_error", code="voice_not_loaded")
        return Route(lora, requested)

    async def _default(self, voices: dict[str, str], world_voice: str | None) -> Route:
        for voice in (world_voice, self.default_voice):
            if voice and voice in voices and await self._is_loaded(voices[voice]):
                return Route(voices[voice], voice)
            if voice and voice == world_voice:
                log.debug("the world's voice %r is not served; trying the default", voice)
        return Route(self.base_name, None)

    async def _is_loaded(self, lora: str) -> bool:
        # A name not seen before (a voice deployed a moment ago) is looked up at once; one
        # found missing is looked up again at most every REFRESH_S, however many ask for it.
        if lora in self._loaded:
            return True
        if time.monotonic() - self._missing.get(lora, float("-inf")) >= REFRESH_S:
            try:
                self._loaded = {m.get("id", "") for m in await self._list_models()}
            except APIError as exc:  # unreachable: the forward will say so, properly
                log.debug("could not list the upstream's models: %s", exc.message)
                return True
            if lora not in self._loaded:
                self._missing[lora] = time.monotonic()
        return lora in self._loaded

    async def listing(self, upstream: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """/v1/models: the alias, the base and every voice, as a model picker shows them."""
        self._loaded = {m.get("id", "") for m in upstream}
        base = next((m for m in upstream if m.get("id") == self.base_name),
                    next((m for m in upstream if not m.get("parent")), {}))
        length = {"max_model_len": base["max_model_len"]} if "max_model_len" in base else {}
        voices = self.voices()
        default = await self._default(voices, None)

        def card(name: str, **extra: Any) -> dict[str, Any]:
            return {"id": name, "object": "model", "created": base.get("created", 0),
                    "owned_by": "loregate", **length, **extra}

        cards = [card(ALIAS, voice=default.voice), card(BASE, voice=None)]
        for voice, lora in voices.items():
            cards.append(card(voice, voice=voice, loaded=lora in self._loaded))
        return cards
