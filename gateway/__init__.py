"""loregate's gateway: an OpenAI-compatible proxy that adds world lore to every chat."""

from gateway.app import build_app
from gateway.settings import GatewaySettings

__all__ = ["GatewaySettings", "build_app"]
