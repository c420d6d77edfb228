"""Scorers: pure functions ``(prediction, sample) -> Score``, registered by name.

A scorer gets the prediction as the runner scores it: :func:`answer_text` of the model's reply
(reasoning blocks removed, white space trimmed). What a scorer is lives in
:mod:`ps3_eval.scoring.base`, the registry in :mod:`ps3_eval.scoring.registry`, the built-in
scorers in :mod:`ps3_eval.scoring.builtin` and how sample scores become a run's metrics in
:mod:`ps3_eval.scoring.aggregate`.
"""

from __future__ import annotations

from ps3_eval.scoring import builtin as _builtin  # noqa: F401 - registers the built-in scorers
from ps3_eval.scoring.answer import answer_text
from ps3_eval.scoring.base import UNPARSED, JudgedScorer, Score, Scorer, judged, takes_judge
from ps3_eval.scoring.builtin import choice_judge_prompt
from ps3_eval.scoring.extract import extract_choice, letter_of, normalize_text
from ps3_eval.scoring.registry import (
    ScorerInfo,
    get_scorer,
    list_scorers,
    register_scorer,
    scorer_metrics,
)
from ps3_eval.scoring.stats import bootstrap_ci

__all__ = [
    "UNPARSED",
    "JudgedScorer",
    "Score",
    "Scorer",
    "ScorerInfo",
    "answer_text",
    "bootstrap_ci",
    "choice_judge_prompt",
    "extract_choice",
    "get_scorer",
    "judged",
    "letter_of",
    "list_scorers",
    "normalize_text",
    "register_scorer",
    "scorer_metrics",
    "takes_judge",
]
