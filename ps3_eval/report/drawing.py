"""Figures as data, drawn by plotly (interactive HTML) or matplotlib (PNG/SVG).

Static images come from matplotlib, not from plotly's kaleido: kaleido 1.x drives a Chrome it
finds or downloads at run time, and a fresh machine set up as the README says has neither.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ps3_eval.errors import UsageError


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
