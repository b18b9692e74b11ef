"""Each check kind on passages that must and must not be flagged, and what a finding says."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.continuity import Checker
from retrieval.continuity.numbers import parse_number
from retrieval.continuity.text import analyse
from retrieval.world import load_world

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scifi() -> Checker:
    return Checker(load_world(REPO / "worlds" / "scifi_world"))


@pytest.fixture(scope="module")
def town() -> Checker:
    return Checker(load_world(REPO / "tests" / "data" / "continuity_world"))


def _found(checker: Checker, text: str, chapter: int | None) -> list[tuple[str, str, str]]:
    return [(f.kind, f.check, f.quote) for f in checker.check(text, chapter)]


@pytest.mark.parametrize(("text", "chapter", "expected"), [
    ("Will Tarrant hauled the boat up the slip.", 6, ("status", "status", "Will Tarrant")),
    ('"Out!" shouted Will, and they ran.', 9, ("status", "status", "Will")),
    ("Abel, back from the pier, lit his pipe.", 8, ("status", "status", "Abel")),
    ("Mira counted the floats.", 2, ("status", "introduced", "Mira")),
])
def test_status_flags_the_dead_the_gone_and_the_not_yet_arrived_acting(town, text, chapter,
                                                                        expected):
    assert _found(town, text, chapter) == [expected]


@pytest.mark.parametrize(("text", "chapter"), [
    ("Will Tarrant hauled the boat up the slip.", 4),  # alive then
    ("Liddy remembered how Will laughed.", 6),  # memory
    ('"Will went back out," Liddy said.', 6),  # dialogue
    ("Will's boots stood by the door.", 6),  # a possessive is no action
    ("Will had said the reef takes one a winter.", 6),  # past perfect
    ("Will would have laughed at it.", 6),  # modal
    ("They say Mercy Wren walks the reef at night.", 3),  # hearsay
    ("Mercy was not a word the sea knew.", 3),  # no action verb
    ("A letter came from Abel in Canada.", 9),  # named, not acting
    ("Mira counted the floats.", None),  # no chapter: nothing is scoped
])
def test_status_leaves_memories_talk_and_other_chapters_alone(town, text, chapter):
    assert _found(town, text, chapter) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("Elena flexed her cybernetic right arm.", ("attribute", "arm", "her cybernetic right arm")),
    ("She pressed Elena's right hand, the prosthetic one, to it.",
     ("attribute", "arm", "Elena's right hand, the prosthetic")),
    ("Elena rested her left hand, the flesh one, on it.",
     ("attribute", "arm", "her left hand, the flesh")),
    ("Hale smoothed his brown hair.", ("attribute", "hair", "his brown hair")),
    ("Brandt pushed his dark hair back.", ("attribute", "hair", "his dark hair")),
    ("Commander Okafor nodded.", ("attribute", "rank", "Commander Okafor")),
    ("Elena shook his head.", ("attribute", "pronouns", "Elena shook his head")),
    ("Hale braced herself.", ("attribute", "pronouns", "Hale braced herself")),
    ("Forty-year-old Elena climbed.", ("attribute", "age", "Forty-year-old Elena")),
    ("Hale was seventy, and tired.", ("attribute", "age", "Hale was seventy")),
])
def test_attributes_flag_what_the_facts_contradict(scifi, text, expected):
    assert _found(scifi, text, 5) == [expected]


@pytest.mark.parametrize("text", [
    "She put her left hand flat on the branch.",  # no marker: either hand
    "Elena took the right hand of the man beside her.",  # his hand
    "Elena flexed her left hand, the metal one.",  # right side
    "Elena pulled the glove over her right hand with her metal fingers.",  # marker elsewhere
    "The engineer beside Elena had a prosthetic right arm.",  # someone else's arm
    "Marcus looked at the woman at the door. Her brown hair was tied back.",  # her = woman
    "Hale's eyes were not green.",  # negation
    "Chief Vasquez checked the coils.",  # right title
    '"Commander Vasquez," Brandt said, grinning.',  # dialogue: titles are loose there
    "Elena shook his hand.",  # someone else's hand
    "Elena and Marcus shook their heads.",  # two subjects
    "Ke'ra Vonn folded his arms.",  # it accepts he/him too
    "When Elena was twenty she joined the navy.",  # flashback age
    "Elena was five minutes late.",  # not an age
    "Osk was about twenty-five.",  # approximate, within reach of 26
])
def test_attributes_leave_other_people_negation_and_dialogue_alone(scifi, text):
    assert _found(scifi, text, 5) == []


def test_a_finding_names_the_entry_the_fact_the_span_and_a_fix(scifi):
    text = "Later, Elena flexed her cybernetic right arm."
    (finding,) = scifi.check(text, 5)
    assert finding.entry == "characters/elena-vasquez"
    assert finding.fact == "arm: left, cybernetic"
    assert text[finding.start:finding.end] == finding.quote == "her cybernetic right arm"
    assert "left" in finding.fix and finding.message.startswith("Elena Vasquez's")


@pytest.mark.parametrize(("text", "misspelt", "entry"), [
    ("Elena Vasques checked it.", "Vasques", "characters/elena-vasquez"),
    ("Marcus Okafer came down.", "Okafer", "characters/marcus-okafor"),
    ("Kera Vonn raised a hand.", "Kera", "characters/kera-vonn"),
    ("Sarow-Tal went dark.", "Sarow-Tal", "characters/sarrow-tal"),
])
def test_near_miss_spellings_are_flagged(scifi, text, misspelt, entry):
    (finding,) = scifi.check(text, 5)
    assert (finding.kind, finding.quote, finding.entry) == ("spelling", misspelt, entry)


def test_a_near_miss_of_a_shared_surname_goes_to_the_one_named_beside_it(town):
    (finding,) = town.check("Mira Castel kept the books.", 4)
    assert (finding.quote, finding.entry) == ("Castel", "characters/mira-castell")


@pytest.mark.parametrize("text", [
    "Elegant, Hale thought.",  # ordinary word near 'Elena'
    "Hall lights dimmed.",  # ordinary word near 'Hale'
    "Elena Vásquez signed.",  # an accent is the same name
    "Dao and Keshet ran the loop.",  # names the world's text uses
    "Sefa was raised on Luna.",  # a place in an entry's text, near 'Lena'
    "Okafors had served for a century.",  # a plural
    "Brandy was what Jory Fenn drank.",  # ordinary word near 'Brandt'
])
def test_spelling_leaves_ordinary_words_and_known_names_alone(scifi, text):
    assert _found(scifi, text, 5) == []


def test_tokens_know_quotes_and_sentences():
    doc = analyse('"Go," Elena said. Dr. Reyes went.\n\nNew paragraph "open')
    by_text = {t.text: t for t in doc.tokens}
    assert by_text["Go"].quoted and not by_text["Elena"].quoted
    assert by_text["Dr."].opens and by_text["Dr."].sentence == by_text["Reyes"].sentence
    assert by_text["New"].opens and not by_text["New"].quoted


@pytest.mark.parametrize(("words", "value"), [
    (["forty-nine"], 49), (["forty", "nine"], 49), (["a", "hundred", "and", "ninety"], 190),
    (["58"], 58), (["twelve", "men"], 12),
])
def test_numbers_in_words(words, value):
    assert parse_number(words)[0] == value


def test_no_number_is_none():
    assert parse_number(["several"]) is None
