"""The read-only routes and the lore dry run."""

from __future__ import annotations

from retrieval import LoreEngine, LoreIndex, RetrievalSettings
from tests.fakes.gateway import FakeEngine


def test_models_lists_the_alias_and_the_base_with_the_upstreams_max_model_len(make_client):
    client, _, _ = make_client()
    with client:
        data = client.get("/v1/models").json()
    assert [m["id"] for m in data["data"]] == ["loregate", "base"]  # no voice deployed
    assert data["data"][0]["voice"] is None
    assert {m["max_model_len"] for m in data["data"]} == {8192}


def test_health_reports_upstreams_index_and_worlds(make_client):
    client, _, _ = make_client()
    with client:
        r = client.get("/health")
    body = r.json()
    assert r.status_code == 200 and body["status"] == "ok"
    assert body["index"] == "ready"
    assert body["worlds"] == ["other_world", "scifi_world"]
    assert body["upstreams"][0]["healthy"] is True


def test_worlds_lists_each_world_with_its_status(make_client):
    client, _, _ = make_client()
    with client:
        data = client.get("/v1/worlds").json()
    assert data["default"] == "scifi_world"
    assert [w["id"] for w in data["data"]] == ["other_world", "scifi_world"]
    assert data["data"][0]["indexed"] is True


def test_lore_search_is_a_dry_run_returning_entries_tokens_and_context(make_client):
    client, upstream, engine = make_client()
    with client:
        by_query = client.post("/v1/lore/search", json={"world": "scifi_world",
                                                        "query": "Where is Elena?"})
        by_messages = client.post("/v1/lore/search", json={
            "messages": [{"role": "user", "content": "Elena"}], "chapter": 3})
        neither = client.post("/v1/lore/search", json={"world": "scifi_world"})
        unknown = client.post("/v1/lore/search", json={"world": "narnia", "query": "x"})
    body = by_query.json()
    assert body["world"] == "scifi_world"
    assert body["entries"] == [{"id": "characters/elena-vasquez", "name": "Elena Vasquez",
                                "score": 1.0, "trigger": "name", "tokens": 20}]
    assert body["tokens"] == 20 and body["context"].startswith("World lore")
    assert by_messages.status_code == 200 and engine.calls[-1]["chapter"] == 3
    assert neither.status_code == 400
    assert unknown.status_code == 404
    assert upstream.received == []


def test_metrics_count_requests_and_lore(make_client):
    client, _, _ = make_client()
    with client:
        client.post("/v1/chat/completions",
                    json={"model": "loregate", "messages": [{"role": "user", "content": "Elena"}]})
        client.post("/v1/chat/completions", json={"model": "loregate"})
        text = client.get("/metrics").text
    assert 'loregate_requests_total{route="chat",status="200"} 1.0' in text
    assert 'loregate_requests_total{route="chat",status="400"} 1.0' in text
    assert "loregate_lore_tokens_count 1.0" in text
    assert "loregate_requests_in_flight 0.0" in text


def test_access_log_has_one_structured_line_per_request(caplog, make_client):
    client, _, _ = make_client()
    with caplog.at_level("INFO", logger="loregate.access"), client:
        client.post("/v1/chat/completions",
                    json={"model": "loregate", "messages": [{"role": "user", "content": "Elena"}]},
                    headers={"X-Request-Id": "abc123"})
    import json

    lines = [json.loads(r.message) for r in caplog.records if r.name == "loregate.access"]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "abc123" and line["world"] == "scifi_world"
    assert line["entries"] == ["characters/elena-vasquez"] and line["lore_tokens"] == 20
    assert line["upstream_ms"] is not None and line["ttft_ms"] is not None


def test_request_id_is_forwarded_upstream(make_client):
    client, upstream, _ = make_client(engine=FakeEngine())
    with client:
        r = client.post("/v1/chat/completions",
                        json={"model": "loregate", "messages": [{"role": "user", "content": "hi"}]})
    assert upstream.received_headers[-1]["x-request-id"] == r.headers["x-request-id"]


def test_the_fake_engine_and_the_real_one_are_both_lore_indexes():
    assert isinstance(FakeEngine(), LoreIndex)
    assert isinstance(LoreEngine(RetrievalSettings()), LoreIndex)
