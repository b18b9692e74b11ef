"""The pure pieces: budget arithmetic and lore placement."""

from __future__ import annotations

from gateway.budget import LORE_WRAPPER_TOKENS, fit, lore_room, prompt_token_bound, reply_tokens
from gateway.inject import inject_chat, inject_completion


def test_lore_room_is_what_prompt_and_reply_leave():
    room = lore_room(max_model_len=4096, prompt_tokens=1000, reply_tokens=1000)
    assert room == 4096 - 2000 - LORE_WRAPPER_TOKENS
    assert lore_room(max_model_len=100, prompt_tokens=90, reply_tokens=50) == 0
    assert lore_room(max_model_len=None, prompt_tokens=10**9, reply_tokens=0) is None


def test_fit_takes_the_smaller_of_wish_and_room():
    assert fit(800, 300) == 300
    assert fit(800, None) == 800
    assert fit(200, 300) == 200


def test_byte_bound_is_never_below_the_real_token_count():
    from tokenizers import Tokenizer

    from tests.conftest import REPO

    tok = Tokenizer.from_file(str(REPO / "models/SmolLM2-135M-Instruct/tokenizer.json"))
    for text in ["Elena's arm ached.", "星の海 🚀 «Ἀρκτοῦρος»", "x" * 5000, "a b " * 300]:
        messages = [{"role": "user", "content": text}]
        assert prompt_token_bound(messages) >= len(tok.encode(text).ids)


def test_reply_tokens_prefers_max_completion_tokens():
    assert reply_tokens({"max_completion_tokens": 10, "max_tokens": 99}, 512) == 10
    assert reply_tokens({"max_tokens": 99}, 512) == 99
    assert reply_tokens({}, 512) == 512


def test_inject_chat_keeps_the_callers_list_and_parts():
    messages = [{"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
                {"role": "user", "content": "hi"}]
    out = inject_chat(messages, "LORE")
    assert out[0]["content"][-1] == {"type": "text", "text": "\n\nLORE"}
    assert messages[0]["content"] == [{"type": "text", "text": "Be brief."}]
    assert inject_chat(messages, "") is messages


def test_inject_completion_prefixes_text_prompts_only():
    assert inject_completion("Once", "LORE") == "LORE\n\nOnce"
    assert inject_completion(["a", "b"], "L") == ["L\n\na", "L\n\nb"]
    assert inject_completion([1, 2, 3], "L") == [1, 2, 3]
