from training.voice import analyse, system_prompt

CLIPPED = [
    '"Noted," Elena said.',
    "The ship breathed. She waited. The seam held and the coolant ran and the deck "
    "shook under her boots and she thought about Phobos and the forty-one people she had "
    "carried out of the dark.",
    "Still, she waited.",
]
ORNATE = [
    "Notwithstanding the considerable apprehension which accompanied their deliberations, "
    "the assembled dignitaries proceeded methodically through the extraordinary documentation."
]


def test_profile_measures_rhythm_dialogue_and_voice() -> None:
    profile = analyse(CLIPPED)
    assert profile.point_of_view == "third person" and profile.tense == "past tense"
    assert profile.short_sentence_share > 0.5
    assert profile.long_sentence_share > 0.0
    assert 0.0 < profile.dialogue_share < 0.2
    assert profile.one_line_paragraph_share > 0.6


def test_prompt_is_deterministic_and_tells_styles_apart() -> None:
    clipped, ornate = system_prompt(analyse(CLIPPED)), system_prompt(analyse(ORNATE))
    assert clipped == system_prompt(analyse(list(CLIPPED)))
    assert "rich, learned vocabulary" in ornate and "rich" not in clipped
    assert "swinging hard" in clipped
    assert "narration-led" in ornate
