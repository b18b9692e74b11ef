import numpy as np
import pytest

from training.style import corpora, stylometry, text


def test_cosine_delta_is_zero_for_identical_and_two_for_opposite_profiles():
    z = np.array([1.0, -2.0, 0.5])
    assert stylometry.cosine_delta(z, z) == pytest.approx(0)
    assert stylometry.cosine_delta(z, -z) == pytest.approx(2)


def test_reference_space_is_z_scored_over_several_authors():
    space = stylometry.function_word_space()
    assert len(stylometry.reference_windows()) > 100
    assert {"the", "and", "of"} <= set(space.features)
    assert (space.std > 0).all()
    zs = np.array([stylometry.function_word_z(w) for w in stylometry.reference_windows()])
    assert np.allclose(zs.mean(axis=0), 0, atol=1e-9)


def test_same_author_window_is_closer_than_another_author():
    books = corpora.fiction_by_author()
    emily = text.windows(books["Emily Bronte"], 2000)
    dostoevsky = text.windows(books["Dostoevsky"], 2000)
    profile = stylometry.function_word_z("\n\n".join(emily[:6]))
    chars = stylometry.char_ngram_z("\n\n".join(emily[:6]))
    held_out, other = emily[-1], dostoevsky[-1]
    assert stylometry.cosine_delta(stylometry.function_word_z(held_out), profile) < (
        stylometry.cosine_delta(stylometry.function_word_z(other), profile)
    )
    assert stylometry.cosine_delta(stylometry.char_ngram_z(held_out), chars) < (
        stylometry.cosine_delta(stylometry.char_ngram_z(other), chars)
    )
