"""Gateway settings: defaults here, overrides in configs/gateway.yaml, then GATEWAY_* variables.

The lore settings (worlds, index, budget...) and the sources they are read from come from
`RetrievalSettings`, so the gateway and `python -m retrieval` read one configuration. A key in
configs/gateway.yaml that neither knows stops start-up, naming the nearest valid key
(`retrieval.settings.check_config_keys`); unknown GATEWAY_* environment variables are ignored.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from retrieval.settings import REPO, RetrievalSettings
from training import layout  # standard library only: no training stack is loaded


class GatewaySettings(RetrievalSettings):
    # A ValidationError must not print the values it got: they can be keys and passwords.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    host: str = Field("127.0.0.1", description="Interface to bind; 127.0.0.1 keeps it local.")
    port: int = Field(8001, ge=1, le=65535)
    upstream_url: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000/v1"],
        description="One or more OpenAI-compatible base URLs (comma-separated in the env var). "
        "user:password@ in one is sent as Basic auth and shown nowhere.",
    )
    upstream_api_key: SecretStr | None = Field(
        None, description="Bearer key vLLM expects; not with user:password@ in the URL.")
    api_key: SecretStr | None = Field(None, description="When set, clients must send it.")
    connect_timeout: float = Field(3.0, gt=0, description="Seconds to reach an upstream.")
    read_timeout: float = Field(
        600.0, gt=0, description="Longest silence from an upstream, between stream chunks too."
    )
    max_body_bytes: int = Field(8 * 1024 * 1024, gt=0, description="Larger requests get 413.")
    health_interval: float = Field(5.0, gt=0, description="Seconds between upstream checks.")
    tools: Literal["auto", "forward", "drop"] = Field(
        "auto",
        description="auto: forward tools, and drop them (with a warning) if the upstream "
        "has no tool parser; forward: always; drop: never forward them.",
    )
    lore_wait: float = Field(
        1.0, ge=0, description="Longest a request waits for lore still being built (the first "
        "index build after start-up); past it the request goes on without lore, "
        "X-Lore-Status: warming.",
    )
    reply_reserve_tokens: int = Field(
        512, ge=0, description="Room kept for the reply when a request sets no max_tokens."
    )
    restart_marker: Path = Field(
        REPO / ".loregate" / "run" / "upstream-restarting",
        description="While this file exists, an unreachable upstream answers 503 + Retry-After.",
    )
    access_log: bool = True
    max_header_bytes: int = Field(
        32 * 1024, gt=0,
        description="Largest request line + headers; larger get 431. A head over twice this is "
        "cut off while it arrives (uvicorn's plain-text 400).",
    )
    max_headers: int = Field(100, gt=0, description="Most request headers; more get 431.")
    body_timeout: float = Field(
        30.0, gt=0, description="Longest silence while a request body arrives; then 408."
    )
    max_query_chars: int = Field(
        100_000, gt=0, description="Longest /v1/lore/search query; longer is a 400."
    )
    voice: str = Field(layout.DEFAULT_VOICE, description="The voice `model: loregate` gets "
                       "when the world names none (world.yaml `voice:`).")
    voices_dir: Path = Field(default_factory=lambda: layout.voices_root(REPO),
                             description="Where `python -m training deploy` links voices.")
    upstream_model: str = Field(
        "loregate", description="The name the model server serves the base model by "
        "(scripts/serve_vllm.sh's LOREGATE_MODEL_NAME).")

    @field_validator("upstream_url", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part for part in value.replace(" ", ",").split(",") if part]
        if isinstance(value, list):
            return [str(url).rstrip("/") for url in value]
        return value

    @model_validator(mode="after")
    def _one_upstream_auth(self) -> GatewaySettings:
        if self.upstream_api_key is not None and any(_has_userinfo(u) for u in self.upstream_url):
            raise ValueError(
                "GATEWAY_UPSTREAM_URL carries credentials (user:password@) and "
                "GATEWAY_UPSTREAM_API_KEY is set too; a request can carry only one of them. "
                "Keep the one your model server expects.")
        return self


def _has_userinfo(url: str) -> bool:
    return re.search(r"//[^/?#]*@", url) is not None
