"""OCRBench, MathVista and multiple-choice scoring, and the aggregations, on hard cases."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from ps3_eval.records import ModelOutput, Sample, SampleResult
from ps3_eval.scoring import UNPARSED, get_scorer
from ps3_eval.scoring.aggregate import get_aggregation
from ps3_eval.scoring.mathvista import extract_rule_based, nearest_choice, normalize_extracted
from ps3_eval.scoring.ocrbench import ocrbench_match

# -- OCRBench ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "answers", "math", "right", "loose"),
    [
        ("Coffee", ["coffee"], False, True, False),  # case folded
        ("The text reads: COFFEE SHOP.", ["coffee shop"], False, True, False),  # verbose answer
        ("coffee\nshop", ["coffee shop"], False, True, False),  # line break is a space
        ("  coffee  ", ["Coffee"], False, True, False),
        ("10", ["1"], False, True, True),  # the official substring rule credits it: flagged
        ("1", ["10"], False, False, False),
        ("cofee", ["coffee"], False, False, False),
        ("ＣＯＦＦＥＥ", ["coffee"], False, False, False),  # full width is not folded upstream
        ("", ["coffee"], False, False, False),
        ("tea", ["coffee", "tea"], False, True, False),  # any reference answer
        ("x^{2}+1", ["x ^ { 2 } + 1"], True, True, False),  # HME: spaces dropped both sides
        ("X^{2}", ["x ^ { 2 }"], True, False, False),  # HME keeps case
        ("\\frac { a } { b }\n", ["\\frac{a}{b}"], True, True, False),
    ],
)
def test_ocrbench_rule(
    prediction: str, answers: list[str], math: bool, right: bool, loose: bool
) -> None:
    assert ocrbench_match(prediction, answers, handwritten_math=math) == (right, loose)


def test_ocrbench_scorer_uses_the_hme_variant_by_source_or_type() -> None:
    scorer = get_scorer("ocrbench")
    by_source = Sample(id="1", question="q", targets=["a b"], metadata={"dataset": "HME100k"})
    by_type = Sample(
        id="2",
        question="q",
        targets=["a b"],
        category="Handwritten Mathematical Expression Recognition",
    )
    plain = Sample(id="3", question="q", targets=["a b"], category="Regular Text Recognition")
    assert scorer("ab", by_source).values == {"ocrbench": 1.0}
    assert scorer("ab", by_type).values == {"ocrbench": 1.0}
    assert scorer("ab", plain).values == {"ocrbench": 0.0}


# -- MathVista --------------------------------------------------------------------------------


def _mv(answer_type: str, target: str, choices: list[str] | None = None, **meta: Any) -> Sample:
    qtype = "multi_choice" if choices else "free_form"
    return Sample(
        id="m",
        question="q?",
        choices=choices,
        targets=[target],
        metadata={"question_type": qtype, "answer_type": answer_type, **meta},
    )


@pytest.mark.parametrize(
    ("prediction", "sample", "right"),
    [
        ("7", _mv("integer", "7"), True),  # official quick rule: int(response)
        ("7.0", _mv("integer", "7"), True),  # int(float(x))
        ("The answer is 7.", _mv("integer", "7"), True),
        ("There are 3 red and 4 blue, so 7 in total", _mv("integer", "7"), False),  # ambiguous
        ("Answer: 1,234", _mv("integer", "1234"), True),
        ("1.449", _mv("float", "1.45", precision=2.0), True),  # rounded to the precision
        ("1.444", _mv("float", "1.45", precision=2.0), False),
        ("The slope is 1.45", _mv("float", "1.45", precision=2.0), True),  # the only number
        ("3", _mv("float", "3.0", precision=1.0), True),
        ("[1, 3]", _mv("list", "[1, 3]"), True),
        ("The roots are [1, 3].", _mv("list", "[1, 3]"), True),
        ("[1,3]", _mv("list", "[1, 3]"), False),  # lists compare as written, like upstream
        ("y", _mv("text", "B", ["x", "y", "neither"]), True),  # quick rule: a choice's text
        ("(B) y", _mv("text", "B", ["x", "y", "neither"]), True),
        ("The answer is C", _mv("text", "B", ["x", "y", "neither"]), False),
        ("", _mv("integer", "7"), False),
    ],
)
def test_mathvista_rules(prediction: str, sample: Sample, right: bool) -> None:
    score = get_scorer("mathvista")(prediction, sample)
    assert score.values["accuracy"] == float(right)


def test_mathvista_unparsed_is_flagged_and_asks_for_a_judge() -> None:
    scorer = get_scorer("mathvista")
    sample = _mv("integer", "7")
    score = scorer("I cannot tell from the figure.", sample)
    assert score.values == {"accuracy": 0.0} and UNPARSED in score.notes
    assert score.judge_prompt is not None and "Response: I cannot tell" in score.judge_prompt
    judged = scorer("I cannot tell", sample, extraction="7")  # type: ignore[call-arg]
    assert judged.values == {"accuracy": 1.0} and judged.extracted == "7"
    none = scorer("I cannot tell", sample, extraction="NONE")  # type: ignore[call-arg]
    assert none.values == {"accuracy": 0.0} and UNPARSED in none.notes


def test_mathvista_judge_extraction_goes_through_the_official_normalisation() -> None:
    sample = _mv("text", "B", ["apple", "banana", "cherry"])
    scorer = get_scorer("mathvista")
    # The official normalisation maps any judge text to its nearest option (a kept quirk).
    judged = scorer("long reasoning", sample, extraction="bananas")  # type: ignore[call-arg]
    assert judged.extracted == "B" and judged.values == {"accuracy": 1.0}
    assert (
        normalize_extracted(
            "(C) cherry", ["apple", "banana", "cherry"], "multi_choice", "text", None
        )
        == "cherry"
    )
    assert nearest_choice("chery", ["apple", "banana", "cherry"]) == "cherry"
    assert normalize_extracted("2.5", None, "free_form", "integer", None) == "2"
    assert normalize_extracted("abc", None, "free_form", "float", 1.0) is None


def test_mathvista_rules_never_guess_an_option() -> None:
    assert (
        extract_rule_based("I think it is bananas", ["apple", "banana"], "multi_choice", "text")
        is None
    )


# -- multiple choice --------------------------------------------------------------------------


def test_multiple_choice_flags_unparsed_and_never_guesses() -> None:
    scorer = get_scorer("multiple_choice")
    sample = Sample(id="1", question="Which?", choices=["red", "blue", "green"], targets=["B"])
    for text in ("", "BASED on the image it is hard to say", "A cat sits there", "A or B"):
        score = scorer(text, sample)
        assert score.extracted is None and score.values == {"accuracy": 0.0}, text
        assert UNPARSED in score.notes and score.judge_prompt is not None
    for text in ("(B)", "B.", "Answer: B", "The answer is B", "blue", "**B**"):
        assert scorer(text, sample).extracted == "B", text
    judged = scorer("hmm", sample, extraction="B")  # type: ignore[call-arg]
    assert judged.extracted == "B" and judged.values == {"accuracy": 1.0}


def test_readme_examples_of_where_the_rules_differ_from_harnesses() -> None:
    scorer = get_scorer("multiple_choice")
    ten = Sample(id="1", question="q", choices=[f"o{i}" for i in range(10)], targets=["C"])
    assert scorer("I think the answer is C", ten).extracted == "C"
    four = Sample(id="2", question="q", choices=["red", "blue", "green", "grey"], targets=["B"])
    assert scorer("A cat is on the left, so B", four).extracted == "B"
    assert scorer("not A", four).extracted is None
    assert ocrbench_match("13/12/2020", ["3/12/2020"], handwritten_math=False) == (True, True)


def test_open_items_in_a_multiple_choice_card() -> None:
    scorer = get_scorer("multiple_choice")
    sample = Sample(id="1", question="How many?", targets=["3"])
    assert scorer("3.", sample).values == {"accuracy": 1.0}
    assert scorer("Downhill", Sample(id="2", question="q", targets=["downhill"])).values == {
        "accuracy": 1.0
    }
    assert scorer("30", sample).values == {"accuracy": 0.0}


# -- aggregations -----------------------------------------------------------------------------

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _result(sid: str, value: float, **kw: Any) -> SampleResult:
    metric = kw.pop("metric", "accuracy")
    return SampleResult(
        sample_id=sid,
        scores={metric: value},
        output=ModelOutput(text="x"),
        started_at=NOW,
        finished_at=NOW,
        **kw,
    )


def test_ocrbench_totals_per_group() -> None:
    types = {
        "Regular Text Recognition": 1,
        "Digit String Recognition": 1,
        "Scene Text-centric VQA": 0,
        "Handwritten Mathematical Expression Recognition": 1,
    }
    results = [
        _result(str(i), float(v), category=t, metric="ocrbench")
        for i, (t, v) in enumerate(types.items())
    ]
    out = get_aggregation("ocrbench")(results, 0)
    assert out["ocrbench_score"].mean == 3 and out["ocrbench_score"].n == 4
    assert out["ocrbench_score/Text Recognition"].mean == 2
    assert out["ocrbench_score/Scene Text-centric VQA"].mean == 0
    assert "ocrbench_score/Doc-oriented VQA" not in out
    assert out["ocrbench"].mean == 0.75
    low, high = out["ocrbench_score"].ci_low, out["ocrbench_score"].ci_high
    assert 0 < low < 3 < high <= 4


def test_circular_counts_questions_and_skips_failed_rotations() -> None:
    results = [
        _result("0", 1, group="0"),
        _result("1000000", 1, group="0"),
        _result("1", 1, group="1"),
        _result("1000001", 0, group="1"),
        _result("2", 1, group="2"),
        SampleResult(
            sample_id="1000002",
            output=ModelOutput(error="boom"),
            error="boom",
            error_kind="model",
            group="2",
            started_at=NOW,
            finished_at=NOW,
        ),
    ]
    out = get_aggregation("circular")(results, 0)
    assert out["circular_accuracy"].n == 2 and out["circular_accuracy"].mean == 0.5
    assert out["accuracy"].n == 5 and out["accuracy"].mean == 0.8


def test_aggregations_keep_no_state_between_calls() -> None:
    a = [_result(str(i), float(i % 2), group=str(i % 3)) for i in range(30)]
    b = [_result(str(i), 1.0, group=str(i % 5)) for i in range(12)]
    for name in ("mean", "circular", "ocrbench"):
        agg = get_aggregation(name)
        first = agg(a, 0)
        agg(b, 0)
        assert agg(a, 0) == first
        assert agg(list(reversed(a)), 0) == first  # order of results does not matter
