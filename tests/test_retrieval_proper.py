"""Proper names a message uses that no entry is named by, and the entries whose text uses them."""

from pathlib import Path

from retrieval.entry import Entry
from retrieval.proper import entries_using, proper_phrases


def test_proper_phrases_leave_out_sentence_openers_names_and_ordinary_words() -> None:
    text = "Jonah Sterling reminds Mira, very politely, what falls due on Lady Day."
    assert proper_phrases(text, ["Jonah", "Sterling", "Mira"]) == {"Lady Day"}
    assert proper_phrases(text) == {"Mira", "Lady Day"}  # "Sterling": the first word goes
    assert proper_phrases("She remembers the Ganymede blockade.") == {"Ganymede"}
    # a sentence's first word, a weekday, an ordinary word capitalised: nothing
    assert proper_phrases("On Sunday they went to church. Hope was there.") == set()
    assert proper_phrases("The chapel was cold, and the company was small.") == set()
    # punctuation ends a run: two names, not one
    assert proper_phrases("They met Ganymede, Callisto and the rest.") == {"Ganymede", "Callisto"}


def test_entries_using_a_phrase_are_those_whose_own_text_has_it_whole() -> None:
    def entry(entry_id: str, body: str) -> Entry:
        return Entry(id=entry_id, name=entry_id, type="other", body=body, file=Path("."))

    entries = {e.id: e for e in (entry("a", "Repayable on Lady Day, 25 March."),
                                 entry("b", "The Lady Dayton affair."), entry("c", "Nothing."))}
    assert entries_using({"Lady Day"}, ["a", "b", "c"], entries) == {"a"}
    assert entries_using({"Lady Day"}, ["b", "c", "missing"], entries) == set()
    assert entries_using(set(), ["a"], entries) == set()
