"""The report's figures: one neutral description, drawn by plotly (HTML) or matplotlib (PNG/SVG).

Static images come from matplotlib, not from plotly's kaleido: kaleido 1.x drives a Chrome it
finds or downloads at run time, and a fresh machine set up as the README says has neither.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ps3_eval.errors import UsageError
from ps3_eval.records import MetricValue
from ps3_eval.report.rows import RunRow, arg_text, grouped, varying

KINDS = ("accuracy", "tokens", "resolution", "selection", "latency", "category", "mrr")
"""Figures ``ps3-eval plot`` draws (``ps3-eval report`` draws every one the runs support)."""


@dataclass
class Trace:
    """One series: points (lines between them when ``line``) or bars, with 95% CI bars."""

    name: str
    x: list[Any]
    y: list[float | None]
    low: list[float | None]
    high: list[float | None]
    hover: list[str]
    kind: Literal["points", "bars", "front"] = "points"
    line: bool = True


@dataclass
class Figure:
    """A figure as data: the same description makes the HTML and the static image."""

    key: str
    title: str
    x_title: str
    y_title: str
    traces: list[Trace] = field(default_factory=list)
    x_log: bool = False
    caption: str = ""

    @property
    def x_ticks(self) -> list[float]:
        """Where the x axis is labelled: at the data's own values (thinned where they crowd).

        Empty for bars and for axes with too many distinct values to label each.
        """
        return data_ticks([x for t in self.traces if t.kind != "bars" for x in t.x], self.x_log)

    def to_plotly(self) -> Any:
        """A plotly figure (labels shown literally: plotly's pseudo-HTML is escaped)."""
        import plotly.graph_objects as go

        fig = go.Figure()
        for t in self.traces:
            err = dict(
                type="data",
                symmetric=False,
                array=[_gap(h, y) for h, y in zip(t.high, t.y, strict=True)],
                arrayminus=[_gap(y, lo) for lo, y in zip(t.low, t.y, strict=True)],
                visible=any(v is not None for v in t.high),
            )
            x = [_text(v) if isinstance(v, str) else v for v in t.x]
            common = dict(name=_text(t.name), x=x, y=t.y, hovertext=[_text(h) for h in t.hover])
            if t.kind == "bars":
                fig.add_trace(go.Bar(**common, error_y=err, hoverinfo="text+y"))
            elif t.kind == "front":
                fig.add_trace(
                    go.Scatter(
                        **common,
                        mode="lines+markers",
                        line=dict(dash="dash", color="#444", shape="hv"),
                        marker=dict(size=16, symbol="circle-open", color="#444"),
                        hoverinfo="text",
                    )
                )
            else:
                fig.add_trace(
                    go.Scatter(
                        **common,
                        mode="lines+markers" if t.line else "markers",
                        marker=dict(size=10),
                        error_y=err,
                        hoverinfo="text+x+y",
                    )
                )
        xaxis: dict[str, Any] = dict(title=_text(self.x_title), type="log" if self.x_log else "-")
        ticks = self.x_ticks
        if ticks:
            xaxis.update(tickmode="array", tickvals=ticks, ticktext=[tick_text(v) for v in ticks])
        fig.update_layout(
            title=_text(self.title),
            xaxis=xaxis,
            yaxis=dict(title=_text(self.y_title), rangemode="tozero"),
            # beside the plot, never over the data
            legend=dict(title=dict(text=""), x=1.02, xanchor="left", y=1.0, yanchor="top"),
            barmode="group",
            margin=dict(t=60, b=60),
        )
        return fig

    def html(self) -> str:
        """The figure as an HTML fragment (plotly.js must be on the page)."""
        div: str = self.to_plotly().to_html(
            full_html=False, include_plotlyjs=False, default_height=440
        )
        caption = f"<p class='note'>{html.escape(self.caption)}</p>" if self.caption else ""
        return f"<figure>{div}{caption}</figure>"

    def write(self, path: str | Path) -> Path:
        """Write ``.html`` (interactive, self-contained), ``.png`` or ``.svg`` (static)."""
        out = Path(path)
        suffix = out.suffix.lower()
        out.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".html":
            self.to_plotly().write_html(out, include_plotlyjs=True, full_html=True)
        elif suffix in (".png", ".svg"):
            _static(self, out)
        else:
            raise UsageError(f"cannot write a figure as '{suffix}'; use .html, .png or .svg.")
        return out


def _gap(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else max(0.0, a - b)


def _text(text: str) -> str:
    """``text`` as plotly.js shows it literally.

    plotly.js renders a pseudo-HTML subset in every label (``<b>``, ``<a href>``,
    ``<span style>``, ``<br>``) and decodes ``&lt;``, ``&gt;`` and ``&amp;``, so a label is shown
    as written only with those three characters escaped. It also means no ``<`` from data reaches
    the figure's inline ``<script>``, whatever a plotly version does about ``</script>``.
    """
    return html.escape(str(text), quote=False)


MAX_TICKS = 12
"""At most this many data values label an axis; more fall back to the plotting library's own."""
MAX_SERIES = 12
"""More one-run series than this are drawn as one set of unjoined points."""


def tick_text(v: float) -> str:
    """A tick label as the value reads: ``0.3``, ``756``, ``3780``, ``1674`` (no ``3x10^-1``)."""
    if float(v).is_integer() or abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def data_ticks(values: Sequence[Any], log: bool) -> list[float]:
    """The distinct numeric values to label an axis at, dropping any that would crowd the last.

    On a log axis positions are compared in log space; a value closer than a twentieth of the
    span to the last kept one is dropped, so labels never overlap.
    """
    import math

    if any(isinstance(v, str | bool) or v is None for v in values):
        return []  # categories, not numbers
    nums = sorted({float(v) for v in values if not log or v > 0})
    if not nums:
        return []
    pos = [math.log10(v) if log else v for v in nums]
    span = (pos[-1] - pos[0]) or 1.0
    kept: list[float] = []
    last = None
    for v, p in zip(nums, pos, strict=True):
        if last is None or p - last >= span / 20:
            kept.append(v)
            last = p
    return kept if len(kept) <= MAX_TICKS else []


def _static(fig: Figure, out: Path) -> None:
    """Write the static image (PNG or SVG), grown to hold the legend beside the axes."""
    mpl = draw_static(fig)
    legends = [legend for ax in mpl.axes if (legend := ax.get_legend()) is not None]
    mpl.savefig(out, format=out.suffix[1:].lower(), bbox_inches="tight", bbox_extra_artists=legends)


def draw_static(fig: Figure) -> Any:
    """The figure drawn with matplotlib's object API (no pyplot state, no display, no browser).

    Ticks sit at the data's values (no minor labels on a log axis) and the legend sits to the
    right of the axes, never over the data.
    """
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    mpl = MplFigure(figsize=(9, 4.8), dpi=110, layout="constrained")
    ax = mpl.add_subplot()
    bars = [t for t in fig.traces if t.kind == "bars"]
    if bars:
        cats = list(dict.fromkeys(x for t in bars for x in t.x))
        width = 0.8 / len(bars)
        for i, t in enumerate(bars):
            pos = {x: j for j, x in enumerate(cats)}
            xs = [pos[x] - 0.4 + width * (i + 0.5) for x in t.x]
            ys = [float("nan") if y is None else y for y in t.y]
            ax.bar(xs, ys, width, label=t.name, yerr=_yerr(t), ecolor="#333", capsize=2)
        ax.set_xticks(range(len(cats)), [str(c) for c in cats], rotation=20, ha="right")
    for t in fig.traces:
        if t.kind == "bars":
            continue
        pts = [(x, y, i) for i, (x, y) in enumerate(zip(t.x, t.y, strict=True)) if y is not None]
        if not pts:
            continue
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        if t.kind == "front":
            ax.step(xs, ys, where="post", ls="--", color="#444", label=t.name)
            ax.scatter(xs, ys, s=160, facecolors="none", edgecolors="#444")
        else:
            err = _yerr(t, [p[2] for p in pts])
            ax.errorbar(
                xs, ys, yerr=err, fmt="o-" if t.line else "o", capsize=3, label=t.name, ms=6
            )
    if fig.x_log:
        ax.set_xscale("log")
    ticks = fig.x_ticks
    if ticks:
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.set_xticks(ticks, [tick_text(v) for v in ticks])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
    elif fig.x_log:
        from matplotlib.ticker import FuncFormatter

        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 0.3, not 3x10^-1
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_title(fig.title)
    ax.set_xlabel(fig.x_title)
    ax.set_ylabel(fig.y_title)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if len(fig.traces) > 1 or any(t.kind == "front" for t in fig.traces):
        legend = ax.legend(
            fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0
        )
        # Outside the layout: the axes keep their size however long the legend is, and the
        # saved image grows to hold it (bbox_inches="tight").
        legend.set_in_layout(False)
    return mpl


def _yerr(t: Trace, keep: Sequence[int] | None = None) -> Any:
    idx = range(len(t.y)) if keep is None else keep
    lo = [_gap(t.y[i], t.low[i]) or 0.0 for i in idx]
    hi = [_gap(t.high[i], t.y[i]) or 0.0 for i in idx]
    return None if not any(lo) and not any(hi) else [lo, hi]


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
