"""OCRBench's scoring rule, as its official evaluator applies it.

A prediction is right when any reference answer is a substring of it, after both are lower-cased,
trimmed and have line breaks turned into spaces. Handwritten mathematical expressions (the HME100k
items) keep their case and drop every space instead, so ``x ^ { 2 }`` matches ``x^{2}``. The rule
credits a verbose answer that contains the reference, and it also credits ``"10"`` for the reference
``"1"``: that is the official rule and published numbers include it, so it is kept, and the sample
is flagged ``inside_longer_token`` where the reference only appears inside a longer word or number.
Full-width characters are compared as they are (the official evaluator does not fold them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["HMER_CATEGORY", "ocrbench_match"]

HMER_CATEGORY = "Handwritten Mathematical Expression Recognition"


def _plain(text: str) -> str:
    return text.lower().strip().replace("\n", " ")


def _math(text: str) -> str:
    return text.strip().replace("\n", " ").replace(" ", "")


def ocrbench_match(
    prediction: str, answers: Sequence[str], *, handwritten_math: bool
) -> tuple[bool, bool]:
    """Whether the prediction earns the point, and whether it did so only inside a longer token.

    Args:
        prediction: The model's answer.
        answers: The reference answers; any one suffices.
        handwritten_math: Apply the HME100k variant (case kept, all spaces removed).

    Returns:
        ``(right, inside_longer_token)``.
    """
    norm = _math if handwritten_math else _plain
    pred = norm(prediction)
    right = False
    bounded = False
    for answer in answers:
        gold = norm(str(answer))
        if gold in pred:
            right = True
            if handwritten_math or re.search(rf"(?<![\w]){re.escape(gold)}(?![\w])", pred):
                bounded = True
    return right, right and not bounded
