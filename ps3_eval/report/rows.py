"""Runs reduced to the figures a report shows, read one run at a time.

A report over a sweep of many runs never holds every sample: each run's records are read, reduced
to one :class:`RunRow` and dropped, except the few samples the gallery shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ps3_eval.errors import UsageError
from ps3_eval.records import MetricValue, RunSpec, SampleResult
from ps3_eval.rundir import RunDir, find_run_dirs, load_run


@dataclass(frozen=True)
class Labelled:
    """A run directory with the label and series a report and its figures give it."""

    dir: Path
    label: str
    series: str | None = None


@dataclass
class RunRow:
    """One run reduced to what a report shows (no per-sample records kept)."""

    label: str
    series: str | None
    dir: Path
    spec: RunSpec
    complete: bool
    """False for a run without a summary or whose summary says samples are missing."""
    n_total: int | None
    """Samples the run was asked for (None when it never wrote a summary)."""
    n_recorded: int
    """Samples with a record (scored or failed)."""
    metric: str | None
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    method: str | None = None
    n: int = 0
    n_errors: int = 0
    no_answer: float | None = None
    visual_tokens: float = 0.0
    latency: float | None = None
    latency_p50: float | None = None
    recall: float | None = None
    cost: float | None = None
    metrics: dict[str, MetricValue] = field(default_factory=dict)
    """Every metric of the run (``metric`` is the one reported)."""
    by_mrr: dict[str, MetricValue] = field(default_factory=dict)
    by_category: dict[str, MetricValue] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        """The run directory's name."""
        return self.dir.name

    @property
    def args(self) -> dict[str, Any]:
        """The run's model arguments."""
        return self.spec.model_args

    @property
    def status(self) -> str:
        """``complete``, or how far an incomplete run got."""
        if self.complete:
            return "complete"
        total = "?" if self.n_total is None else str(self.n_total)
        return f"incomplete ({self.n_recorded} of {total} samples recorded)"


def _row(item: Labelled, metric: str | None, keep: set[str] | None) -> tuple[RunRow, list[Any]]:
    run = load_run(item.dir)
    spec, summary, results = run.spec, run.summary, run.results
    name = metric or (summary.primary if summary else None)
    row = RunRow(
        label=item.label,
        series=item.series,
        dir=item.dir,
        spec=spec,
        complete=bool(summary and summary.complete),
        n_total=summary.n_total if summary else None,
        n_recorded=len(results),
        metric=name,
    )
    scored = [r for r in results if r.error is None]
    if scored:
        row.no_answer = sum(r.extracted is None for r in scored) / len(scored)
        recalls = [
            r.output.selection.recall
            for r in scored
            if r.output.selection is not None and r.output.selection.recall is not None
        ]
        row.recall = sum(recalls) / len(recalls) if recalls else None
    if summary is not None:
        row.n_errors = summary.n_errors
        row.visual_tokens = summary.tokens.visual
        row.latency, row.latency_p50 = summary.latency.mean, summary.latency.p50
        row.cost = summary.cost.total
        row.metrics = dict(summary.metrics)
        mv = summary.metrics.get(name) if name else None
        if mv is not None:
            row.value, row.ci_low, row.ci_high = mv.mean, mv.ci_low, mv.ci_high
            row.method, row.n = mv.method, mv.n
        if name:
            row.by_mrr = {k: v[name] for k, v in summary.by_mrr.items() if name in v}
            row.by_category = {k: v[name] for k, v in summary.by_category.items() if name in v}
    gallery = [r for r in results if keep is None or r.sample_id in keep]
    return row, gallery


def report_rows(
    runs: Iterable[Labelled], metric: str | None = None, gallery: int = 0
) -> tuple[list[RunRow], dict[str, dict[str, SampleResult]]]:
    """Read each run once, in order, keeping only its row and the gallery's samples.

    Args:
        runs: The runs, labelled.
        metric: The metric to report; by default each run's primary one (``RunSummary.primary``).
        gallery: How many samples the gallery shows: the first ids (sorted) of the first run
            that has samples, those with a box to crop when some have one.

    Returns:
        The rows, and per run directory the gallery's records by sample id.
    """
    rows: list[RunRow] = []
    kept: dict[str, dict[str, SampleResult]] = {}
    chosen: set[str] | None = None
    for item in runs:
        row, results = _row(item, metric, chosen if gallery else set())
        rows.append(row)
        if gallery and chosen is None:
            boxed = [r for r in results if r.bbox]
            ids = sorted(r.sample_id for r in boxed or results)
            if ids:
                chosen = set(ids[:gallery])
        if gallery:
            kept[str(item.dir)] = {
                r.sample_id: r for r in results if chosen and r.sample_id in chosen
            }
    return rows, kept


def varying(args: Sequence[Mapping[str, Any]]) -> list[str]:
    """Keys whose values differ between the mappings, in first-seen order.

    A missing key counts as None, as does NaN (a data frame's empty cell).
    """
    keys = list(dict.fromkeys(k for a in args for k in a))

    def value(a: Mapping[str, Any], k: str) -> str:
        v = a.get(k)
        return repr(None if isinstance(v, float) and v != v else v)

    return [k for k in keys if len({value(a, k) for a in args}) > 1]


def _differing(specs: Sequence[RunSpec]) -> list[str]:
    """Model arguments whose values differ between runs, in first-seen order."""
    return varying([s.model_args for s in specs])


def _order(v: Any) -> tuple[int, float, str]:
    """Sort key of an argument's value: unset first, then numbers by size, then text."""
    if v is None:
        return (0, 0.0, "")
    if isinstance(v, int | float) and not isinstance(v, bool):
        return (1, float(v), "")
    return (2, 0.0, str(v))


def arg_text(v: Any) -> str:
    """An argument's value as labels and ``--where`` write it: ``0.1``, ``756``, ``-`` for unset."""
    return "-" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


def default_labels(runs: Sequence[tuple[Path, RunSpec]]) -> list[str]:
    """Short labels that tell runs apart.

    The task and model when they differ, then the arguments that differ
    (``resolution=756 select=0.1``); the run id where nothing else does.
    """
    specs = [s for _, s in runs]
    tasks = len({s.task for s in specs}) > 1
    models = len({s.model for s in specs}) > 1
    varying = _differing(specs)
    labels = []
    for s in specs:
        parts = ([s.task] if tasks else []) + ([s.model] if models else [])
        parts += [
            f"{k}={arg_text(s.model_args[k])}" for k in varying if s.model_args.get(k) is not None
        ]
        labels.append(" ".join(parts) or s.model)
    # Runs that differ only in what is not a model argument (data, seed, limit) keep apart by id.
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return [
        label if counts[label] == 1 else f"{label} [{d.name}]"
        for label, (d, _) in zip(labels, runs, strict=True)
    ]


def matches(args: dict[str, Any], where: dict[str, str]) -> bool:
    """Whether every model argument named in ``where`` prints as the value it gives."""
    for key, want in where.items():
        got = args.get(key)
        if arg_text(got) != want and str(got) != want:
            return False
    return True


def find_runs(
    paths: Iterable[str | Path],
    *,
    task: str | None = None,
    model: str | None = None,
    where: dict[str, str] | None = None,
    series: str | None = None,
) -> list[Labelled]:
    """Run directories under ``paths`` that pass the filters, labelled by what tells them apart.

    They come sorted by task, model and then the values of the arguments that differ.

    Args:
        paths: Run directories or folders of them.
        task: Keep runs of this task.
        model: Keep runs of this backend.
        where: Keep runs whose model argument ``key`` prints as ``value`` (``select=0.1``).
        series: A model argument whose value names each run's series in figures.
    """
    specs = [(d, RunDir(d).read_spec()) for d in find_run_dirs(paths, strict=True)]
    specs = [
        (d, s)
        for d, s in specs
        if (task is None or s.task == task)
        and (model is None or s.model == model)
        and matches(s.model_args, where or {})
    ]
    if not specs:
        raise UsageError("no run matches; check the paths and the --task/--model/--where filters.")
    varying = _differing([s for _, s in specs])
    specs.sort(
        key=lambda ds: (
            ds[1].task,
            ds[1].model,
            *(_order(ds[1].model_args.get(k)) for k in varying),
        )
    )
    if series is not None and all(series not in s.model_args for _, s in specs):
        raise UsageError(f"--series {series} is not a model argument of any chosen run.")
    labels = default_labels(specs)
    return [
        Labelled(d, label, None if series is None else arg_text(s.model_args.get(series)))
        for (d, s), label in zip(specs, labels, strict=True)
    ]


def grouped(rows: Sequence[RunRow], key: Any) -> list[tuple[Any, list[RunRow]]]:
    """Rows grouped by ``key(row)``, groups in first-seen order."""
    order: dict[Any, list[RunRow]] = {}
    for r in rows:
        order.setdefault(key(r), []).append(r)
    return list(order.items())
