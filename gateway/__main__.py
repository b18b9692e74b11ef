"""`python -m gateway`: serve the gateway with the settings from configs/ and GATEWAY_*."""

from __future__ import annotations

import logging
import sys

import uvicorn
from pydantic import ValidationError

from gateway.app import build_app
from gateway.settings import GatewaySettings


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # chromadb logs every HTTP call
    try:
        settings = GatewaySettings()
    except ValidationError as exc:
        print(f"loregate: bad setting: {exc}", file=sys.stderr)
        return 2
    if not settings.access_log:
        logging.getLogger("loregate.access").setLevel(logging.WARNING)
    uvicorn.run(build_app(settings), host=settings.host, port=settings.port,
                log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
