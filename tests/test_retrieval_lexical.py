"""BM25 over entries, and how the two signals (words, meaning) judge a text against the field."""

from retrieval.entry import Entry
from retrieval.lexical import LexicalIndex, terms
from retrieval.semantic import Evidence, Standing, admit, standing


def make(entry_id: str, body: str, **fields) -> Entry:
    return Entry(id=entry_id, name=entry_id.title(), type="place", body=body, **fields)


ENTRIES = [
    make("school", "The schoolroom where Miss Pryce keeps the attendance register and chalk."),
    make("light", "The lighthouse lantern and its great lens, polished every dawn."),
    make("pier", "The new pier of the steam company, planked in pitch pine."),
    make("chapel", "A cold chapel with a gallery and a pulpit."),
]


def test_terms_drop_stop_words_plurals_and_possessives():
    assert terms("The lanterns of Daniel's lighthouse were lit") == [
        "lantern", "daniel", "lighthouse", "lit"]


def test_the_entry_that_shares_the_rarer_words_scores_highest():
    index = LexicalIndex(ENTRIES)
    scores = index.scores("She marks the register in chalk before the bell.")
    assert max(scores, key=scores.get) == "school"
    assert index.scores("the of and with") == {}  # nothing but stop words
    assert index.scores("register chalk") == index.scores("chalk register")  # order-free


def test_words_admit_only_what_stands_clear_of_the_field():
    entries = {e.id: e for e in ENTRIES}
    clear = Evidence(words=Standing([("school", 20.0), ("light", 3.0), ("pier", 2.0)], 3.0))
    flat = Evidence(words=Standing([("school", 6.0), ("light", 5.0), ("pier", 4.0)], 5.0))
    kwargs = {"threshold": 0.3, "margin": 0.1, "alone": 0.2, "words_ratio": 3.0,
              "words_min": 8.0, "words_support": 2.5, "top_k": 1}
    assert admit(clear, entries, **kwargs) == [("school", 20.0)]
    assert admit(flat, entries, **kwargs) == []
    assert admit(clear, entries, **{**kwargs, "top_k": 0}) == []
    assert admit(clear, entries, exclude={"school"}, **kwargs) == []


def test_meaning_alone_needs_a_wide_lead_and_otherwise_the_words_agreeing():
    entries = {e.id: e for e in ENTRIES}
    kwargs = {"threshold": 0.3, "margin": 0.1, "alone": 0.2, "words_ratio": 3.0,
              "words_min": 8.0, "words_support": 2.5, "top_k": 1}
    modest = Standing([("chapel", 0.45), ("pier", 0.32)], 0.32)  # 0.13 clear
    wide = Standing([("chapel", 0.55), ("pier", 0.32)], 0.32)  # 0.23 clear
    agreeing = Standing([("chapel", 7.5), ("pier", 3.0)], 3.0)  # agrees, cannot admit alone
    assert admit(Evidence(meaning=modest), entries, **kwargs) == []
    assert admit(Evidence(meaning=wide), entries, **kwargs) == [("chapel", 0.55)]
    assert admit(Evidence(meaning=modest, words=agreeing), entries, **kwargs) == [
        ("chapel", 0.45)]


def test_the_field_is_the_median_of_the_closest_entries_with_a_floor():
    entries = {e.id: e for e in ENTRIES}
    assert standing({"school": 9.0, "light": 1.0, "pier": 0.5}, entries).field == 1.0
    assert standing({"school": 9.0}, entries, floor=2.0).field == 9.0
    assert standing({"school": 0.5}, entries, floor=2.0).field == 2.0
    assert standing({}, entries).ranked == []
