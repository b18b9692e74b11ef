"""Cut cleaned prose into training passages on scene and paragraph boundaries.

Structure first: chapter headings (`# Chapter 3: …`, `Chapter Twelve`, `Prologue`) and
scene breaks (`***`, `* * *`, `#`, `---`, `⁂`) split a file into chapters and scenes;
blank lines split paragraphs (hard-wrapped lines are joined). Then each scene becomes
passages of `min_tokens..max_tokens` counted with the base model's tokenizer: scenes
shorter than `min_tokens` are joined with a neighbouring scene of the same chapter (the
break line kept), longer ones are cut between paragraphs into near-even parts that keep
as much prose as possible, and a paragraph longer than `max_tokens` is cut at sentence
ends. What still falls under `min_tokens` is dropped and counted with its reason.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

CountTokens = Callable[[Sequence[str]], list[int]]

_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    "fifteen|sixteen|seventeen|eighteen|nineteen|twenty|[0-9]+|[ivxlc]+"
)
_HEADING = re.compile(
    rf"^\s*(?:#{{1,6}}\s+\S.*|(?:chapter|part|book)\s+(?:{_NUMBER_WORDS})\b[^.!?]*"
    r"|(?:prologue|epilogue|interlude)\b[^.!?]*)$",
    re.IGNORECASE,
)
_SCENE_BREAK = re.compile(r"^\s*(?:(?:[*~=_•·-]\s*){3,}|#|⁂|§)\s*$")
_QUOTE_OPENERS = "\"“‘'«"
SEPARATOR_TOKENS = 2  # "\n\n" between paragraphs is two newline tokens in BPE vocabularies
_SENTENCE_END = re.compile(r"([.!?…]+[\"”’')\]]*)\s+(?=[\"“‘'(\[]?[A-Z0-9])")


@dataclass
class Scene:
    source: str
    chapter: int
    index: int
    paragraphs: list[str] = field(default_factory=list)
    break_line: str = "***"


@dataclass
class Passage:
    text: str
    tokens: int
    source: str
    chapter: int
    order: int  # position within the chapter, so "continue the story" can find the one before

    @property
    def group(self) -> str:
        return f"{self.source}#chapter-{self.chapter}"


@dataclass
class ChunkReport:
    passages: list[Passage] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    dropped_tokens: int = 0
    paragraphs_split: int = 0


def split_structure(text: str, source: str) -> list[Scene]:
    """Chapters and scenes of one cleaned file, each scene a list of paragraphs."""
    scenes: list[Scene] = []
    chapter, scene = 0, Scene(source, 0, 0)
    lines: list[str] = []

    def end_paragraph() -> None:
        if lines:
            scene.paragraphs.append(" ".join(lines))
            lines.clear()

    def end_scene(next_chapter: int, break_line: str) -> Scene:
        end_paragraph()
        if scene.paragraphs:
            scenes.append(scene)
        index = scene.index + 1 if next_chapter == scene.chapter else 0
        return Scene(source, next_chapter, index, break_line=break_line)

    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            end_paragraph()
        elif _SCENE_BREAK.match(line):
            scene = end_scene(chapter, line)
        elif _HEADING.match(line) and len(line) <= 80:
            chapter += 1
            scene = end_scene(chapter, "***")
        else:
            lines.append(line)
    end_scene(chapter, "***")
    return scenes


def split_sentences(paragraph: str) -> list[str]:
    marked = _SENTENCE_END.sub(lambda m: m.group(1) + "\x00", paragraph)
    return [s.strip() for s in marked.split("\x00") if s.strip()]


def _split_long(paragraph: str, tokens: int, max_tokens: int, count: CountTokens) -> list[str]:
    """A paragraph over max_tokens as pieces cut at sentence ends (words only as a last resort)."""
    sentences = split_sentences(paragraph)
    sizes = count(sentences)
    pieces: list[str] = []
    current: list[str] = []
    used = 0
    for sentence, size in zip(sentences, sizes, strict=True):
        if size > max_tokens:  # one enormous sentence: cut between words
            words = sentence.split()
            per_piece = max(1, int(len(words) * max_tokens / size * 0.9))
            pieces.extend(
                " ".join(words[i : i + per_piece]) for i in range(0, len(words), per_piece)
            )
            continue
        if current and used + size + 1 > max_tokens:  # +1: the space between sentences
            pieces.append(" ".join(current))
            current, used = [], 0
        current.append(sentence)
        used += size + 1
    if current:
        pieces.append(" ".join(current))
    return pieces


def _span(counts: list[int]) -> int:
    return sum(counts) + SEPARATOR_TOKENS * max(0, len(counts) - 1)


def spoken(paragraph: str) -> bool:
    """Whether a paragraph opens inside a quotation (a line of dialogue)."""
    return paragraph.lstrip()[:1] in _QUOTE_OPENERS


def partition(
    sizes: list[int], min_tokens: int, max_tokens: int, spoken_starts: Sequence[bool] = ()
) -> list[tuple[int, int]]:
    """Contiguous paragraph ranges, each min..max tokens, covering as much as possible.

    Dynamic programming over paragraph boundaries: first maximise the tokens kept, then
    prefer parts that do not open on a line of dialogue (`spoken_starts[i]`: paragraph i
    does; each such start costs more than any part's distance from an even share can), then
    parts close to an even share of the block. Paragraphs left out are the ones that cannot
    be part of any in-bounds passage.
    """
    penalty = float(max_tokens) ** 2
    prefix = [0]
    for size in sizes:
        prefix.append(prefix[-1] + size)

    def tokens(a: int, b: int) -> int:
        return prefix[b] - prefix[a] + SEPARATOR_TOKENS * (b - a - 1)

    total = tokens(0, len(sizes)) if sizes else 0
    target = total / max(1, math.ceil(total / max_tokens))
    # best[i] = (tokens kept, -unevenness, where the last part starts or -1) for the
    # first i paragraphs; back-pointers instead of lists keep this linear in practice.
    best: list[tuple[int, float, int]] = [(0, 0.0, -1)]
    for i in range(1, len(sizes) + 1):
        candidate = (best[i - 1][0], best[i - 1][1], -1)  # leave paragraph i-1 out
        j = i - 1
        while j >= 0 and tokens(j, i) <= max_tokens:
            size = tokens(j, i)
            if size >= min_tokens:
                cost = (size - target) ** 2 + (penalty if j < len(spoken_starts)
                                               and spoken_starts[j] else 0.0)
                # what is kept is the prose; the separators inside a part only bound its size
                option = (best[j][0] + prefix[i] - prefix[j], best[j][1] - cost, j)
                if option[:2] > candidate[:2]:
                    candidate = option
            j -= 1
        best.append(candidate)
    ranges: list[tuple[int, int]] = []
    i = len(sizes)
    while i > 0:
        start = best[i][2]
        if start < 0:
            i -= 1
        else:
            ranges.append((start, i))
            i = start
    return ranges[::-1]


def _gaps(ranges: list[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    gaps, start = [], 0
    for a, b in ranges:
        if a > start:
            gaps.append((start, a))
        start = b
    if start < length:
        gaps.append((start, length))
    return gaps


def chunk_scenes(
    scenes: list[Scene], count: CountTokens, min_tokens: int, max_tokens: int,
    narration_starts: bool = False,
) -> ChunkReport:
    """Passages of min..max tokens from each scene; with `narration_starts`, cut where the next
    paragraph is narration rather than a line of dialogue, where the passages' sizes allow.
    A passage is a scene request's answer, and a novel's scenes seldom open mid-conversation:
    trained on passages that do (41% of one author's), a voice opened most replies with a
    quotation mark and wrote whole paragraphs inside it."""
    report = ChunkReport()
    flat = [p for s in scenes for p in s.paragraphs]
    sizes = dict(zip(flat, count(flat), strict=True)) if flat else {}

    blocks: list[tuple[Scene, list[str], list[int]]] = []
    for scene in scenes:
        paragraphs: list[str] = []
        counts: list[int] = []
        for paragraph in scene.paragraphs:
            size = sizes[paragraph]
            if size > max_tokens:
                report.paragraphs_split += 1
                pieces = _split_long(paragraph, size, max_tokens, count)
                paragraphs.extend(pieces)
                counts.extend(count(pieces))
            else:
                paragraphs.append(paragraph)
                counts.append(size)
        previous = blocks[-1] if blocks else None
        # A short scene joins its neighbour in the same chapter (forward if the block so
        # far is short, backward if it is), so short scenes become passages, not losses.
        joinable = (
            previous is not None
            and previous[0].source == scene.source
            and previous[0].chapter == scene.chapter
            and min(_span(previous[2]), _span(counts)) < min_tokens
        )
        if joinable and previous is not None:
            previous[1].extend([scene.break_line, *paragraphs])
            previous[2].extend([2, *counts])
        else:
            blocks.append((scene, paragraphs, counts))

    order: Counter[tuple[str, int]] = Counter()
    for scene, paragraphs, counts in blocks:
        starts = [spoken(p) for p in paragraphs] if narration_starts else []
        ranges = partition(counts, min_tokens, max_tokens, starts)
        for start, end in _gaps(ranges, len(counts)):
            whole = (start, end) == (0, len(counts))
            reason = (
                "scene shorter than min_tokens"
                if whole
                else "paragraphs that fit no passage of min..max tokens"
            )
            report.dropped[reason] += 1
            report.dropped_tokens += sum(counts[start:end])
        for start, end in ranges:
            tokens = sum(counts[start:end]) + SEPARATOR_TOKENS * (end - start - 1)
            key = (scene.source, scene.chapter)
            text = "\n\n".join(paragraphs[start:end])
            report.passages.append(Passage(text, tokens, scene.source, scene.chapter, order[key]))
            order[key] += 1
    return report
