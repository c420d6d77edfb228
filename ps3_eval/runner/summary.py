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
from ps3_eval.scoring.stats import mean_ci


def _metrics(results: list[SampleResult], seed: int) -> dict[str, MetricValue]:
    names = sorted({k for r in results for k in r.scores})
    out = {}
    for name in names:
        values = [r.scores[name] for r in results if name in r.scores]
        mean, low, high, method = mean_ci(values, seed=seed)
        out[name] = MetricValue(mean=mean, ci_low=low, ci_high=high, n=len(values), method=method)
    return out


def _grouped(results: list[SampleResult], key: str, seed: int) -> dict[str, dict[str, MetricValue]]:
    groups: dict[str, list[SampleResult]] = defaultdict(list)
    for r in results:
        value = getattr(r, key)
        if value is not None:
            groups[value].append(r)
    return {g: _metrics(rs, seed) for g, rs in sorted(groups.items())}


def latency_stats(values: list[float]) -> LatencyStats:
    """Mean, median, 90th percentile and maximum of call latencies (seconds)."""
    if not values:
        return LatencyStats()
    arr = np.asarray(values, dtype=float)
    return LatencyStats(
        mean=float(arr.mean()),
        p50=float(np.percentile(arr, 50)),
        p90=float(np.percentile(arr, 90)),
        max=float(arr.max()),
        n=len(values),
    )


def error_line(message: str | None) -> str:
    """The first line of an error message, or a placeholder when the message is empty."""
    lines = (message or "").strip().splitlines()
    return lines[0][:200] if lines else "(error without a message)"


def summarize(
    run_id: str,
    spec: RunSpec,
    results: Iterable[SampleResult],
    *,
    n_total: int,
    wall_time_s: float = 0.0,
    n_new: int = 0,
    n_new_scored: int = 0,
) -> RunSummary:
    """Summarise results.

    Scored samples are sorted by id first, so the bootstrap (and hence the summary) is the
    same whatever order samples finished in or how often the run was resumed.

    Latency is split: calls that answered (scored, or answered but failed by the scorer) and calls
    that failed or timed out, timed until they failed. Cache replays and samples that never reached
    the model (unreadable image, broken row) are in neither.
    """
    everything = sorted(results, key=lambda r: r.sample_id)
    scored = [r for r in everything if r.error is None]
    failed = [r for r in everything if r.error is not None]
    answered = [
        r.output.timing.latency
        for r in everything
        if (r.error is None or r.error_kind == "scorer") and not r.output.cached
    ]
    call_failures = [
        r.output.timing.latency for r in failed if r.error_kind in ("model", "timeout")
    ]
    tokens = TokenStats()
    if scored:
        tokens = TokenStats(
            input=float(np.mean([r.output.usage.input_tokens for r in scored])),
            visual=float(np.mean([r.output.usage.visual_tokens for r in scored])),
            output=float(np.mean([r.output.usage.output_tokens for r in scored])),
            estimated=any(r.output.usage.estimated for r in scored),
        )
    errors = Counter(error_line(r.error) for r in failed)
    used = {r.session for r in everything if r.session is not None}
    revisions = sorted(
        {s.code_revision or "unknown" for i, s in enumerate(spec.sessions) if i in used or not used}
    )
    per_second = wall_time_s if wall_time_s > 0 and n_new else None
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
        latency=latency_stats(answered),
        latency_failed=latency_stats(call_failures),
        tokens=tokens,
        wall_time_s=wall_time_s,
        throughput=n_new / per_second if per_second else None,
        answered_throughput=n_new_scored / per_second if per_second else None,
        code_revisions=revisions if spec.sessions else [],
        errors=dict(errors.most_common(20)),
    )
