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


TEN = [f"option {i}" for i in range(10)]  # MMMU-Pro style: letters A..J, so "I" is a letter


@pytest.mark.parametrize(
    ("text", "choices", "expected"),
    [
        # The article "a" / "A" is not option A.
        ("The answer is a plate reading 4B7", CHOICES, "C"),
        ("Answer: A plate reading 4B7", CHOICES, "C"),  # a sentence starts after the colon
        ("The answer is a red car", CHOICES, None),
        ("Answer: a sign that says 4B7", CHOICES, "C"),
        ("A car is parked next to the sign", CHOICES, None),
        ("There is a 4B7 plate", CHOICES, "C"),
        # ...but a letter the text uses as a letter is.
        ("The answer is A", CHOICES, "A"),
        ("The answer is A.", CHOICES, "A"),
        ("The answer is a.", CHOICES, "A"),
        ("the answer is b", CHOICES, "B"),
        ("The answer is: (b)", CHOICES, "B"),
        ("Answer: **C**", CHOICES, "C"),
        ("The final answer is D", CHOICES, "D"),
        ("The correct option is c.", CHOICES, "C"),
        ("Option B is right", CHOICES, "B"),
        ("b) 478", CHOICES, "B"),
        ("Answer: D because A is wrong", CHOICES, "D"),
        # After an answer phrase a letter is read whatever follows (issue 16, item 1): only A and
        # I were dropped before a lower-case word, which biased scores by the gold letter.
        ("The correct option is A because it matches the image.", CHOICES, "A"),
        ("The answer is A plate reading 4B7", CHOICES, "A"),  # mid-sentence: the article is "a"
        ("Answer: A because the plate is sharp", CHOICES, "A"),
        ("Answer: A, since the plate reads 47B", CHOICES, "A"),
        ("The final answer is A as shown", CHOICES, "A"),
        ("Option A is right", CHOICES, "A"),
        ("The answer is option A plate", CHOICES, "A"),
        ("The answer is I because it matches", TEN, "I"),
        ("Answer: I since the others are wrong", TEN, "I"),
        ("the best choice I think is D", TEN, "D"),  # the pronoun, not option I
        # A letter in quotes, single (item 2), double or curly.
        ("The answer is 'B'.", CHOICES, "B"),
        ("'B'", CHOICES, "B"),
        ("I'd say 'B'", CHOICES, "B"),
        ("Answer: 'c'", CHOICES, "C"),
        ('The answer is "B"', CHOICES, "B"),
        ("The answer is ‘B’", CHOICES, "B"),
        ("'A' car", CHOICES, "A"),
        ("It's 'B' or 'C'", CHOICES, None),
        # The pronoun "I" is not option I (ten options).
        ("I think the answer is D", TEN, "D"),
        ("I think B", TEN, "B"),
        ("Answer: I don't know", TEN, None),
        ("I. option 8", TEN, "I"),
        ("The answer is I.", TEN, "I"),
        # Negated and hedged letters pick nothing.
        ("It's not A", CHOICES, None),
        ("Not A. It is B", CHOICES, "B"),
        ("The answer is A or B", CHOICES, None),
        ("answer is A, B", CHOICES, None),
        ("The answer is B/C", CHOICES, None),
        # The leading-letter rule checks for hedges too (item 3).
        ("(A) and (B)", CHOICES, None),
        ("(B) (C)", CHOICES, None),
        ("A. or B.", CHOICES, None),
        ("B) or C) both fit", CHOICES, None),
        ("The answer is (B) (C)", CHOICES, None),
        ("(B) because the plate reads 478", CHOICES, "B"),
        # Refusals elsewhere are kept: the article, the pronoun, negation and hedges.
        ("A car is parked next to the sign", CHOICES, None),
        ("I think so", TEN, None),
        ("Answer: I don't know", TEN, None),
        ("Answer: I cannot tell", TEN, None),
        ("Answer: A red car", CHOICES, None),
        ("The answer is: A red car", CHOICES, None),  # the colon after "is" starts a sentence
        ("Answer: option A red car", CHOICES, "A"),  # ... yet "option A" is always the letter
        ("not A", CHOICES, None),
        ("A or B", CHOICES, None),
    ],
)
def test_extract_never_takes_a_word_for_a_letter(
    text: str, choices: list[str], expected: str | None
) -> None:
    assert extract_choice(text, choices) == expected


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
    assert normalize_text("Big  red\tcar") == "big red car"


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


def test_option_texts_match_as_whole_words_not_substrings() -> None:
    # A listed deviation from MMMU's official parser, which finds option texts as substrings and
    # takes the one found last: in "... it is dogs here" it finds "dog" and "dogs" at the same
    # place and picks "dog". Whole words (the longest option when one contains another) read it.
    pets = ["cat", "cats", "dog", "dogs"]
    assert extract_choice("Looking at the picture closely, it is dogs here", pets) == "D"
    assert extract_choice("Looking at the picture closely, it is a dog here", pets) == "C"
    assert extract_choice("the cats are asleep", pets) == "B"
    assert extract_choice("This is a concatenated hotdog string", pets) is None  # upstream: dog
