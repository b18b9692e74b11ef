"""Prose -> tokens with what the checks need to know about each: where it is, which sentence
it is in, whether it is inside quoted speech, whether it opens a sentence.

One regex pass and one loop; no model. Quoted speech matters because characters say things
that are not so ("Marcus is dead, they say"), and narration is what the world's facts bind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A word keeps inner apostrophes and hyphens ("Ke'ra", "Sarrow-Tal", "forty-nine").
# Titles written with a full stop are one token and end no sentence ("Dr. Reyes").
_TOKEN = re.compile(r"(?:Dr|Mr|Mrs|Ms|Mx|St|Capt|Lt|Cmdr|Prof|Sgt)\.|[^\W\d_]+(?:['’][^\W\d_]+)*"
                    r"(?:-[^\W\d_]+)*|\d+|[\"“”.!?;:,—–()]")
_SENTENCE_END = frozenset(".!?")
_OPEN_QUOTES = frozenset("“")
_CLOSE_QUOTES = frozenset("”")


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    start: int  # character offsets in the checked text
    end: int
    sentence: int
    quoted: bool  # inside "..." or “...”
    opens: bool  # the first word of its sentence (or of a quotation)
    lower: str  # casefolded, curly apostrophes straightened; computed once, read often
    word: bool  # a word or number, not punctuation
    capital: bool


def _token(piece: str, start: int, sentence: int, quoted: bool, opens: bool) -> Token:
    word = piece[0].isalnum()
    return Token(piece, start, start + len(piece), sentence, quoted, opens and word,
                 piece.casefold().replace("’", "'"), word, piece[0].isupper())


@dataclass(frozen=True)
class Document:
    text: str
    tokens: tuple[Token, ...]  # punctuation included, so phrases don't run across it
    sentence_starts: tuple[int, ...]  # token index where each sentence begins

    def sentence_of(self, index: int) -> tuple[int, int]:
        """Token range [start, end) of the sentence holding token `index`."""
        number = self.tokens[index].sentence
        start = self.sentence_starts[number]
        end = (self.sentence_starts[number + 1] if number + 1 < len(self.sentence_starts)
               else len(self.tokens))
        return start, end

    def quote(self, start: int, end: int) -> str:
        """The text of tokens [start, end), as written."""
        return self.text[self.tokens[start].start:self.tokens[end - 1].end]


def analyse(text: str) -> Document:
    tokens: list[Token] = []
    sentence_starts = [0]
    sentence, quoted, opens = 0, False, True
    last_end = 0
    for match in _TOKEN.finditer(text):
        piece, start = match.group(), match.start()
        if "\n\n" in text[last_end:start] or ("\n" in text[last_end:start] and tokens
                                               and tokens[-1].text in _SENTENCE_END):
            quoted = False  # a paragraph break ends any quotation left open
            if tokens and tokens[-1].sentence == sentence:
                sentence += 1
                sentence_starts.append(len(tokens))
            opens = True
        last_end = match.end()
        if piece in ('"', "“", "”"):
            quoted = (not quoted) if piece == '"' else piece in _OPEN_QUOTES
            opens = opens or quoted
            tokens.append(_token(piece, start, sentence, True, False))
            continue
        tokens.append(_token(piece, start, sentence, quoted, opens))
        if piece[0].isalnum():
            opens = False
        elif piece in _SENTENCE_END:
            sentence += 1
            sentence_starts.append(len(tokens))
            opens = True
    if sentence_starts[-1] == len(tokens) and len(sentence_starts) > 1:
        sentence_starts.pop()
    return Document(text, tuple(tokens), tuple(sentence_starts))


def wordset(text: str) -> frozenset[str]:
    """A set of words written as one string: word lists stay readable in the source."""
    return frozenset(text.split())


def words_of(phrase: str) -> list[str]:
    """The words of a phrase as `analyse` cuts them."""
    return [w for w in _TOKEN.findall(phrase) if w[0].isalnum()]


def next_word(doc: Document, index: int, limit: int = 4) -> int | None:
    """Index of the first word token after `index`, stopping at punctuation other than a
    comma; None if there is none within `limit` tokens."""
    for j in range(index + 1, min(index + 1 + limit, len(doc.tokens))):
        if doc.tokens[j].word:
            return j
        if doc.tokens[j].text != ",":
            return None
    return None
