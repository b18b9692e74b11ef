"""One configuration: defaults, configs/gateway.yaml (strictly read), then GATEWAY_* variables."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

import retrieval.settings
from gateway import GatewaySettings
from gateway.__main__ import main as gateway_main
from retrieval import RetrievalSettings
from retrieval.cli import main as retrieval_main
from retrieval.settings import CONFIG_FILE, ConfigKeyError


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


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    """Point both readers at a configs/gateway.yaml of the test's own."""
    path = tmp_path / "gateway.yaml"
    monkeypatch.setattr(retrieval.settings, "CONFIG_FILE", path)
    return path


def test_the_retrieval_reader_knows_every_gateway_key():
    own = set(GatewaySettings.model_fields) - set(RetrievalSettings.model_fields)
    assert RetrievalSettings.gateway_keys == own


def test_an_unknown_key_fails_in_both_readers_naming_it_and_the_nearest(config_file):
    config_file.write_text("port: 8002\nuptream_url: http://gpu:8000/v1\nWorld: scifi_world\n")
    for reader in (GatewaySettings, RetrievalSettings):
        with pytest.raises(ConfigKeyError) as caught:
            reader()
        assert "unknown key 'uptream_url' (did you mean 'upstream_url'?)" in str(caught.value)
        assert "World" not in str(caught.value) and "port" not in str(caught.value)


def test_both_readers_take_the_gateway_keys_and_any_case(config_file, monkeypatch):
    for key in ("GATEWAY_PORT", "GATEWAY_BUDGET_TOKENS"):
        monkeypatch.delenv(key, raising=False)
    config_file.write_text("host: 0.0.0.0\nPort: 8002\nworld: other\nbudget_tokens: 7\n")
    assert GatewaySettings().port == 8002 and RetrievalSettings().budget_tokens == 7


def test_python_m_gateway_and_retrieval_stop_on_an_unknown_key(config_file, capsys):
    config_file.write_text("wrld: scifi_world\n")
    assert gateway_main([]) == 2
    assert "unknown key 'wrld' (did you mean 'world'?)" in capsys.readouterr().err
    assert retrieval_main(["check", "scifi_world"]) == 2
    assert "unknown key 'wrld' (did you mean 'world'?)" in capsys.readouterr().err
