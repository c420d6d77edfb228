"""ChartQA's relaxed accuracy, as its reference (pix2struct's ``relaxed_correctness``) computes it.

A prediction and a target that both parse as numbers (a trailing ``%`` divides by 100) are equal
when they differ by at most 5% of the target. Everything else, and every zero target (the
reference tests the target's truthiness, so 0 cannot be the denominator), needs a
case-insensitive exact match of the strings as given: no trimming beyond what ``float`` does, no
unit stripping, so ``"12 %"`` or ``"$12"`` only match the same string.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["relaxed_accuracy", "relaxed_match"]


def _number(text: str) -> float | None:
    try:
        if text.endswith("%"):
            return float(text.rstrip("%")) / 100.0
        return float(text)
    except ValueError:
        return None


def relaxed_match(prediction: str, target: str, tolerance: float = 0.05) -> bool:
    """True when ``prediction`` is within ``tolerance`` of ``target`` (numbers) or equal to it."""
    pred, gold = _number(prediction), _number(target)
    if pred is not None and gold:
        return abs(pred - gold) / abs(gold) <= tolerance
    return prediction.lower() == target.lower()


def relaxed_accuracy(prediction: str, targets: Sequence[str], tolerance: float = 0.05) -> float:
    """1.0 when the prediction relaxed-matches any target, else 0.0."""
    return float(any(relaxed_match(prediction, t, tolerance) for t in targets))
