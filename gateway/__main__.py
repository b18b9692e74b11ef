"""`python -m gateway`: serve the gateway with the settings from configs/ and GATEWAY_*."""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from gateway.app import build_app
from gateway.settings import REPO, GatewaySettings
from retrieval.settings import ConfigKeyError


def main(argv: Sequence[str] | None = None) -> int:
    parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # chromadb logs every HTTP call
    try:
        settings = GatewaySettings()
    except ValidationError as exc:
        print(f"loregate: bad setting: {describe_errors(exc)}", file=sys.stderr)
        return 2
    except ConfigKeyError as exc:  # a key in configs/gateway.yaml that no setting has
        print(f"loregate: bad configuration: {exc}", file=sys.stderr)
        return 2
    if not settings.access_log:
        logging.getLogger("loregate.access").setLevel(logging.WARNING)
    uvicorn.Server(server_config(settings, build_app(settings))).run()
    return 0


def server_config(settings: GatewaySettings, app: FastAPI) -> uvicorn.Config:
    """uvicorn as the gateway runs it; tests start exactly this.

    h11 rather than httptools: only h11 bounds the bytes buffered for a request head, so a
    client streaming an endless header cannot grow the server's memory. The bound is twice
    GATEWAY_MAX_HEADER_BYTES so that a head just over the limit always reaches the middleware
    and its 431 in the OpenAI envelope; only a flood gets h11's plain-text 400.
    """
    return uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning",
                          access_log=False, http="h11",
                          h11_max_incomplete_event_size=2 * settings.max_header_bytes)


def describe_errors(exc: ValidationError) -> str:
    """Each error as `GATEWAY_<NAME>: message`, never with the value given (it may be a key)."""
    parts = []
    for error in exc.errors():
        names = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"GATEWAY_{names.upper()}: {message}" if names else message)
    return "; ".join(parts)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=_program(),
        description="Serve loregate with the settings from configs/gateway.yaml and GATEWAY_*.",
        epilog=settings_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    return parser.parse_args(argv)


def _program() -> str:
    """How the user started it: `python -m gateway` or the `loregate-gateway` console script."""
    started = Path(sys.argv[0])
    return "python -m gateway" if started.name == "__main__.py" else started.name


def settings_help() -> str:
    """Every setting, its default and what it does, from GatewaySettings itself."""
    lines = ["settings (environment variable, or the lower-case name in configs/gateway.yaml):"]
    for name, field in GatewaySettings.model_fields.items():
        default = _shown_default(field.get_default(call_default_factory=True))
        lines.append(f"  GATEWAY_{name.upper()} (default: {default})")
        if field.description:
            lines.append(textwrap.fill(field.description, width=88, initial_indent=" " * 6,
                                       subsequent_indent=" " * 6))
    return "\n".join(lines)


def _shown_default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, Path):
        return str(value.relative_to(REPO)) if value.is_relative_to(REPO) else str(value)
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
