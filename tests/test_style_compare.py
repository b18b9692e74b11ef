from training.style import compare


def run(model: str, overall: float, delta: float, share: float, ppl: float | None) -> dict:
    return {
        "model": model,
        "overall_score": overall,
        "metrics": {"function_word_delta": delta, "dialogue_share": share,
                    "vocabulary_match": 0.2},
        "reference": {"dialogue_share": 0.34},
        "author_ceiling": {"overall_score": 90.0},
        "perplexity": None if ppl is None else {"perplexity": ppl},
    }


def test_rows_pick_the_model_closer_to_the_author():
    base, tuned = run("base", 20.0, 1.1, 0.05, 30.0), run("tuned", 45.0, 0.9, 0.40, 12.0)
    by_label = {r.label: r for r in compare.rows(base, tuned)}

    assert by_label["overall score (0-100)"].closer == "B"
    assert by_label["overall score (0-100)"].author == 90.0
    assert by_label["Cosine Delta, function words"].closer == "B"
    assert by_label["dialogue share"].closer == "B", "0.40 is nearer the author's 0.34"
    assert by_label["vocabulary match"].closer == "tie"
    assert by_label["held-out perplexity"].closer == "B"
    assert by_label["mean sentence length"].closer == "-"


def test_table_shows_deltas_and_the_verdict():
    table = compare.table(run("base", 20.0, 1.1, 0.05, None), run("tuned", 45.0, 0.9, 0.4, None))

    assert "25.0" in table  # overall B - A
    assert table.splitlines()[-1] == (
        "closer to the author: tuned (overall 20.0 vs 45.0; Cosine Delta agrees: 1.100 vs 0.900)"
    )


def test_verdict_reports_when_delta_disagrees():
    verdict = compare.verdict(run("base", 50.0, 0.8, 0.3, None), run("tuned", 40.0, 0.9, 0.3, None))
    assert verdict.startswith("closer to the author: base")
    assert "agrees" in verdict
