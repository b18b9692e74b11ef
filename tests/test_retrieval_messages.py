"""Which text of an OpenAI chat request lore is chosen from."""

from retrieval.messages import message_text, recent_texts


def test_content_forms():
    assert message_text("plain") == "plain"
    assert message_text(None) == ""
    parts = [{"type": "text", "text": "one"}, {"type": "image_url", "image_url": {}},
             {"type": "text", "text": "two"}]
    assert message_text(parts) == "one\ntwo"


def test_recent_turns_skip_system_and_empty_messages():
    messages = [
        {"role": "system", "content": "You are Patience."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "content": "tool output"},
        {"role": "assistant", "content": "second"},
        {"role": "user", "content": [{"type": "text", "text": "third"}]},
    ]
    assert recent_texts(messages, 6) == ["first", "second", "third"]
    assert recent_texts(messages, 2) == ["second", "third"]


def test_a_very_long_message_is_read_by_its_end_without_a_broken_word():
    from retrieval.messages import recent_texts

    text = "start " + "word " * 10_000 + "Elena ends it."
    (tail,) = recent_texts([{"role": "user", "content": text}], 6, max_chars=1000)
    assert len(tail) <= 1000 and tail.endswith("Elena ends it.")
    assert tail.split()[0] == "word"  # whole words only, the first one too
    (short,) = recent_texts([{"role": "user", "content": "Elena waits."}], 6, max_chars=1000)
    assert short == "Elena waits."
