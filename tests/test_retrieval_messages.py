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
