from collections import Counter

from training.style import vocabulary

AUTHOR = " ".join(
    ["The coolant hummed and Elena checked the manifold seam again."] * 20
    + ["Patience watched the fold coils and said nothing about the seam."] * 20
)


def test_log_odds_favour_words_overused_against_the_background():
    counts = Counter({"the": 60, "seam": 40, "cat": 1})
    background = {"the": 0.06, "seam": 1e-6, "cat": 1e-5}
    z = vocabulary.log_odds_z(counts, background, background_size=1e7)
    assert z["seam"] > 3 > z["the"]
    assert z["seam"] > z["cat"]


def test_characteristic_terms_are_distinctive_not_merely_frequent():
    terms = vocabulary.characteristic_terms(AUTHOR)
    assert {"seam", "manifold", "coolant", "elena"} <= set(terms)
    assert "the" not in terms
    assert any(" " in t for t in terms), "phrases should be found too"


def test_vocabulary_match_is_the_share_of_terms_used():
    terms = ["seam", "coolant", "fold coils", "heathcliff"]
    used = vocabulary.window_vocabularies("The seam held. The fold coils cooled.")
    assert vocabulary.vocabulary_match(used, terms) == 0.5
    assert vocabulary.vocabulary_match(used, []) == 0.0
