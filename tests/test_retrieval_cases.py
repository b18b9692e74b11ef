"""The labelled requests in tests/data/retrieval_cases.yaml against worlds/scifi_world, with the
real model and default settings: every named entry is found, nothing forbidden is."""

from pathlib import Path

import pytest
import yaml

from retrieval import LoreEngine, RetrievalSettings

REPO = Path(__file__).resolve().parent.parent
CASES = yaml.safe_load((REPO / "tests/data/retrieval_cases.yaml").read_text())["cases"]
KEYWORD = ("name", "alias", "key")
WORLD = "scifi_world"


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    if not (REPO / "worlds" / WORLD).is_dir():
        pytest.fail(f"the sample world worlds/{WORLD} is missing")
    settings = RetrievalSettings(worlds_dir=REPO / "worlds",
                                 index_dir=tmp_path_factory.mktemp("index"))
    engine = LoreEngine(settings)
    engine.reindex(WORLD)
    yield engine
    engine.close()


def messages(case: dict) -> list[dict]:
    return case.get("messages") or [{"role": "user", "content": case["text"]}]


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_case(engine, case):
    selection = engine.select(WORLD, messages(case), chapter=case.get("chapter"),
                              budget_tokens=100_000)
    triggers = {hit.id: hit.trigger for hit in selection.entries}
    assert selection.dropped == []
    missed = [e for e in case.get("named", []) if triggers.get(e) not in (*KEYWORD, "always")]
    assert missed == [], f"named but not triggered: {missed} (got {triggers})"
    unwanted = [e for e in case.get("absent", []) if e in triggers]
    assert unwanted == [], f"selected but must not be: {unwanted}"
    if case.get("only_always"):
        always = sorted(e.id for e in engine.world(WORLD).entries.values() if e.always)
        assert sorted(triggers) == always


def test_cases_cover_every_kind():
    assert len(CASES) >= 30
    assert sum(bool(c.get("named")) for c in CASES) >= 20
    assert sum(bool(c.get("described")) for c in CASES) >= 8
    assert sum(bool(c.get("only_always")) for c in CASES) >= 3
