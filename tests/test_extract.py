import pytest

from ps3_eval.records import Sample
from ps3_eval.scoring import extract_choice, get_scorer, letter_of, normalize_text

CHOICES = ["47B", "478", "4B7", "17B"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("B", "B"),
        ("(c)", "C"),
        (" D. ", "D"),
        ("[A]", "A"),
        ("The answer is B.", "B"),
        ("Answer: (C) 4B7", "C"),
        ("answer: d", "D"),
        ("B. 478", "B"),
        ("C) because the plate reads 4B7", "C"),
        ("4B7", "C"),  # option text alone
        ("I can read 17B on the sign", "D"),
        ("A or B", None),  # two letters: ambiguous
        ("", None),
        ("E", None),  # outside the options
        ("I cannot tell", None),
        ("A car is parked next to the sign", None),  # the article is not an answer
    ],
)
def test_extract_choice(text: str, expected: str | None) -> None:
    assert extract_choice(text, CHOICES) == expected


def test_extract_prefers_longest_option_text() -> None:
    choices = ["2L", "MILK 2L", "MILK 3L", "3L"]
    assert extract_choice("the carton says MILK 2L", choices) == "B"


def test_extract_two_option_texts_is_ambiguous() -> None:
    assert extract_choice("either 478 or 17B", CHOICES) is None


def test_letter_of_formats() -> None:
    assert letter_of("c", CHOICES, "letter") == "C"
    assert letter_of("3", CHOICES, "index") == "D"
    assert letter_of("4b7", CHOICES, "text") == "C"
    with pytest.raises(ValueError, match="not a letter"):
        letter_of("F", CHOICES, "letter")
    with pytest.raises(ValueError, match="outside"):
        letter_of("4", CHOICES, "index")
    with pytest.raises(ValueError, match="not one of"):
        letter_of("999", CHOICES, "text")


def test_normalize_text() -> None:
    assert normalize_text("  The  Stop-Sign! ") == "stopsign"


def test_scorers() -> None:
    s = Sample(id="1", question="q", choices=CHOICES, targets=["C"])
    mc = get_scorer("multiple_choice")
    assert mc("The answer is C", s).values == {"accuracy": 1.0}
    assert mc("The answer is D", s).values == {"accuracy": 0.0}
    no = mc("no idea", s)
    assert no.values == {"accuracy": 0.0} and no.extracted is None
    em = get_scorer("exact_match")
    assert em("the Stop sign", Sample(id="2", question="q", targets=["stop sign"])).values == {
        "exact_match": 1.0
    }
