"""The report's figures from its runs: which runs form a series, and what each figure plots.

Each figure is a neutral description (:class:`~ps3_eval.report.drawing.Figure`) that
``ps3_eval.report.drawing`` draws as interactive HTML or a static image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ps3_eval.errors import UsageError
from ps3_eval.records import MetricValue
from ps3_eval.report.drawing import Figure, Trace, draw_static
from ps3_eval.report.rows import RunRow, arg_text, grouped, varying

__all__ = [
    "BUDGET_ARGS",
    "KINDS",
    "SCALE_ARGS",
    "Figure",
    "Trace",
    "build_figure",
    "build_figures",
    "draw_static",
    "pareto",
    "series_namer",
]

KINDS = ("accuracy", "tokens", "resolution", "selection", "latency", "category", "mrr")
"""Figures ``ps3-eval plot`` draws (``ps3-eval report`` draws every one the runs support)."""


MAX_SERIES = 12
"""More one-run series than this are drawn as one set of unjoined points."""


def _y_title(rows: Sequence[RunRow]) -> str:
    metrics = sorted({r.metric for r in rows if r.metric})
    return f"{' / '.join(metrics) or 'score'} (bars: 95% CI)"


SCALE_ARGS = ("resolution", "max_pixels")
"""Arguments that set the scale an image is read at: visual tokens and latency grow with them, so
runs that differ only in them form one line in those figures (the paper's scaling curves)."""
BUDGET_ARGS = (
    *SCALE_ARGS,
    "select",
    "select_train",
    "max_patches",
    "num_token_look_close",
    "num_look_close",
    "select_num_each_scale",
    "tiles",
)
"""Arguments that set how much of an image is read. Within a series a sweep or ``--series``
names, runs that differ in them form one line of visual tokens or latency (the paper's PS3 curve
across resolutions and selection budgets); by default only :data:`SCALE_ARGS` do."""


def series_namer(
    rows: Sequence[RunRow], along: Sequence[str], along_named: Sequence[str] | None = None
) -> Callable[[RunRow], str]:
    """Names each run's series: a line joins only runs that differ in what the axis measures.

    By default a run's series is its model plus every argument that varies between the rows and
    is set for the run, except those in ``along`` (the figure's axis). A series a sweep or
    ``--series`` names is kept, with the arguments that vary within it added, except those in
    ``along_named`` (default ``along``); it is prefixed by the model when the rows are of several.
    Rows of several tasks are prefixed by their task.
    """
    tasks = len({r.spec.task for r in rows}) > 1
    models = len({r.spec.model for r in rows}) > 1
    keys = [k for k in varying([r.args for r in rows]) if k not in along]
    skip = along if along_named is None else along_named
    within = {
        named: [k for k in varying([r.args for r in group]) if k not in skip]
        for named, group in grouped([r for r in rows if r.series is not None], lambda r: r.series)
    }

    def args_of(r: RunRow, names: Sequence[str]) -> list[str]:
        return [f"{k}={arg_text(r.args[k])}" for k in names if r.args.get(k) is not None]

    def name(r: RunRow) -> str:
        if r.series is not None:
            named = f"{r.spec.model} {r.series}" if models else r.series
            base = " ".join([named, *args_of(r, within[r.series])])
        else:
            base = " ".join([r.spec.model, *args_of(r, keys)])
        return f"{r.spec.task}: {base}" if tasks else base

    return name


def _curve(
    rows: Sequence[RunRow],
    x_of: Callable[[RunRow], float | None],
    series_of: Callable[[RunRow], str],
) -> list[Trace]:
    """Rows with a positive x value, one line per series, sorted along x.

    A series of one run has nothing to join; past :data:`MAX_SERIES` of them, they are drawn as
    one set of unjoined points (each labelled by its run on hover) instead of a legend entry each.
    """
    # a log axis cannot place zero; such runs are left out of that figure
    have = [r for r in rows if r.value is not None and (x_of(r) or 0.0) > 0]
    groups = [(n, sorted(g, key=lambda r: x_of(r) or 0.0)) for n, g in grouped(have, series_of)]
    singles = [g[0] for _, g in groups if len(g) == 1]
    lone = len(singles) > MAX_SERIES
    if lone:
        groups = [(n, g) for n, g in groups if len(g) > 1]
        groups.append(("runs, one point each (not joined)", singles))
    traces = [
        Trace(
            name=name,
            x=[x_of(r) for r in group],
            y=[r.value for r in group],
            low=[r.ci_low for r in group],
            high=[r.ci_high for r in group],
            hover=[r.label for r in group],
            line=len(group) > 1 and not (lone and group is singles),
        )
        for name, group in groups
    ]
    return traces


def _select(r: RunRow, key: str = "select") -> float | None:
    """A selection ratio; a run without one reads every patch (1.0)."""
    v = r.args.get(key)
    return 1.0 if v is None else float(v)


def _selection_series(rows: Sequence[RunRow]) -> Callable[[RunRow], str]:
    """Train- and test-time selection apart, as the paper's Figure 7 draws them."""
    base = series_namer(rows, ("select", "select_train"))
    stated = any("select_train" in r.args for r in rows)

    def name(r: RunRow) -> str:
        if not stated or "select_train" not in r.args:
            return base(r)
        train = r.args.get("select_train")
        if train is None or abs(float(train) - (_select(r) or 1.0)) < 1e-9:
            kind = "same selection in training and at test"
        else:
            kind = f"trained at {float(train):g}, selection varied at test"
        return f"{base(r)}: {kind}"

    return name


def pareto(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: no faster point scores as high or higher.

    The front runs from the fastest point to the most accurate; ties in latency keep the best.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _bars(rows: Sequence[RunRow], part: Callable[[RunRow], dict[str, MetricValue]]) -> list[Trace]:
    keys = sorted({k for r in rows for k in part(r)})
    traces = []
    for r in rows:
        got = part(r)
        vals = [got.get(k) for k in keys]
        traces.append(
            Trace(
                name=r.label,
                x=keys,
                y=[v.mean if v else None for v in vals],
                low=[v.ci_low if v else None for v in vals],
                high=[v.ci_high if v else None for v in vals],
                hover=[
                    f"{r.label}: {k} (n={v.n if v else 0})" for k, v in zip(keys, vals, strict=True)
                ],
                kind="bars",
            )
        )
    return traces


def build_figure(kind: str, rows: Sequence[RunRow]) -> Figure | None:
    """The figure ``kind`` of ``rows``, or None when the rows carry nothing to draw for it."""
    y = _y_title(rows)
    if kind == "accuracy":
        have = [r for r in rows if r.value is not None]
        if not have:
            return None
        t = Trace(
            name="runs",
            x=[r.label for r in have],
            y=[r.value for r in have],
            low=[r.ci_low for r in have],
            high=[r.ci_high for r in have],
            hover=[f"{r.label} (n={r.n})" for r in have],
            kind="bars",
        )
        return Figure(kind, "Score per run", "run", y, [t])
    if kind == "tokens":
        namer = series_namer(rows, SCALE_ARGS, BUDGET_ARGS)
        traces = _curve(rows, lambda r: r.visual_tokens or None, namer)
        if sum(len(t.x) for t in traces) < 2:
            return None
        return Figure(
            kind,
            "Accuracy vs high-resolution tokens",
            "visual tokens per sample (mean, log scale)",
            y,
            traces,
            x_log=True,
            caption="Visual tokens: the image tokens each sample cost (14x14-pixel patches for "
            "the PS3-style readers; the provider's count or rule for API models).",
        )
    if kind == "resolution":

        def res(r: RunRow) -> float | None:
            v = r.args.get("resolution")
            return None if v is None else float(v)

        traces = _curve(rows, res, series_namer(rows, ("resolution",)))
        if len({x for t in traces for x in t.x}) < 2:
            return None
        return Figure(
            kind,
            "Accuracy vs resolution",
            "resolution (pixels on the long side, log scale)",
            y,
            traces,
            x_log=True,
        )
    if kind == "selection":
        with_sel = [r for r in rows if "select" in r.args or "select_train" in r.args]
        traces = _curve(with_sel, _select, _selection_series(with_sel))
        if len({x for t in traces for x in t.x}) < 2:
            return None
        return Figure(
            kind,
            "Accuracy vs selection ratio",
            "share of high-resolution patches selected",
            y,
            traces,
            caption="A run without a selection reads every patch (ratio 1). Training-time and "
            "test-time selection are separate series where runs say how they were trained "
            "(select_train).",
        )
    if kind == "latency":
        have = [r for r in rows if r.value is not None and r.latency is not None]
        if len(have) < 2:
            return None
        traces = _curve(have, lambda r: r.latency, series_namer(have, SCALE_ARGS, BUDGET_ARGS))
        for t in traces:
            t.line = False
        pts = [(r.latency or 0.0, r.value or 0.0) for r in have]
        front = [have[i] for i in pareto(pts)]
        traces.append(
            Trace(
                name="Pareto front (no faster run scores as high)",
                x=[r.latency for r in front],
                y=[r.value for r in front],
                low=[None] * len(front),
                high=[None] * len(front),
                hover=[r.label for r in front],
                kind="front",
            )
        )
        return Figure(
            kind,
            "Accuracy vs latency",
            "seconds per sample (mean over answered calls, log scale)",
            y,
            traces,
            x_log=True,
        )
    if kind in ("category", "mrr"):
        part: Callable[[RunRow], dict[str, MetricValue]] = (
            (lambda r: r.by_category) if kind == "category" else (lambda r: r.by_mrr)
        )
        if not any(part(r) for r in rows):
            return None
        what = "category" if kind == "category" else "designed MRR bucket"
        return Figure(
            kind,
            f"Score per {what}",
            what,
            y,
            _bars(rows, part),
            caption="MRR: the minimum resolution a question needs (4KPro's buckets)."
            if kind == "mrr"
            else "",
        )
    raise UsageError(f"unknown figure '{kind}'; the figures are {', '.join(KINDS)}.")


def build_figures(rows: Sequence[RunRow]) -> list[Figure]:
    """Every figure the rows support, in a fixed order."""
    figs = (build_figure(k, rows) for k in KINDS)
    return [f for f in figs if f is not None]
