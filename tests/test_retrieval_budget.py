"""Filling the token budget: whole entries first, whole sentences when shortened, never more."""

from retrieval.budget import Candidate, fill
from retrieval.entry import Entry
from retrieval.render import cut_points, entry_block, shortened


def words(text: str) -> int:
    return len(text.split())


def make(entry_id: str, body: str, priority: int = 0) -> Entry:
    return Entry(id=entry_id, name=entry_id.title(), type="lore", body=body, priority=priority)


LONG = ("First sentence has five words. Dr. Reyes said the second one is here. "
        "Third sentence is a bit longer than the others!\n\n"
        "## Details\n- a list item\n- another item\n\nA closing paragraph ends it.")


def test_cut_points_fall_on_sentence_and_paragraph_ends():
    cuts = [LONG[:point] for point in cut_points(LONG)]
    assert "First sentence has five words." in cuts
    assert all(not cut.endswith("Dr.") for cut in cuts)  # an abbreviation is not an end
    assert "First sentence has five words. Dr. Reyes said the second one is here." in cuts
    assert any(cut.endswith("- a list item") for cut in cuts)
    assert LONG in cuts


def test_shortened_drops_a_dangling_heading():
    point = LONG.index("## Details") + len("## Details")
    assert shortened(LONG, point).endswith("longer than the others!")


def test_everything_fits():
    entries = [Candidate(make("a", "One two three."), 1.0, "name"),
               Candidate(make("b", "Four five."), 0.5, "vector")]
    kept, dropped = fill(entries, budget=100, header="Header:", count=words)
    assert [p.candidate.entry.id for p in kept] == ["a", "b"]
    assert dropped == []


def test_entry_that_does_not_fit_is_shortened_to_whole_sentences():
    big = make("big", LONG)
    full = words(entry_block(big))
    budget = 1 + 30  # header + room for the heading line and a few sentences, not all
    kept, dropped = fill([Candidate(big, 1.0, "name")], budget, "Header:", lambda t: words(t))
    assert dropped == []
    text = kept[0].text
    assert kept[0].tokens < full and kept[0].shortened
    body = text.split("\n", 1)[1]
    assert body.endswith((".", "!"))  # ends on a whole sentence
    assert LONG.startswith(body)
    assert kept[0].tokens <= budget - 1


def test_entry_too_big_even_shortened_is_dropped_and_reported():
    big = make("big", "A single sentence that is really quite long " * 20 + ".")
    small = make("small", "Tiny.")
    kept, dropped = fill([Candidate(big, 2.0, "name"), Candidate(small, 1.0, "key")],
                         budget=30, header="Header:", count=words)
    assert [p.candidate.entry.id for p in kept] == ["small"]
    assert [(c.entry.id, tokens) for c, tokens in dropped] == [("big", words(entry_block(big)))]


def test_budget_is_never_exceeded():
    entries = [Candidate(make(f"e{i}", LONG), 1.0 / (i + 1), "name") for i in range(6)]
    for budget in (0, 5, 20, 47, 80, 200):
        kept, _ = fill(entries, budget, "Header:", words)
        used = words("Header:") + sum(p.tokens for p in kept)
        assert used <= budget or not kept
