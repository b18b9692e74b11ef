from training.style import text

WRAPPED = """# Chapter 1

The arm started aching at 0400,
ship time. Mr. Reyes was asleep.

“Patience,” Elena said.

***

She got up. She left."""


def test_paragraphs_join_wrapped_lines_and_drop_headings():
    assert text.paragraphs(WRAPPED) == [
        "The arm started aching at 0400, ship time. Mr. Reyes was asleep.",
        '"Patience," Elena said.',
        "She got up. She left.",
    ]


def test_text_without_blank_lines_has_one_paragraph_per_line():
    assert text.paragraphs("One line.\nAnother line.") == ["One line.", "Another line."]


def test_sentences_keep_titles_and_split_on_terminal_punctuation():
    assert text.sentences(WRAPPED) == [
        "The arm started aching at 0400, ship time.",
        "Mr. Reyes was asleep.",
        '"Patience," Elena said.',
        "She got up.",
        "She left.",
    ]
    assert text.sentence_lengths(WRAPPED) == [7, 4, 3, 3, 2]


def test_words_are_lower_case_and_keep_apostrophes():
    tokens = text.words("Don’t touch Elena's arm--now.")
    assert tokens == ["don't", "touch", "elena's", "arm", "now"]


def test_windows_hold_whole_paragraphs_and_drop_a_short_tail():
    passage = "\n\n".join(["one two three four"] * 5)
    chunks = text.windows(passage, 8)
    assert chunks == ["one two three four\n\none two three four"] * 2


def test_even_windows_keep_every_paragraph_in_near_equal_chunks():
    # 50 paragraphs of 99 words: the digits are not words
    passage = "\n\n".join(f"para {i} " + " ".join(["word"] * 98) for i in range(50))
    chunks = text.even_windows(passage, 2000)
    assert [len(text.words(c)) for c in chunks] == [2475, 2475]
    assert "\n\n".join(chunks) == passage
    assert text.even_windows("too short", 2000) == ["too short"]
