"""ANLS (average normalised Levenshtein similarity), DocVQA's and InfographicVQA's metric.

Per question: ``1 - d / max(len(answer), len(prediction))`` against each accepted answer, the best
one kept, and anything below the threshold (0.5) counts as 0. The reference compares the two
strings lower-cased, trimmed and with runs of whitespace collapsed, but divides by the lengths of
the strings as given (upper-cased, which for a few characters such as "ß" changes the length);
that quirk is kept, since the published numbers include it.

The edit distance is rapidfuzz's compiled Levenshtein (``perf/scoring.py`` compares it with a
plain Python loop).
"""

from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz.distance import Levenshtein

__all__ = ["anls"]


def _fold(text: str) -> str:
    return " ".join(text.strip().lower().split())


def anls(prediction: str, answers: Sequence[str], threshold: float = 0.5) -> float:
    """ANLS of one prediction against its accepted answers; 0.0 when there are none."""
    if not answers:
        return 0.0
    pred = _fold(prediction)
    pred_len = len(prediction.upper())
    best_distance = 1.0
    for answer in answers:
        length = max(len(answer.upper()), pred_len)
        if length == 0:
            distance = 0.0
        else:
            distance = Levenshtein.distance(_fold(answer), pred) / length
        best_distance = min(best_distance, distance)
    score = 1.0 - best_distance
    return score if score >= threshold else 0.0
