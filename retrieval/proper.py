"""Proper names a message uses that are no entry's trigger ("what falls due on Lady Day"), and
the entries whose own text uses them: a writer names the dates, feasts and minor places of an
entry as often as the entry itself. Pure: text and entries in, entry ids out.

A proper phrase is a run of two or more capitalised words, or one capitalised word that is not
an ordinary English word ("Ganymede"), not opening a sentence and not a name, alias or key of
any entry (those fire by themselves); "Sunday" alone or a sentence's first word says nothing.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from retrieval.entry import Entry
from retrieval.triggers import TriggerIndex, is_common_phrase

_WORD = re.compile(r"[A-Za-z][\w'’-]*")
_SENTENCE_GAP = re.compile(r"[.!?:;\"“”‘(\n]")
_CALENDAR = frozenset({
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january",
    "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december",
})


def proper_phrases(text: str, named_words: Collection[str] = ()) -> set[str]:
    """The proper phrases of `text`, leaving out runs made only of `named_words` (the words
    of the names, aliases and keys found in it)."""
    named = {word.lower() for word in named_words}
    found: set[str] = set()
    run: list[str] = []
    opens_run = False

    def close() -> None:
        words = run[1:] if opens_run else run  # a sentence's first word owes its capital to it
        if not words or all(word.lower() in named for word in words):
            return
        if len(words) >= 2 or not (is_common_phrase(words[0]) or words[0].lower() in _CALENDAR):
            found.add(" ".join(words))

    end = 0
    for match in _WORD.finditer(text):
        word, gap = match.group(), text[end:match.start()]
        opens = end == 0 or _SENTENCE_GAP.search(gap) is not None
        end = match.end()
        if run and gap.strip():  # punctuation between: a new run
            close()
            run = []
        if word[0].isupper():
            if not run:
                opens_run = opens
            run.append(word)
        elif run:
            close()
            run = []
    close()
    return found


def _body_uses(entry: Entry, phrase: str) -> bool:
    body, start = entry.body, 0
    while (at := body.find(phrase, start)) >= 0:  # a substring scan; whole words checked here
        end = at + len(phrase)
        if (at == 0 or not body[at - 1].isalnum()) and (end == len(body)
                                                         or not body[end].isalnum()):
            return True
        start = at + 1
    return False


def entries_using(phrases: Collection[str], candidates: Collection[str],
                  entries: Mapping[str, Entry]) -> set[str]:
    """Of `candidates`, the entries whose own text uses one of `phrases`, written the same."""
    return {entry_id for entry_id in candidates if entry_id in entries
            and any(_body_uses(entries[entry_id], phrase) for phrase in phrases)}


def sharing_a_name(entries: Mapping[str, Entry], triggers: TriggerIndex, text: str,
                   named: Collection[str], near: Collection[str]) -> tuple[set[str], set[str]]:
    """Of `near` (the entries linked to the `named` ones), those whose own text uses a proper
    name `text` uses and no entry is named by ("Jonah Sterling ... what falls due on Lady
    Day": the mortgage), and of the people among them the one it singles out, if one ("Ruth
    Calder remembers the Ganymede blockade": Marcus, who refused her order there)."""
    phrases = proper_phrases(text, triggers.spoken(text)[0])
    own = entries_using(phrases, near, entries) if phrases else set()
    people = {e for e in own - set(named) if entries[e].type == "character"}
    return own, people if len(people) == 1 else set()
