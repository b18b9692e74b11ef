"""Selection from hits: fusion, story time, related, always-entries, budget, stable order."""

from pathlib import Path

from retrieval.entry import Entry
from retrieval.render import entry_block, header_line
from retrieval.select import Limits, assemble
from retrieval.triggers import KeywordHit
from retrieval.world import World


def words(text: str) -> int:
    return len(text.split())


def make(entry_id: str, name: str | None = None, **fields) -> Entry:
    fields.setdefault("body", f"About {entry_id}.")
    return Entry(id=entry_id, name=name or entry_id, type="other", **fields)


def world(*entries: Entry) -> World:
    return World("test", Path("."), {e.id: e for e in sorted(entries, key=lambda e: e.id)})


def named(*ids: str) -> list[KeywordHit]:
    return [KeywordHit(entry_id, "name", 1, 0) for entry_id in ids]


def run(w: World, keyword=(), vector=(), chapter=None, budget=1000):
    return assemble(w, list(keyword), list(vector), chapter=chapter, budget=budget, count=words)


def test_always_entries_first_then_by_id_whatever_the_hit_order():
    w = world(make("lore/canon", always=True), make("b/x"), make("a/y"), make("c/z"))
    first = run(w, named("c/z", "a/y"), [("b/x", 0.9)])
    second = run(w, named("a/y"), [("b/x", 0.5), ("c/z", 0.6)])
    assert [h.id for h in first.entries] == ["lore/canon", "a/y", "b/x", "c/z"]
    assert first.context == second.context  # same lore, same bytes: prefix cache keeps hitting
    assert first.context.startswith(header_line("test") + "\n\n## lore/canon")
    assert first.tokens == words(first.context)


def test_triggers_are_reported():
    w = world(make("a", related=("f",)), make("b"), make("c", related=("d",)), make("d"),
              make("e", always=True), make("f"))
    hits = {h.id: h.trigger for h in run(w, [KeywordHit("a", "alias", 1, 0)],
                                         [("b", 0.8), ("c", 0.7)]).entries}
    # related entries come only through named ones: c was found by meaning, so d stays out
    assert hits == {"a": "alias", "b": "vector", "c": "vector", "e": "always", "f": "related"}


def test_semantic_and_related_are_capped_and_named_entries_are_not():
    w = world(*(make(f"n{i}", related=(f"r{i}",)) for i in range(5)),
              *(make(f"r{i}") for i in range(5)), *(make(f"v{i}") for i in range(5)))
    limits = Limits(related=2, semantic=1)
    selection = assemble(w, named(*(f"n{i}" for i in range(5))),
                         [(f"v{i}", 0.9 - i / 10) for i in range(5)], chapter=None,
                         budget=10_000, count=words, limits=limits)
    by_trigger: dict[str, list[str]] = {}
    for hit in selection.entries:
        by_trigger.setdefault(hit.trigger, []).append(hit.id)
    assert by_trigger == {"name": [f"n{i}" for i in range(5)], "related": ["r0", "r1"],
                          "vector": ["v0"]}


def test_related_and_semantic_entries_come_in_as_briefs():
    long_body = " ".join(f"Sentence number {i} says a little more." for i in range(60))
    w = world(make("a", body=long_body, related=("r",)), make("r", body=long_body),
              make("v", body=long_body))
    limits = Limits(entry_tokens=200, brief_tokens=40)
    selection = assemble(w, named("a"), [("v", 0.9)], chapter=None, budget=10_000,
                         count=words, limits=limits)
    tokens = {h.id: h.tokens for h in selection.entries}
    assert 150 < tokens["a"] <= 200
    assert 24 <= tokens["r"] <= 40 and 24 <= tokens["v"] <= 40
    assert selection.context.count("Sentence number 0 says") == 3  # each keeps its opening


def test_every_named_entry_gets_a_share_of_a_tight_budget():
    long_body = " ".join(f"Sentence number {i} says a little more." for i in range(60))
    w = world(*(make(f"n{i}", body=long_body) for i in range(4)))
    budget = 400
    selection = assemble(w, named("n0", "n1", "n2", "n3"), [], chapter=None, budget=budget,
                         count=words, limits=Limits(entry_tokens=400, brief_tokens=40))
    assert [h.id for h in selection.entries] == ["n0", "n1", "n2", "n3"]
    assert selection.dropped == [] and selection.tokens <= budget


def test_a_long_draft_naming_many_entries_gets_each_at_least_its_first_sentence():
    # twelve entries named in one pasted chapter, the budget too small for their briefs: each
    # comes in at its first sentence rather than the first few at length and the rest not at all
    body = "Who this is, in one sentence of eight words. " + " ".join(
        f"More about them, sentence {i} of the rest." for i in range(8))
    w = world(*(make(f"n{i:02}", body=body) for i in range(12)), make("short"))
    opening = words(entry_block(make("x", body="Who this is, in one sentence of eight words.")))
    budget = words(header_line("test")) + 13 * opening + 4
    selection = assemble(w, named(*(f"n{i:02}" for i in range(12)), "short"), [],
                         chapter=None, budget=budget, count=words,
                         limits=Limits(entry_tokens=400, brief_tokens=90))
    assert selection.dropped == [] and len(selection.entries) == 13
    assert selection.tokens <= budget
    # a short entry keeps its whole text, and what it leaves over goes to the long ones
    assert selection.context.count("More about them") == 0
    assert "## short (other)\nAbout short." in selection.context


def test_when_not_even_first_sentences_fit_the_most_mentioned_name_stays():
    body = "Who this is, in one sentence of eight words. Then a second sentence follows."
    w = world(make("once", body=body), make("often", body=body))
    opening = words(entry_block(make("once", body="Who this is, in one sentence of eight words.")))
    hits = [KeywordHit("once", "name", 1, 0), KeywordHit("often", "alias", 3, 0)]
    selection = assemble(w, hits, [], chapter=None, budget=words(header_line("test")) + opening,
                         count=words)
    assert [h.id for h in selection.entries] == ["often"]  # in every paragraph of the draft
    assert [h.id for h in selection.dropped] == ["once"]


def test_related_is_one_hop_only():
    w = world(make("a", related=("b",)), make("b", related=("c",)), make("c"))
    assert [h.id for h in run(w, named("a")).entries] == ["a", "b"]


def test_nothing_fired_gives_only_always_entries():
    w = world(make("lore/canon", always=True), make("a"))
    selection = run(w)
    assert [h.id for h in selection.entries] == ["lore/canon"]
    assert run(world(make("a"))).context == ""


def test_chapter_drops_entries_outside_their_span():
    early = make("marcus-early", "Marcus", until_chapter=11)
    late = make("marcus-late", "Marcus", from_chapter=12)
    canon = make("canon", always=True, from_chapter=5)
    w = world(early, late, canon)
    assert [h.id for h in run(w, named("marcus-early", "marcus-late"), chapter=3).entries] == [
        "marcus-early"
    ]
    assert [h.id for h in run(w, named("marcus-early", "marcus-late"), chapter=12).entries] == [
        "canon", "marcus-late"
    ]


def test_without_chapter_prefer_unscoped_else_latest_span():
    early = make("marcus-early", "Marcus", until_chapter=11)
    late = make("marcus-late", "Marcus", from_chapter=12)
    timeless = make("marcus", "Marcus")
    scoped_only = run(world(early, late), named("marcus-early", "marcus-late"))
    assert [h.id for h in scoped_only.entries] == ["marcus-late"]
    w = world(early, late, timeless)
    both = named("marcus-early", "marcus-late", "marcus")
    assert [h.id for h in run(w, both).entries] == ["marcus"]
    other = make("elena", "Elena", from_chapter=3)  # scoped but no namesake: kept
    assert [h.id for h in run(world(other), named("elena")).entries] == ["elena"]


def test_budget_prefers_priority_then_score_and_reports_dropped():
    body = "This sentence has exactly seven words here."
    w = world(make("low", body=body, priority=0), make("high", body=body, priority=5),
              make("canon", body=body, always=True))
    header = words(header_line("test"))
    block = words(f"## low (other)\n{body}")
    selection = run(w, named("low", "high"), budget=header + 2 * block)
    assert [h.id for h in selection.entries] == ["canon", "high"]
    assert [(h.id, h.tokens) for h in selection.dropped] == [("low", block)]
    assert selection.tokens <= header + 2 * block


def test_zero_budget_is_empty():
    selection = run(world(make("a", always=True)), named("a"), budget=0)
    assert (selection.entries, selection.dropped, selection.tokens, selection.context) == (
        [], [], 0, "")


def test_overflow_at_a_join_shortens_the_least_wanted_entry_to_whole_sentences():
    # BPE merges across joins depend on the text; this counter charges one extra token where a
    # block ending in "!" meets the next, which fill() cannot foresee from the parts
    def count(text: str) -> int:
        return words(text) + text.count("!\n\n")

    first = make("a", body="Alpha one two. Alpha three four!")
    second = make("b", body="Bravo one two three. Bravo four five six. Bravo seven eight.")
    header = words(header_line("test"))
    budget = header + count(entry_block(first)) + count(entry_block(second))
    selection = assemble(world(first, second), named("a", "b"), [], chapter=None,
                         budget=budget, count=count)
    assert [h.id for h in selection.entries] == ["a", "b"]  # shortened, not dropped
    assert selection.dropped == []
    assert selection.context.endswith("\nBravo one two three. Bravo four five six.")
    assert selection.tokens == count(selection.context) <= budget
    assert selection.entries[1].tokens == count(entry_block(second)) - 3


def test_overflow_at_a_join_drops_an_entry_only_if_its_first_sentence_cannot_fit():
    def count(text: str) -> int:
        return words(text) + text.count("!\n\n")

    first = make("a", body="Alpha one two. Alpha three four!")
    second = make("b", body="Bravo is one single sentence with no place to cut it.")
    budget = words(header_line("test")) + count(entry_block(first)) + count(entry_block(second))
    selection = assemble(world(first, second), named("a", "b"), [], chapter=None,
                         budget=budget, count=count)
    assert [h.id for h in selection.entries] == ["a"]
    assert [(h.id, h.tokens) for h in selection.dropped] == [("b", count(entry_block(second)))]
    assert selection.tokens <= budget


def test_direct_matches_fill_the_budget_before_related_entries():
    w = world(make("a", related=("r",)), make("r"), make("d"))
    block = words(entry_block(make("a")))
    selection = run(w, named("a", "d"), budget=words(header_line("test")) + 2 * block)
    assert [h.id for h in selection.entries] == ["a", "d"]
    assert [(h.id, h.trigger) for h in selection.dropped] == [("r", "related")]


def test_priority_orders_entries_within_a_tier_never_across_tiers():
    w = world(make("a", related=("r",)), make("r", priority=10), make("d", priority=5),
              make("v", priority=99))
    block = words(entry_block(make("a")))
    selection = run(w, named("a", "d"), [("v", 0.9)],
                    budget=words(header_line("test")) + 2 * block)
    assert [(h.id, h.trigger) for h in selection.entries] == [("a", "name"), ("d", "name")]
    assert [h.id for h in selection.dropped] == ["r", "v"]
    first = run(w, named("a", "d"), budget=words(header_line("test")) + block)
    assert [h.id for h in first.entries] == ["d"]  # the higher priority of the two named


def test_a_loose_word_counts_only_where_something_backs_it():
    from retrieval.select import corroborated

    w = world(make("places/bridge"), make("characters/calder"), make("places/ship",
              related=("places/bridge",)), make("tech/coral"))
    bridge = KeywordHit("places/bridge", "alias", 1, 0, loose=True)
    coral = KeywordHit("tech/coral", "alias", 1, 0, loose=True)
    calder = KeywordHit("characters/calder", "name", 1, 0)

    def kept(hits, about=()):
        return [h.entry_id for h in corroborated(w, hits, about)]

    assert kept([bridge, coral]) == []  # "the bridge would reopen": nothing else of the world
    assert kept([calder, bridge]) == ["characters/calder", "places/bridge"]  # a scene of it
    assert kept([bridge, coral], about={"places/bridge"}) == ["places/bridge"]
    assert kept([bridge], about={"places/ship"}) == ["places/bridge"]  # related, either way
    weak = KeywordHit("characters/calder", "name", 1, 0, weak=True)
    assert kept([weak, coral]) == ["characters/calder"]  # a weak hit is no backing
    # "the tower" in lowercase for "the Tower": only the text's own words can back it
    tower = KeywordHit("places/bridge", "alias", 1, 0, loose=True, lowered=True)
    assert kept([calder, tower]) == ["characters/calder"]
    assert kept([calder, tower], about={"places/bridge"}) == ["characters/calder", "places/bridge"]
    # ... or a named entry the world links to it: "the captain's chair" beside his ship
    ship = KeywordHit("places/ship", "name", 1, 0)
    assert kept([ship, tower]) == ["places/ship", "places/bridge"]
    assert kept([KeywordHit("places/ship", "key", 1, 0), tower]) == ["places/ship"]  # a topic


def test_linked_is_one_hop_either_way():
    from retrieval.select import backlinks, linked

    w = world(make("a", related=("b",)), make("b", related=("c",)), make("c"), make("d"))
    assert backlinks(w) == {"b": {"a"}, "c": {"b"}}
    assert linked(w, {"b"}) == {"a", "b", "c"}
    assert linked(w, {"d"}) == {"d"}
    assert linked(w, {"c"}, backlinks(w)) == {"b", "c"}


def test_a_related_entry_may_come_in_on_both_signals_ranking_it_high():
    w = world(make("a", related=("b", "c")), make("b"), make("c"))
    hits = {h.id: h.trigger for h in assemble(w, named("a"), [], chapter=None, budget=1000,
                                              count=words, vouched=set(), agreed={"c"}).entries}
    assert hits == {"a": "name", "c": "related"}


def test_a_related_character_comes_in_only_when_introduced():
    w = world(make("c/calder", related=("c/marcus", "f/concord")),
              Entry(id="c/marcus", name="c/marcus", type="character", body="About Marcus."),
              make("f/concord"))
    hits = {h.id: h.trigger for h in assemble(w, named("c/calder"), [], chapter=None,
                                              budget=1000, count=words).entries}
    assert hits == {"c/calder": "name", "f/concord": "related"}  # never a person by a link
    hits = {h.id: h.trigger for h in assemble(w, named("c/calder"), [], chapter=None,
                                              budget=1000, count=words,
                                              introduced={"c/marcus"}).entries}
    assert hits == {"c/calder": "name", "c/marcus": "related", "f/concord": "related"}
