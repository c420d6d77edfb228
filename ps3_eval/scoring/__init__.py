"""Scorers: pure functions ``(prediction, sample) -> Score``, registered by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ps3_eval.errors import UsageError
from ps3_eval.records import Sample
from ps3_eval.scoring.extract import extract_choice, letter_of, normalize_text
from ps3_eval.scoring.stats import bootstrap_ci

__all__ = [
    "Score",
    "Scorer",
    "bootstrap_ci",
    "extract_choice",
    "get_scorer",
    "letter_of",
    "normalize_text",
    "register_scorer",
]


@dataclass(frozen=True)
class Score:
    """A sample's metric values and the answer extracted from the prediction."""

    values: dict[str, float]
    extracted: str | None = None
    notes: dict[str, str] = field(default_factory=dict)


Scorer = Callable[[str, Sample], Score]

_SCORERS: dict[str, Scorer] = {}


def register_scorer(name: str) -> Callable[[Scorer], Scorer]:
    """Decorator that registers a scorer under ``name``."""

    def wrap(fn: Scorer) -> Scorer:
        _SCORERS[name] = fn
        return fn

    return wrap


@register_scorer("multiple_choice")
def multiple_choice(prediction: str, sample: Sample) -> Score:
    """Accuracy of the option letter extracted from the prediction."""
    letter = extract_choice(prediction, sample.choices or [])
    return Score({"accuracy": float(letter is not None and letter in sample.targets)}, letter)


@register_scorer("exact_match")
def exact_match(prediction: str, sample: Sample) -> Score:
    """1 when the normalised prediction equals any normalised target."""
    pred = normalize_text(prediction)
    hit = any(pred == normalize_text(t) for t in sample.targets)
    return Score({"exact_match": float(hit)}, pred)


def get_scorer(name: str, card_dir: Path | None = None) -> Scorer:
    """A registered scorer by name, or a custom ``module:function`` / ``file.py:function``."""
    if name in _SCORERS:
        return _SCORERS[name]
    if ":" in name:
        from ps3_eval.tasks.card import load_hook

        return load_hook(name, card_dir, "scorer")
    raise UsageError(f"unknown scorer '{name}'. Valid scorers: {', '.join(sorted(_SCORERS))}.")
