"""Paired comparison of two runs of one task on the samples both scored.

The difference of means comes with a paired-bootstrap interval (samples resampled together, so
the interval reflects how the two runs differ on the same items), and, for 0/1 metrics, McNemar's
exact p-value from the discordant pairs. Samples whose score changed are listed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from ps3_eval.errors import UsageError
from ps3_eval.records import SampleResult, primary_metric
from ps3_eval.rundir import load_run
from ps3_eval.scoring.stats import bootstrap_ci


class PairedStat(BaseModel):
    """Run B minus run A on a set of shared samples."""

    n: int
    mean_a: float
    mean_b: float
    delta: float
    """``mean_b - mean_a``."""
    ci_low: float
    ci_high: float
    """95% paired-bootstrap interval of ``delta``."""
    only_a: int | None = None
    """0/1 metrics: samples right in A and wrong in B."""
    only_b: int | None = None
    """0/1 metrics: samples wrong in A and right in B."""
    p_value: float | None = None
    """McNemar's exact two-sided p-value (0/1 metrics only)."""


class Flip(BaseModel):
    """A shared sample whose score differs between the runs."""

    sample_id: str
    a: float
    b: float
    category: str | None = None
    mrr: str | None = None


class Comparison(BaseModel):
    """The result of :func:`compare_runs`."""

    run_a: str
    run_b: str
    task: str
    metric: str
    n_shared: int
    n_only_a: int
    """Samples scored in A but not in B (left out of the comparison)."""
    n_only_b: int
    overall: PairedStat
    by_category: dict[str, PairedStat] = Field(default_factory=dict)
    by_mrr: dict[str, PairedStat] = Field(default_factory=dict)
    flipped: list[Flip] = Field(default_factory=list)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs at p = 1/2."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return float(min(1.0, 2 * tail))


def paired_stat(
    a: Sequence[float], b: Sequence[float], *, seed: int = 0, n_boot: int = 2000
) -> PairedStat:
    """Difference of means with its paired-bootstrap interval (and McNemar for 0/1 values)."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n = int(xa.size)
    # Resampling the per-sample differences is the paired bootstrap.
    delta, low, high = bootstrap_ci((xb - xa).tolist(), seed=seed, n_boot=n_boot)
    stat = PairedStat(
        n=n,
        mean_a=float(xa.mean()) if n else math.nan,
        mean_b=float(xb.mean()) if n else math.nan,
        delta=delta,
        ci_low=low,
        ci_high=high,
    )
    if n and np.isin(xa, (0.0, 1.0)).all() and np.isin(xb, (0.0, 1.0)).all():
        stat.only_a = int(((xa == 1) & (xb == 0)).sum())
        stat.only_b = int(((xa == 0) & (xb == 1)).sum())
        stat.p_value = mcnemar_exact(stat.only_a, stat.only_b)
    return stat


def _scored(results: list[SampleResult]) -> dict[str, SampleResult]:
    return {r.sample_id: r for r in results if r.error is None}


def compare_runs(
    run_a: str | Path, run_b: str | Path, *, metric: str | None = None, seed: int = 0
) -> Comparison:
    """Compare run B with run A on the samples both scored.

    Args:
        run_a: The baseline run directory.
        run_b: The run compared with it.
        metric: The sample metric to compare (default: the card's primary metric).
        seed: Seed of the paired bootstrap.

    Raises:
        UsageError: for runs of different tasks, no shared scored samples, or an unknown metric.
    """
    a, b = load_run(run_a), load_run(run_b)
    if a.spec.task != b.spec.task:
        raise UsageError(
            f"cannot compare runs of different tasks ({a.spec.task} in {a.dir}, {b.spec.task} in "
            f"{b.dir}); compare two runs of one task."
        )
    sa, sb = _scored(a.results), _scored(b.results)
    shared = sorted(set(sa) & set(sb))
    if not shared:
        raise UsageError(
            f"{a.dir} and {b.dir} have no scored sample in common; nothing to compare."
        )
    names = [m for m in sa[shared[0]].scores if m in sb[shared[0]].scores]
    if metric is None:
        metric = primary_metric(names, a.spec.primary_metric)
        if metric is None:
            raise UsageError("the runs share no metric; pass --metric.")
    missing = [
        sid for sid in shared if metric not in sa[sid].scores or metric not in sb[sid].scores
    ]
    if missing:
        have = ", ".join(names)
        raise UsageError(
            f"metric '{metric}' is missing for sample {missing[0]}; the runs have {have}."
        )
    va = [sa[s].scores[metric] for s in shared]
    vb = [sb[s].scores[metric] for s in shared]

    def groups(key: str) -> dict[str, PairedStat]:
        buckets: dict[str, list[int]] = {}
        for i, sid in enumerate(shared):
            value = getattr(sa[sid], key)
            if value is not None:
                buckets.setdefault(str(value), []).append(i)
        return {
            g: paired_stat([va[i] for i in idx], [vb[i] for i in idx], seed=seed)
            for g, idx in sorted(buckets.items())
        }

    flipped = [
        Flip(sample_id=sid, a=x, b=y, category=sa[sid].category, mrr=sa[sid].mrr)
        for sid, x, y in zip(shared, va, vb, strict=True)
        if x != y
    ]
    return Comparison(
        run_a=a.id,
        run_b=b.id,
        task=a.spec.task,
        metric=metric,
        n_shared=len(shared),
        n_only_a=len(set(sa) - set(sb)),
        n_only_b=len(set(sb) - set(sa)),
        overall=paired_stat(va, vb, seed=seed),
        by_category=groups("category"),
        by_mrr=groups("mrr"),
        flipped=flipped,
    )
