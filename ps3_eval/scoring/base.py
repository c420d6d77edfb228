"""What a scorer is: ``Score``, and the ``Scorer`` and ``JudgedScorer`` call signatures.

A scorer is a pure function of the prediction and the sample. Some scorers' rules can fail to
read an answer; they return a ``Score`` with a ``judge_prompt``, and a run with a judge model
calls them again with the judge's reply as ``extraction=``. Such a scorer is a ``JudgedScorer``:
the judge step is part of its type, and :func:`judged` tells a plain scorer from a judged one.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Protocol, TypeGuard

from ps3_eval.records import Sample


@dataclass(frozen=True)
class Score:
    """A sample's metric values and the answer extracted from the prediction."""

    values: dict[str, float]
    extracted: str | None = None
    notes: dict[str, str] = field(default_factory=dict)
    judge_prompt: str | None = None
    """Set when the rules could not read the answer and a judge model could: what to ask it.
    The scorer is then called again with ``extraction=`` the judge's reply."""


UNPARSED = "unparsed"
"""Note set when no answer could be read from the prediction (scored wrong, never guessed)."""


class Scorer(Protocol):
    """``(prediction, sample) -> Score``: a pure function, unit-tested on its own."""

    def __call__(self, prediction: str, sample: Sample, /) -> Score:
        """Score one prediction of one sample."""
        ...


class JudgedScorer(Scorer, Protocol):
    """A scorer that also reads a judge's extraction of an answer its rules could not read.

    Called first as a plain scorer; when its ``Score`` has a ``judge_prompt`` and the run has a
    judge, called again with ``extraction=`` the judge's reply.
    """

    def __call__(self, prediction: str, sample: Sample, /, extraction: str | None = None) -> Score:
        """Score one prediction, reading ``extraction`` (a judge's reply) when it is given."""
        ...


def takes_judge(scorer: Scorer) -> TypeGuard[JudgedScorer]:
    """Whether ``scorer`` takes a judge's ``extraction=`` (a keyword of that name, or ``**``)."""
    try:
        params = inspect.signature(scorer).parameters
    except (TypeError, ValueError):  # a builtin without a signature: not a judged scorer
        return False
    return "extraction" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )


def judged(scorer: Scorer) -> JudgedScorer | None:
    """``scorer`` as a judged scorer, or ``None`` when it takes no judge's extraction."""
    return scorer if takes_judge(scorer) else None
