"""Scorers by name: the built-ins with the metrics they produce, custom scorers by reference."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ps3_eval.plugins import Registry, load_hook
from ps3_eval.scoring.base import Scorer


@dataclass(frozen=True)
class ScorerInfo:
    """A registered scorer and what it produces."""

    scorer: Scorer
    metrics: tuple[str, ...] = ()
    """The metrics its scores carry, the primary one first (a card's ``primary_metric`` defaults
    to it); empty when the scorer does not say."""


SCORERS: Registry[ScorerInfo] = Registry("scorer")
"""Every registered scorer by name (``ps3-eval tasks`` shows which card uses which)."""

S = TypeVar("S", bound=Scorer)


def register_scorer(name: str, metrics: Sequence[str] = ()) -> Callable[[S], S]:
    """Decorator that registers a scorer under ``name``, with the metrics it produces."""

    def wrap(fn: S) -> S:
        SCORERS.register(name, ScorerInfo(fn, tuple(metrics)))
        return fn

    return wrap


def list_scorers() -> list[str]:
    """The registered scorers' names."""
    return SCORERS.names()


def get_scorer(name: str, card_dir: Path | None = None) -> Scorer:
    """A registered scorer by name, or a custom ``module:function`` / ``file.py:function``.

    Raises:
        UsageError: for an unknown name, or a custom scorer that cannot be imported.
    """
    if ":" in name and name not in SCORERS:
        return load_hook(name, card_dir, "scorer")
    return SCORERS.load(name).scorer


def scorer_metrics(name: str) -> tuple[str, ...]:
    """The metrics a registered scorer says it produces (primary first); ``()`` for a custom one."""
    return SCORERS.load(name).metrics if name in SCORERS else ()
