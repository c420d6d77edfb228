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


@register_scorer("vqa_accuracy")
def vqa_accuracy(prediction: str, sample: Sample) -> Score:
    """TextVQA's VQA accuracy against the sample's human answers (:mod:`ps3_eval.scoring.vqa`)."""
    from ps3_eval.scoring.vqa import normalize_vqa_answer
    from ps3_eval.scoring.vqa import vqa_accuracy as score

    value = score(prediction, sample.targets)
    return Score({"vqa_accuracy": value}, normalize_vqa_answer(prediction))


@register_scorer("relaxed_accuracy")
def relaxed_accuracy(prediction: str, sample: Sample) -> Score:
    """ChartQA's relaxed accuracy (:mod:`ps3_eval.scoring.relaxed`)."""
    from ps3_eval.scoring.relaxed import relaxed_accuracy as score

    return Score({"relaxed_accuracy": score(prediction, sample.targets)}, prediction)


@register_scorer("anls")
def anls(prediction: str, sample: Sample) -> Score:
    """DocVQA's and InfographicVQA's ANLS (:mod:`ps3_eval.scoring.anls`)."""
    from ps3_eval.scoring.anls import anls as score

    return Score({"anls": score(prediction, sample.targets)}, prediction)


def get_scorer(name: str, card_dir: Path | None = None) -> Scorer:
    """A registered scorer by name, or a custom ``module:function`` / ``file.py:function``."""
    if name in _SCORERS:
        return _SCORERS[name]
    if ":" in name:
        from ps3_eval.tasks.card import load_hook

        return load_hook(name, card_dir, "scorer")
    raise UsageError(f"unknown scorer '{name}'. Valid scorers: {', '.join(sorted(_SCORERS))}.")
