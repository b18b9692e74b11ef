"""Everything the routes share, built once per app."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.lore import LoreService
from gateway.observe import Metrics
from gateway.settings import GatewaySettings
from gateway.upstream import UpstreamPool
from gateway.voices import VoiceRouter


@dataclass
class GatewayState:
    settings: GatewaySettings
    pool: UpstreamPool
    lore: LoreService
    metrics: Metrics
    voices: VoiceRouter
    tools_refused: bool = False  # learned from the upstream's first refusal of `tools`
