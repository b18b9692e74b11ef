from collections.abc import Sequence

from training.chunking import chunk_scenes, split_sentences, split_structure


def words(texts: Sequence[str]) -> list[int]:
    """A stand-in tokenizer: one token per word, easy to reason about."""
    return [len(t.split()) for t in texts]


def para(n: int, tag: str) -> str:
    return " ".join(f"{tag}{i}." if i % 8 == 7 else f"{tag}{i}" for i in range(n))


def test_structure_finds_chapters_scenes_and_joins_wrapped_lines() -> None:
    text = "# Chapter 1: A\n\nOne line\nwrapped here.\n\n***\n\nScene two.\n\nChapter Two\n\nNext."
    scenes = split_structure(text, "f.md")
    assert [(s.chapter, s.index) for s in scenes] == [(1, 0), (1, 1), (2, 0)]
    assert scenes[0].paragraphs == ["One line wrapped here."]
    assert scenes[1].break_line == "***"


def test_prose_that_starts_like_a_heading_is_not_one() -> None:
    scenes = split_structure("Part of her wanted to run.\n\nChapter and verse, she said.", "f")
    assert len(scenes) == 1 and len(scenes[0].paragraphs) == 2


def test_passages_stay_in_bounds_and_never_cut_a_paragraph() -> None:
    paragraphs = [para(n, f"p{k}w") for k, n in enumerate([30, 45, 20, 60, 25, 40, 35, 50])]
    text = "# Chapter 1\n\n" + "\n\n".join(paragraphs)
    report = chunk_scenes(split_structure(text, "f"), words, min_tokens=60, max_tokens=120)
    assert len(report.passages) >= 2
    for passage in report.passages:
        assert 60 <= passage.tokens <= 120
        for piece in passage.text.split("\n\n"):
            assert piece in paragraphs
    kept = {piece for p in report.passages for piece in p.text.split("\n\n")}
    assert kept == set(paragraphs)


def test_long_paragraph_is_cut_at_sentence_ends() -> None:
    long = " ".join(f"Sentence {i} has five words." for i in range(60))  # 300 words
    report = chunk_scenes(split_structure(long, "f"), words, min_tokens=50, max_tokens=100)
    assert report.paragraphs_split == 1
    for passage in report.passages:
        assert passage.tokens <= 100
        assert passage.text.endswith(".")
        assert passage.text.startswith("Sentence")


def test_short_scenes_join_and_short_tails_are_dropped_with_a_reason() -> None:
    text = "# Chapter 1\n\n" + para(20, "a") + "\n\n***\n\n" + para(25, "b")
    report = chunk_scenes(split_structure(text, "f"), words, min_tokens=40, max_tokens=100)
    assert len(report.passages) == 1
    assert "***" in report.passages[0].text
    tiny = "# Chapter 1\n\n" + para(5, "c") + "\n\n# Chapter 2\n\n" + para(80, "d")
    report = chunk_scenes(split_structure(tiny, "f"), words, min_tokens=40, max_tokens=100)
    assert report.dropped["scene shorter than min_tokens"] == 1
    assert report.dropped_tokens == 5
    assert [p.chapter for p in report.passages] == [2]


def test_sentences_keep_their_closing_quotes() -> None:
    assert split_sentences('"Noted." She left. Why? "Because."') == [
        '"Noted."', "She left.", "Why?", '"Because."'
    ]


def test_with_narration_starts_passages_open_on_narration_where_sizes_allow() -> None:
    # a conversation: a narration paragraph, then dialogue lines, over and over
    paragraphs = []
    for k in range(8):
        paragraphs.append(para(25, f"n{k}w"))
        paragraphs += [f"\u201c{para(12, f'd{k}{i}w')}\u201d" for i in range(3)]
    text = "# Chapter 1\n\n" + "\n\n".join(paragraphs)
    scenes = split_structure(text, "f")
    plain = chunk_scenes(scenes, words, min_tokens=60, max_tokens=120)
    led = chunk_scenes(scenes, words, min_tokens=60, max_tokens=120, narration_starts=True)
    for report in (plain, led):  # the same prose kept, every paragraph of it
        assert {piece for p in report.passages for piece in p.text.split("\n\n")} == set(
            paragraphs)
    assert any(p.text.startswith("\u201c") for p in plain.passages)  # the cut fell mid-talk
    assert not any(p.text.startswith("\u201c") for p in led.passages)
    for passage in led.passages:
        assert 60 <= passage.tokens <= 120
