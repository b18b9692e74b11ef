"""Plain-text segmentation shared by every style metric: words, sentences, paragraphs, windows.

Text is normalised first so that typography the model cannot control does not count as style:
curly quotes become straight ones, `--` becomes an em dash, and hard-wrapped lines inside a
paragraph are joined. Headings (all-caps lines, `# Chapter 1`, `***`) are dropped.
"""

import re

_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "\u00a0": " "})
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
# Titles before a capitalised name end with a full stop but do not end the sentence.
_ABBREVIATIONS = re.compile(r"\b(Mr|Mrs|Ms|Dr|St|Mme|Mlle|Prof|Capt|Col|Gen|Lt|Sgt|Rev|Jr|Sr)\.")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_HEADING = re.compile(r"^(#.*|\*+|[-=_*\s]+|chapter\s+\S+.*)$", re.IGNORECASE)


def normalise(text: str) -> str:
    text = text.translate(_QUOTES).replace("\r\n", "\n").replace("--", "—")
    return text.strip()


def words(text: str) -> list[str]:
    """Lower-cased word tokens; apostrophes stay inside words (`don't`, `Elena's`)."""
    return [w.lower() for w in _WORD.findall(normalise(text))]


def _is_heading(paragraph: str) -> bool:
    letters = [c for c in paragraph if c.isalpha()]
    shouting = len(letters) > 1 and all(c.isupper() for c in letters)
    return shouting or bool(_HEADING.match(paragraph))


def paragraphs(text: str) -> list[str]:
    """Paragraphs with hard line wraps joined.

    Blank lines separate paragraphs; a text without any blank line but with several lines (as
    chat models often write) is taken to have one paragraph per line.
    """
    text = normalise(text)
    blocks = _BLANK_LINE.split(text) if _BLANK_LINE.search(text) else text.split("\n")
    joined = (" ".join(line.strip() for line in block.split("\n")).strip() for block in blocks)
    return [p for p in joined if p and not _is_heading(p)]


def sentences(text: str) -> list[str]:
    found: list[str] = []
    for paragraph in paragraphs(text):
        masked = _ABBREVIATIONS.sub(r"\1<dot>", paragraph)
        found += [s.replace("<dot>", ".") for s in _SENTENCE_END.split(masked) if s.strip()]
    return found


def sentence_lengths(text: str) -> list[int]:
    return [n for n in (len(words(s)) for s in sentences(text)) if n > 0]


def paragraph_lengths(text: str) -> list[int]:
    return [n for n in (len(words(p)) for p in paragraphs(text)) if n > 0]


def prose(text: str) -> str:
    """The text as clean paragraphs separated by blank lines (the form every metric reads)."""
    return "\n\n".join(paragraphs(text))


def windows(text: str, size: int) -> list[str]:
    """Consecutive non-overlapping chunks of whole paragraphs holding at least `size` words.

    Cutting at paragraph boundaries keeps paragraph and dialogue metrics meaningful; the last
    chunk is dropped when it is shorter than `size`.
    """
    chunks: list[str] = []
    current: list[str] = []
    count = 0
    for paragraph in paragraphs(text):
        current.append(paragraph)
        count += len(words(paragraph))
        if count >= size:
            chunks.append("\n\n".join(current))
            current, count = [], 0
    return chunks


def even_windows(text: str, size: int) -> list[str]:
    """All of `text` in max(1, words // size) chunks of whole paragraphs, as equal as they come.

    Unlike `windows`, nothing is dropped: every chunk holds at least about `size` words when the
    text has that many, so per-chunk metrics stay on the scale they were calibrated at.
    """
    found = paragraphs(text)
    sizes = [len(words(p)) for p in found]
    count = max(1, sum(sizes) // size)
    target = sum(sizes) / count
    chunks: list[list[str]] = [[]]
    filled = 0
    for paragraph, n in zip(found, sizes, strict=True):
        if filled >= target * len(chunks) and len(chunks) < count:
            chunks.append([])
        chunks[-1].append(paragraph)
        filled += n
    return ["\n\n".join(chunk) for chunk in chunks if chunk]
