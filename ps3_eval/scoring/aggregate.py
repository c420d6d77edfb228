"""Aggregations: how a run's sample scores become its metrics.

An aggregation is a pure function of the results (errors included, so a grouped aggregation can
tell an incomplete group from a wrong one) and the seed of the bootstrap; it keeps no state between
calls. A card names one with ``aggregation:``; the same function makes the overall metrics and
those of every category and MRR bucket.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ps3_eval.plugins import Registry
from ps3_eval.records import MetricValue, SampleResult
from ps3_eval.scoring.stats import mean_ci

Aggregation = Callable[[Sequence[SampleResult], int], dict[str, MetricValue]]


@dataclass(frozen=True)
class AggregationInfo:
    """A registered aggregation and the metrics it adds to its scorer's."""

    aggregate: Aggregation
    adds: tuple[str, ...] = ()
    """Metrics it makes beside the means of the scorer's metrics (``circular_accuracy``)."""


AGGREGATIONS: Registry[AggregationInfo] = Registry("aggregation")
"""Every registered aggregation by name (a card's ``aggregation:``)."""


def register_aggregation(
    name: str, adds: Sequence[str] = ()
) -> Callable[[Aggregation], Aggregation]:
    """Decorator that registers an aggregation under ``name``, with the metrics it adds."""

    def wrap(fn: Aggregation) -> Aggregation:
        AGGREGATIONS.register(name, AggregationInfo(fn, tuple(adds)))
        return fn

    return wrap


def get_aggregation(name: str) -> Aggregation:
    """A registered aggregation by name."""
    return AGGREGATIONS.load(name).aggregate


def aggregation_metrics(name: str) -> tuple[str, ...]:
    """The metrics a registered aggregation adds to its scorer's."""
    return AGGREGATIONS.load(name).adds


def aggregation_names() -> list[str]:
    """Names of the registered aggregations."""
    return AGGREGATIONS.names()


def _value(values: Sequence[float], seed: int) -> MetricValue:
    mean, low, high, method = mean_ci(values, seed=seed)
    return MetricValue(mean=mean, ci_low=low, ci_high=high, n=len(values), method=method)


def _scored(results: Sequence[SampleResult]) -> list[SampleResult]:
    """Scored results in sample-id order (so the bootstrap does not depend on finishing order)."""
    return sorted((r for r in results if r.error is None), key=lambda r: r.sample_id)


@register_aggregation("mean")
def mean(results: Sequence[SampleResult], seed: int) -> dict[str, MetricValue]:
    """Each metric's mean over the scored samples, with its 95% interval."""
    scored = _scored(results)
    names = sorted({k for r in scored for k in r.scores})
    return {
        name: _value([r.scores[name] for r in scored if name in r.scores], seed) for name in names
    }


OCRBENCH_GROUPS: dict[str, tuple[str, ...]] = {
    "Text Recognition": (
        "Regular Text Recognition",
        "Irregular Text Recognition",
        "Artistic Text Recognition",
        "Handwriting Recognition",
        "Digit String Recognition",
        "Non-Semantic Text Recognition",
    ),
    "Scene Text-centric VQA": ("Scene Text-centric VQA",),
    "Doc-oriented VQA": ("Doc-oriented VQA",),
    "Key Information Extraction": ("Key Information Extraction",),
    "Handwritten Mathematical Expression Recognition": (
        "Handwritten Mathematical Expression Recognition",
    ),
}
"""OCRBench's five reported groups and the question types each one sums (its official report)."""


def _total(values: Sequence[float], seed: int) -> MetricValue:
    """A sum of 0/1 scores with the interval of the proportion, scaled by n."""
    share = _value(values, seed)
    n = len(values)
    return MetricValue(
        mean=float(sum(values)),
        ci_low=share.ci_low * n,
        ci_high=share.ci_high * n,
        n=n,
        method=share.method,
    )


@register_aggregation(
    "ocrbench", adds=("ocrbench_score", *(f"ocrbench_score/{g}" for g in OCRBENCH_GROUPS))
)
def ocrbench(results: Sequence[SampleResult], seed: int) -> dict[str, MetricValue]:
    """OCRBench's report: right answers counted, overall and per group of question types.

    On the full set the overall count is out of 1000; the plain accuracy stays beside it.
    The question type is the sample's category. ``ocrbench_score`` is the official "Final Score";
    ``ocrbench_score/<group>`` are the five group totals, present when the group has samples.
    """
    out = mean(results, seed)
    scored = _scored(results)
    values = [r.scores["ocrbench"] for r in scored if "ocrbench" in r.scores]
    if not values:
        return out
    out["ocrbench_score"] = _total(values, seed)
    for group, types in OCRBENCH_GROUPS.items():
        members = [
            r.scores["ocrbench"] for r in scored if r.category in types and "ocrbench" in r.scores
        ]
        if members:
            out[f"ocrbench_score/{group}"] = _total(members, seed)
    return out


@register_aggregation("circular", adds=("circular_accuracy",))
def circular(results: Sequence[SampleResult], seed: int) -> dict[str, MetricValue]:
    """Circular evaluation (MMBench): a question is right only when all its rotations are right.

    Rotations share ``group``. ``circular_accuracy`` is the share of questions with every rotation
    right; its interval treats questions, not rotations, as the unit. A question with a rotation
    that failed (an error record) is left out until that rotation is scored, so a failed call is
    never counted as a wrong answer. The per-rotation ``accuracy`` stays beside it.
    """
    out = mean(results, seed)
    groups: dict[str, list[SampleResult]] = defaultdict(list)
    for r in results:
        groups[r.group if r.group is not None else r.sample_id].append(r)
    verdicts: list[float] = []
    for key in sorted(groups):
        members = groups[key]
        if any(m.error is not None or "accuracy" not in m.scores for m in members):
            continue  # a failed rotation, or a split without answers: no verdict
        verdicts.append(float(all(m.scores.get("accuracy", 0.0) == 1.0 for m in members)))
    if verdicts:
        out["circular_accuracy"] = _value(verdicts, seed)
    return out
