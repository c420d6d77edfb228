"""``ps3-eval report`` and ``plot``: reports and figures of runs chosen by filters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ps3_eval.cli.common import kv
from ps3_eval.console import err, out

_SOURCES_HELP = "Run directories, folders of them, or a sweep spec (YAML); default runs/."
# The run filters ps3-eval report and ps3-eval plot share.
_TaskFilter = Annotated[str | None, typer.Option(help="Keep runs of this task.")]
_ModelFilter = Annotated[str | None, typer.Option(help="Keep runs of this backend.")]
_WhereFilter = Annotated[
    list[str] | None, typer.Option(help="Keep runs whose model argument is KEY=VALUE (repeat).")
]
_SeriesOption = Annotated[
    str | None, typer.Option(help="Model argument that names each run's series in figures.")
]


def _sources(given: list[str] | None) -> str | list[str]:
    """One source as itself (a sweep spec is one file), several as a list; default runs/."""
    picked = given or ["runs"]
    return picked[0] if len(picked) == 1 else picked


def _where(pairs: list[str] | None) -> dict[str, str]:
    return {k: str(v) for k, v in kv(pairs, "--where").items()}


def report_cmd(
    sources: Annotated[list[str] | None, typer.Argument(help=_SOURCES_HELP)] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for report.html, report.md, figures/.")
    ] = Path("reports/report"),
    paper: Annotated[
        list[str] | None,
        typer.Option(help="Paper table to set beside the runs: table13 or table13:PS3 (repeat)."),
    ] = None,
    title: Annotated[str | None, typer.Option(help="The report's title.")] = None,
    metric: Annotated[str | None, typer.Option(help="Metric to report (default: primary).")] = None,
    task: _TaskFilter = None,
    model: _ModelFilter = None,
    where: _WhereFilter = None,
    series: _SeriesOption = None,
    gallery: Annotated[int, typer.Option(help="Samples in the gallery (0: none).", min=0)] = 24,
    no_static: Annotated[
        bool, typer.Option("--no-static", help="Skip the PNG figures of report.md.")
    ] = False,
) -> None:
    """Write an HTML and a Markdown report of one run, a sweep, or a set of runs."""
    from ps3_eval.report import build_report

    report = build_report(
        _sources(sources),
        out=out_dir,
        title=title,
        paper=paper,
        metric=metric,
        task=task,
        model=model,
        where=_where(where),
        series=series,
        gallery=gallery,
        static=not no_static,
    )
    incomplete = [r for r in report.rows if not r.complete]
    for r in incomplete:
        err.print(f"{r.label}: {r.status}", highlight=False, soft_wrap=True)
    for note in report.paper_notes:
        err.print(note, highlight=False, soft_wrap=True)
    n = len(report.rows)
    out.print(
        f"{n} run{'' if n == 1 else 's'} ({len(incomplete)} incomplete), "
        f"{len(report.figures)} figures, {len(report.paper)} paper values",
        highlight=False,
    )
    out.print(
        f"report: {report.html}\nmarkdown: {report.markdown}", soft_wrap=True, highlight=False
    )


def plot_cmd(
    kind: Annotated[
        str,
        typer.Argument(help="accuracy, tokens, resolution, selection, latency, category or mrr."),
    ],
    sources: Annotated[list[str] | None, typer.Argument(help=_SOURCES_HELP)] = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="File to write: .html, .png or .svg (default KIND.html)."),
    ] = None,
    metric: Annotated[str | None, typer.Option(help="Metric to plot (default: primary).")] = None,
    task: _TaskFilter = None,
    model: _ModelFilter = None,
    where: _WhereFilter = None,
    series: _SeriesOption = None,
) -> None:
    """Draw one figure from the runs chosen by the filters."""
    from ps3_eval.report import plot

    path = plot(
        kind,
        _sources(sources),
        out=out_file,
        metric=metric,
        task=task,
        model=model,
        where=_where(where),
        series=series,
    )
    out.print(str(path), soft_wrap=True, highlight=False)
