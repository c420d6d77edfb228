"""Aggregate sample results into a ``RunSummary``."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

import numpy as np

from ps3_eval.errors import first_line
from ps3_eval.records import (
    CostStats,
    LatencyStats,
    MetricValue,
    ModelOutput,
    RunSpec,
    RunSummary,
    SampleResult,
    TokenStats,
    Usage,
)
from ps3_eval.scoring.aggregate import Aggregation, get_aggregation


def _grouped(
    results: list[SampleResult], key: str, seed: int, aggregate: Aggregation
) -> dict[str, dict[str, MetricValue]]:
    groups: dict[str, list[SampleResult]] = defaultdict(list)
    for r in results:
        value = getattr(r, key)
        if value is not None:
            groups[value].append(r)
    out = {g: aggregate(rs, seed) for g, rs in sorted(groups.items())}
    return {g: metrics for g, metrics in out.items() if metrics}


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


def _tokens(usages: list[Usage]) -> TokenStats:
    if not usages:
        return TokenStats()
    known = [u.visual_tokens for u in usages if u.visual_tokens is not None]
    return TokenStats(
        input=float(np.mean([u.input_tokens for u in usages])),
        visual=float(np.mean(known)) if known else 0.0,
        output=float(np.mean([u.output_tokens for u in usages])),
        estimated=any(u.estimated for u in usages),
    )


def _live_answers(results: list[SampleResult]) -> list[ModelOutput]:
    """Outputs of calls that really ran and answered (scored, or failed only by the scorer)."""
    return [
        r.output
        for r in results
        if (r.error is None or r.error_kind == "scorer") and not r.output.cached
    ]


def _cost(answered: list[ModelOutput]) -> CostStats:
    """Price of the calls that answered, cache replays excluded."""
    priced = [o.cost for o in answered if o.cost is not None]
    tables = sorted({str(o.extra["prices"]) for o in answered if "prices" in o.extra})
    total = float(sum(priced))
    return CostStats(
        total=total,
        per_sample=total / len(priced) if priced else 0.0,
        n_priced=len(priced),
        n_unpriced=len(answered) - len(priced) if tables else 0,
        prices=", ".join(tables) or None,
    )


def error_line(message: str | None) -> str:
    """The first line of an error message (cut to 200 characters), or a placeholder."""
    return first_line(message or "", "(error without a message)")[:200]


def _stage_means(outputs: list[ModelOutput]) -> dict[str, float]:
    """Mean seconds per timed stage, over the calls that report it."""
    means = {}
    for stage in ("vision_encoder", "llm", "ttft"):
        values = [v for o in outputs if (v := getattr(o.timing, stage)) is not None]
        if values:
            means[stage] = sum(values) / len(values)
    return means


def _mean_batch(outputs: list[ModelOutput]) -> float | None:
    sizes = [o.timing.batch_size for o in outputs if o.timing.batch_size is not None]
    return float(np.mean(sizes)) if sizes else None


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
    live = _live_answers(everything)
    call_failures = [
        r.output.timing.latency for r in failed if r.error_kind in ("model", "timeout")
    ]
    tokens = _tokens([r.output.usage for r in scored])
    judged = [r.judge for r in scored if r.judge is not None]
    aggregate = get_aggregation(spec.aggregation)
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
        metrics=aggregate(everything, spec.seed),
        by_category=_grouped(everything, "category", spec.seed, aggregate),
        by_mrr=_grouped(everything, "mrr", spec.seed, aggregate),
        latency=latency_stats([o.timing.latency for o in live]),
        latency_failed=latency_stats(call_failures),
        tokens=tokens,
        wall_time_s=wall_time_s,
        throughput=n_new / per_second if per_second else None,
        answered_throughput=n_new_scored / per_second if per_second else None,
        code_revisions=revisions if spec.sessions else [],
        errors=dict(errors.most_common(20)),
        extraction=f"rules, then the judge {spec.judge}"
        if spec.judge
        else "rule-based extraction only",
        n_unparsed=sum("unparsed" in r.notes for r in scored),
        judge_tokens=_tokens([j.usage for j in judged if j.error is None]),
        n_judged=sum(j.error is None for j in judged),
        cost=_cost(live),
        stage_means=_stage_means(live),
        batched_calls=sum((o.timing.batch_size or 1) > 1 for o in live),
        mean_batch_size=_mean_batch(live),
        peak_memory_mb=max(
            (
                float(r.output.extra["peak_memory_mb"])
                for r in everything
                if "peak_memory_mb" in r.output.extra
            ),
            default=None,
        ),
    )
