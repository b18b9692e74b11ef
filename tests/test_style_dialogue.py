import pytest

from training.style import dialogue

SCENE = """"Run the survey," Elena said.

"Noted," said Patience. "It will take eleven minutes."

He looked at the display. Nobody spoke.

"Why?" she asked."""


def test_dialogue_share_counts_words_inside_quotes():
    profile = dialogue.dialogue_profile(SCENE)
    spoken = 3 + 1 + 5 + 1
    total = 5 + 8 + 7 + 3
    assert profile.share == pytest.approx(spoken / total)


def test_attribution_patterns_and_verbs():
    profile = dialogue.dialogue_profile(SCENE)
    assert profile.attributions == {"Elena said": 1, "said Patience": 1, "she asked": 1}
    assert profile.patterns["NAME said"] == pytest.approx(1 / 4)
    assert profile.patterns["said NAME"] == pytest.approx(1 / 4)
    assert profile.patterns["he said"] == pytest.approx(1 / 4)
    assert profile.patterns["unattributed"] == pytest.approx(1 / 4)
    assert profile.verbs["said"] == pytest.approx(2 / 3)
    assert profile.verbs["asked"] == pytest.approx(1 / 3)


def test_single_quote_dialogue_is_recognised():
    profile = dialogue.dialogue_profile("'Certainly, sir,' answered Arkady. It's late.")
    assert profile.attributions == {"answered Arkady": 1}
    assert profile.share == pytest.approx(2 / 6)


def test_distance_is_zero_for_the_same_text_and_grows_with_difference():
    same = dialogue.dialogue_profile(SCENE)
    narration = dialogue.dialogue_profile("He walked. The ship hummed. Nothing happened.")
    assert dialogue.dialogue_distance(same, same) == 0
    assert dialogue.dialogue_distance(narration, same) > 0.3
