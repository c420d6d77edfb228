"""MathVista's scoring: extract an answer, normalise it by answer type, compare strings.

The official pipeline asks GPT-4 to extract the answer from the response, then normalises it
(``normalize_extracted_answer``) and compares strings. Here the extraction is rule-based first:
the official quick rules (the response is one of the choices, or parses as the integer / float
asked for), then a stated answer ("The answer is 12", "Answer: (B)"), then the single number or
the single list the response contains. What the rules cannot read is flagged ``unparsed`` and
scored wrong, or handed to a judge model when the run has one, whose extraction goes through the
official normalisation unchanged (including its nearest-option fallback for multiple choice).
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from typing import Any

from rapidfuzz.distance import Levenshtein

from ps3_eval.scoring.extract import extract_choice

__all__ = ["extract_rule_based", "judge_prompt", "nearest_choice", "normalize_extracted"]

_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+"
_STATED = re.compile(
    r"(?i:(?:final\s+)?answer\s*(?:is|:|=)\s*:?\s*)\**\s*(?P<value>.+?)\s*\**\s*(?:$|\n|\.(?:\s|$))"
)
_QUOTED = re.compile(r'The answer is "(.*)"\.')
_LIST = re.compile(r"\[[^\[\]]*\]")


def nearest_choice(text: str, choices: Sequence[str]) -> str:
    """The choice at the smallest Levenshtein distance (the official ``get_most_similar``)."""
    distances = [Levenshtein.distance(text, c) for c in choices]
    return choices[distances.index(min(distances))]


def normalize_extracted(
    extraction: str | None,
    choices: Sequence[str] | None,
    question_type: str,
    answer_type: str,
    precision: float | None,
) -> str | None:
    """The official ``normalize_extracted_answer``: what the extraction is compared as.

    Multiple choice: ``(B)`` or ``B`` becomes that option's text, anything else the nearest option
    (so every extraction lands on some option, a quirk kept for judge extractions). Integers go
    through ``int(float(x))``, floats are rounded to ``precision`` digits, lists and text stay as
    they are. ``None`` when the extraction does not convert.
    """
    if question_type == "multi_choice":
        text = (extraction or "").strip()
        letter = re.findall(r"\(([a-zA-Z])\)", text)
        if letter:
            text = letter[0].upper()
        options = list(choices or [])
        letters = [chr(ord("A") + i) for i in range(len(options))]
        if not options:
            return None
        if text in letters:
            return options[letters.index(text)]
        return nearest_choice(text, options)
    if extraction is None:
        return None
    try:
        if answer_type == "integer":
            return str(int(float(extraction)))
        if answer_type == "float":
            return str(round(float(extraction), int(precision or 0)))
    except (ValueError, OverflowError):
        return None
    return str(extraction)


def _numbers(text: str) -> list[str]:
    return [m.replace(",", "") for m in re.findall(_NUMBER, text)]


def extract_rule_based(
    response: str, choices: Sequence[str] | None, question_type: str, answer_type: str
) -> str | None:
    """The answer the response states, by rules only; ``None`` when the rules cannot tell.

    For multiple choice the result is an option letter; otherwise the answer's text.
    """
    text = response.strip()
    if not text:
        return None
    if question_type == "multi_choice":
        options = list(choices or [])
        if text in options:  # official quick rule
            return string.ascii_uppercase[options.index(text)]
        return extract_choice(text, options)
    quoted = _QUOTED.search(text)
    if quoted:
        text = quoted.group(1).strip()
    if answer_type == "list":
        stated = [found for v in _STATED.findall(text) for found in _LIST.findall(v)]
        lists = stated or _LIST.findall(text)
        return lists[-1] if len(set(lists)) == 1 or stated else None
    if answer_type in ("integer", "float"):
        try:
            float(text)
            return text
        except ValueError:
            pass
        stated = _STATED.findall(text)
        if stated:
            found = _numbers(stated[-1])
            if len(found) == 1:
                return found[0]
        found = _numbers(text)
        return found[0] if len(set(found)) == 1 else None
    stated = _STATED.findall(text)
    value = stated[-1] if stated else text
    if "\n" in value or len(value.split()) > 6:
        return None  # a paragraph is not a short text answer
    return value.strip().rstrip(".").strip()


def judge_prompt(
    question: str, response: str, answer_type: str, choices: Sequence[str] | None
) -> str:
    """What a judge model is asked when the rules cannot read the response."""
    if choices:
        options = "\n".join(f"{string.ascii_uppercase[i]}. {c}" for i, c in enumerate(choices))
        want = f"the letter of the option it chose, among:\n{options}"
    else:
        kinds: dict[str, Any] = {
            "integer": "an integer",
            "float": "a decimal number",
            "list": "a Python list",
            "text": "a short text",
        }
        want = f"its final answer, as {kinds.get(answer_type, 'a short text')}"
    return (
        "Read a model's response to a question and write down "
        f"{want}. Reply with the answer alone; reply NONE if the response gives no answer.\n\n"
        f"Question: {question}\n\nResponse: {response}\n\nExtracted answer:"
    )
