"""One configuration: defaults, configs/gateway.yaml, then GATEWAY_* variables."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from gateway import GatewaySettings
from retrieval import RetrievalSettings
from retrieval.settings import CONFIG_FILE


def test_the_yaml_file_is_read_by_the_gateway_and_the_retrieval_cli(monkeypatch):
    for key in ("GATEWAY_PORT", "GATEWAY_WORLD", "GATEWAY_UPSTREAM_URL"):
        monkeypatch.delenv(key, raising=False)
    configured = yaml.safe_load(CONFIG_FILE.read_text())
    settings = GatewaySettings()
    assert settings.port == configured["port"]
    assert settings.upstream_url == [configured["upstream_url"]]
    assert RetrievalSettings().world == settings.world == configured["world"]


def test_environment_wins_and_lists_upstreams(monkeypatch):
    monkeypatch.setenv("GATEWAY_PORT", "9123")
    monkeypatch.setenv("GATEWAY_UPSTREAM_URL", "http://gpu1:8000/v1/, http://gpu2:8000/v1")
    monkeypatch.setenv("GATEWAY_API_KEY", "sesame")
    settings = GatewaySettings()
    assert settings.port == 9123
    assert settings.upstream_url == ["http://gpu1:8000/v1", "http://gpu2:8000/v1"]
    assert "sesame" not in repr(settings)  # secrets never print


def test_a_wrong_type_fails_on_load_naming_the_setting(monkeypatch):
    monkeypatch.setenv("GATEWAY_PORT", "eighty")
    with pytest.raises(ValidationError, match="port"):
        GatewaySettings()
