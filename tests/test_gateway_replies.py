"""Reading the reply text back out of what the upstream sent."""

from __future__ import annotations

import json

from gateway.replies import reply_from_json, reply_from_sse


def test_reply_from_sse_joins_the_first_choices_deltas():
    events = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
              {"choices": [{"index": 0, "delta": {"content": "Elena "}}]},
              {"choices": [{"index": 1, "delta": {"content": "other choice"}}]},
              {"choices": [{"index": 0, "delta": {"content": "said."}}]},
              {"choices": [], "usage": {"completion_tokens": 2}}]
    raw = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    assert reply_from_sse(raw + b"data: [DONE]\n\n") == "Elena said."


def test_reply_readers_survive_garbage():
    assert reply_from_sse(b"data: {broken\n\n: keep-alive\n\n") == ""
    assert reply_from_json(b"not json") == ""
    assert reply_from_json(b'{"choices": [{"message": {"content": "Noted."}}]}') == "Noted."
