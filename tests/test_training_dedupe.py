import random

from training.dedupe import dedupe

VOCAB = [f"w{i}" for i in range(500)]


def text(seed: int, n: int = 200) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(VOCAB) for _ in range(n))


def test_exact_and_near_duplicates_go_distinct_texts_stay() -> None:
    a, b, c = text(1), text(2), text(3)
    near = a.split()
    near[100] = "changed"  # one word in 200: Jaccard of 5-shingles stays ~0.95
    texts = [a, b, "  " + a.upper() + " ", " ".join(near), c]
    result = dedupe(texts, threshold=0.8)
    assert result.keep == [0, 1, 4]
    assert (result.exact, result.near) == (1, 1)


def test_same_input_same_answer_across_calls() -> None:
    texts = [text(i) for i in range(20)] + [text(3)]
    assert dedupe(texts).keep == dedupe(texts).keep == list(range(20))
