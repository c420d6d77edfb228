"""Open-answer scorers against the reference rules, quirks included (no model, no data).

Every expected value is worked out by hand from the reference evaluator's rules: TextVQA's EvalAI
answer processor and leave-one-out accuracy, ChartQA's relaxed correctness, DocVQA's ANLS.
"""

from __future__ import annotations

import pytest

from ps3_eval.records import Sample
from ps3_eval.scoring import get_scorer
from ps3_eval.scoring.anls import anls
from ps3_eval.scoring.relaxed import relaxed_accuracy, relaxed_match
from ps3_eval.scoring.vqa import normalize_vqa_answer, vqa_accuracy


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("The Cat.", "cat"),  # article, case, final period
        ("an apple", "apple"),
        ("Two dogs!", "2 dogs"),  # number words up to ten only
        ("eleven", "eleven"),
        ("none", "0"),
        ("1,000", "1000"),  # commas go before the punctuation pass
        ("3.5", "3.5"),  # a period before a digit stays
        ("v3.", "v3"),  # ... any other goes, even after a digit (the look-behind typo)
        ("dont", "don't"),  # the contraction table
        ("somebody'd", "somebodyd"),  # ... odd entries included
        ("it's", "it 's"),  # "'s" is split off
        ("coca-cola", "coca cola"),  # punctuation without a space beside it becomes a space
        ("coca - cola", "coca cola"),  # ... with one, it is deleted
        ("a-b c-d - e", "ab cd e"),  # the space test looks at the whole text
        ("e-mail -x", "email x"),  # a space before it is enough
        ("e-mail- x", "email x"),  # ... or one after it
        ("(b)", "b"),
        ("line one\nline two", "line 1 line 2"),
        ("  Ｈｉ ", "ｈｉ"),  # full-width letters are not folded by the reference
        ("", ""),
    ],
)
def test_vqa_normalisation(raw: str, normal: str) -> None:
    assert normalize_vqa_answer(raw) == normal


def test_vqa_periods_beyond_32_are_kept() -> None:
    # The reference passes re.UNICODE (32) as the substitution count.
    assert normalize_vqa_answer("." * 40) == "." * 8


def test_vqa_accuracy_is_leave_one_out_over_thirds() -> None:
    answers = ["cat"] * 2 + ["dog"] * 8
    # The two "cat" annotators each leave one match (1/3); the other eight leave two (2/3).
    assert vqa_accuracy("cat", answers) == pytest.approx((2 * (1 / 3) + 8 * (2 / 3)) / 10)
    assert vqa_accuracy("Cat.", ["cat"] * 3 + ["dog"] * 7) == pytest.approx(0.9)
    assert vqa_accuracy("the cat", ["cat"] * 4 + ["x"] * 6) == 1.0
    assert vqa_accuracy("cat", ["cat"] + ["dog"] * 9) == pytest.approx(0.3)
    assert vqa_accuracy("bird", ["cat"] * 10) == 0.0
    assert vqa_accuracy("cat", []) == 0.0
    # A verbose answer that contains the answer is not the answer.
    assert vqa_accuracy("the answer is cat", ["cat"] * 10) == 0.0
    # Human answers are normalised too.
    assert vqa_accuracy("2", ["two", "Two", "2.", "2"] + ["x"] * 6) == 1.0


@pytest.mark.parametrize(
    ("pred", "target", "right"),
    [
        ("105", "100", True),  # exactly 5%
        ("105.1", "100", False),
        ("95", "100", True),
        ("94.9", "100", False),
        ("12%", "0.12", True),  # a percent sign divides by 100
        ("12", "12%", False),  # 12 against 0.12
        ("0", "0", True),  # a zero target needs the same string ...
        ("0.0", "0", False),  # ... so no tolerance at all
        ("0.01", "0", False),
        ("Yes", "yes", True),  # strings: case-insensitive exact match
        ("yes.", "yes", False),
        (" 100 ", "100", True),  # float() trims whitespace
        ("$100", "100", False),  # no unit stripping
        ("-5", "-5.2", True),
        ("1e2", "100", True),
        ("", "100", False),
    ],
)
def test_relaxed_match(pred: str, target: str, right: bool) -> None:
    assert relaxed_match(pred, target) is right


def test_relaxed_accuracy_takes_any_target() -> None:
    assert relaxed_accuracy("51", ["10", "50"]) == 1.0
    assert relaxed_accuracy("60", ["10", "50"]) == 0.0
    assert relaxed_accuracy("60", []) == 0.0


def test_anls() -> None:
    assert anls("Invoice", ["invoice"]) == 1.0
    assert anls("  invoice\n number ", ["Invoice Number"]) == 1.0  # folded before comparing
    # One edit in seven characters: 1 - 1/7.
    assert anls("invoize", ["invoice"]) == pytest.approx(1 - 1 / 7)
    # Below the threshold counts as nothing: 4 edits in 7 leaves 3/7.
    assert anls("abcdice", ["invoice"]) == 0.0
    # Exactly at the threshold still counts (the reference zeroes only what lies below it).
    assert anls("ab", ["ac"]) == 0.5
    assert anls("ab", ["ac"], threshold=0.6) == 0.0
    assert anls("invoize", ["receipt", "invoice"]) == pytest.approx(1 - 1 / 7)  # best answer
    assert anls("", ["a"]) == 0.0
    assert anls("", [""]) == 1.0
    assert anls("x", []) == 0.0
    # The lengths are those of the strings as given: the padding counts in the denominator.
    assert anls("ab   ", ["abc"]) == pytest.approx(1 - 1 / 5)
    # ... upper-cased: "ß" is two characters long there.
    assert anls("straße", ["strasse"]) == pytest.approx(1 - 2 / 7)


def test_registered_scorers_read_the_sample_targets() -> None:
    sample = Sample(id="q1", question="?", targets=["cat"] * 3 + ["dog"] * 7)
    score = get_scorer("vqa_accuracy")("The cat.", sample)
    assert score.values == {"vqa_accuracy": pytest.approx(0.9)} and score.extracted == "cat"
    chart = Sample(id="c1", question="?", targets=["100"])
    assert get_scorer("relaxed_accuracy")("104", chart).values == {"relaxed_accuracy": 1.0}
    doc = Sample(id="d1", question="?", targets=["invoice"])
    assert get_scorer("anls")("invoize", doc).values["anls"] == pytest.approx(1 - 1 / 7)


def test_relaxed_reads_percentages_as_fractions_and_honours_the_tolerance() -> None:
    assert relaxed_accuracy("0.4", ["40%"], tolerance=0.0) == 1.0  # 40% is 0.4, exactly
    assert relaxed_accuracy("0.41", ["40%"], tolerance=0.0) == 0.0
    assert relaxed_accuracy("0.41", ["40%"]) == 1.0  # within the default 5%
    assert not relaxed_match("0.4", "40X%")  # a percent sign after something not a number


def test_ocrbench_folds_case_as_the_reference_does() -> None:
    from ps3_eval.scoring.ocrbench import ocrbench_match

    # The reference lower-cases both: "straße" is not inside "strasse" (upper-casing would match).
    assert ocrbench_match("STRASSE", ["straße"], handwritten_math=False) == (False, False)
    assert ocrbench_match("It says Coffee", ["coffee"], handwritten_math=False) == (True, False)
    # Handwritten maths: line breaks and spaces dropped, case kept.
    assert ocrbench_match("x^\n{2}", ["x ^ { 2 }"], handwritten_math=True) == (True, False)
    assert ocrbench_match("X^{2}", ["x ^ { 2 }"], handwritten_math=True) == (False, False)


def test_mathvista_normalises_letters_in_brackets_and_rounds_floats() -> None:
    from ps3_eval.scoring.mathvista import normalize_extracted

    options = ["x", "y", "neither"]
    assert normalize_extracted("(b)", options, "multi_choice", "text", None) == "y"
    assert normalize_extracted("(B)", options, "multi_choice", "text", None) == "y"
    assert normalize_extracted("C", options, "multi_choice", "text", None) == "neither"
    # A float without a precision rounds to whole units, as the reference's int(precision or 0).
    assert normalize_extracted("1.45", None, "free_form", "float", None) == "1.0"
    assert normalize_extracted("1.449", None, "free_form", "float", 2.0) == "1.45"
    assert normalize_extracted("7.9", None, "free_form", "integer", None) == "7"


def test_mathvista_judge_prompt_asks_for_the_answer_in_its_type() -> None:
    from ps3_eval.scoring.mathvista import judge_prompt

    head = "Read a model's response to a question and write down "
    tail = (
        ". Reply with the answer alone; reply NONE if the response gives no answer.\n\n"
        "Question: Q?\n\nResponse: R\n\nExtracted answer:"
    )
    for answer_type, want in (
        ("integer", "its final answer, as an integer"),
        ("float", "its final answer, as a decimal number"),
        ("list", "its final answer, as a Python list"),
        ("text", "its final answer, as a short text"),
        ("other", "its final answer, as a short text"),
    ):
        assert judge_prompt("Q?", "R", answer_type, None) == head + want + tail
    want = "the letter of the option it chose, among:\nA. x\nB. y"
    assert judge_prompt("Q?", "R", "text", ["x", "y"]) == head + want + tail


@pytest.mark.parametrize(
    ("response", "answer_type", "expected"),
    [
        ('The answer is "New York City".', "text", "New York City"),  # the quoted form
        ("I think [1, 2] but the answer is [1, 3]", "list", "[1, 3]"),  # the stated list
        ("[1, 2] or [1, 3]", "list", None),  # two lists, none stated
        ("It is 3 or 4. The answer is 7", "integer", "7"),  # the stated number
        ("It is 3 or 4.", "integer", None),
        ("The answer is A. The answer is B. The answer is C.", "text", "C"),  # the last stated
        ("Paris is the answer. The answer is Rome.", "text", "Rome"),
        ("line\nbreak", "text", None),  # a paragraph is not a short answer
        ("one two three four five six", "text", "one two three four five six"),
        ("one two three four five six seven", "text", None),
        ("Rome.", "text", "Rome"),
        ("TX.", "text", "TX"),
    ],
)
def test_mathvista_rules_read_the_stated_answer(
    response: str, answer_type: str, expected: str | None
) -> None:
    from ps3_eval.scoring.mathvista import extract_rule_based

    assert extract_rule_based(response, None, "free_form", answer_type) == expected
