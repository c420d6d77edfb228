"""Aggregate sample results into a ``RunSummary``."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

import numpy as np

from ps3_eval.records import (
    LatencyStats,
    MetricValue,
    RunSpec,
    RunSummary,
    SampleResult,
    TokenStats,
)
from ps3_eval.scoring.stats import bootstrap_ci


def _metrics(results: list[SampleResult], seed: int) -> dict[str, MetricValue]:
    names = sorted({k for r in results for k in r.scores})
    out = {}
    for name in names:
        values = [r.scores[name] for r in results if name in r.scores]
        mean, low, high = bootstrap_ci(values, seed=seed)
        out[name] = MetricValue(mean=mean, ci_low=low, ci_high=high, n=len(values))
    return out


def _grouped(results: list[SampleResult], key: str, seed: int) -> dict[str, dict[str, MetricValue]]:
    groups: dict[str, list[SampleResult]] = defaultdict(list)
    for r in results:
        value = getattr(r, key)
        if value is not None:
            groups[value].append(r)
    return {g: _metrics(rs, seed) for g, rs in sorted(groups.items())}


def summarize(
    run_id: str,
    spec: RunSpec,
    results: Iterable[SampleResult],
    *,
    n_total: int,
    wall_time_s: float = 0.0,
    n_new: int = 0,
) -> RunSummary:
    """Summarise results.

    Scored samples are sorted by id first, so the bootstrap (and hence the summary) is the
    same whatever order samples finished in or how often the run was resumed.
    """
    everything = sorted(results, key=lambda r: r.sample_id)
    scored = [r for r in everything if r.error is None]
    failed = [r for r in everything if r.error is not None]
    live = [r.output.timing.latency for r in scored if not r.output.cached]
    latency = LatencyStats(n=len(live))
    if live:
        arr = np.asarray(live)
        latency = LatencyStats(
            mean=float(arr.mean()),
            p50=float(np.percentile(arr, 50)),
            p90=float(np.percentile(arr, 90)),
            n=len(live),
        )
    tokens = TokenStats()
    if scored:
        tokens = TokenStats(
            input=float(np.mean([r.output.usage.input_tokens for r in scored])),
            visual=float(np.mean([r.output.usage.visual_tokens for r in scored])),
            output=float(np.mean([r.output.usage.output_tokens for r in scored])),
            estimated=any(r.output.usage.estimated for r in scored),
        )
    errors = Counter((r.error or "").splitlines()[0][:200] for r in failed)
    return RunSummary(
        run_id=run_id,
        spec=spec,
        n_total=n_total,
        n=len(scored),
        n_errors=len(failed),
        complete=len(scored) == n_total,
        metrics=_metrics(scored, spec.seed),
        by_category=_grouped(scored, "category", spec.seed),
        by_mrr=_grouped(scored, "mrr", spec.seed),
        latency=latency,
        tokens=tokens,
        wall_time_s=wall_time_s,
        throughput=(n_new / wall_time_s) if wall_time_s > 0 and n_new else None,
        errors=dict(errors.most_common(20)),
    )
