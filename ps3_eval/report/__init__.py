"""Reports and figures over runs: one run, a sweep, or any set of run directories.

``build_report`` writes a self-contained HTML page and a Markdown twin with PNG figures;
``plot`` draws one figure. Both read each run once and keep only its summary row and the few
samples the gallery shows, so a sweep of many large runs is never held in memory at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Union

from ps3_eval.errors import UsageError
from ps3_eval.paper import PaperMatch, PaperTable, match_run, parse_ref
from ps3_eval.report.figures import KINDS, Figure, build_figure, build_figures, pareto
from ps3_eval.report.findings import findings
from ps3_eval.report.markdown import render_markdown
from ps3_eval.report.page import render_html, seen_text
from ps3_eval.report.rows import Labelled, RunRow, find_runs, matches, report_rows

if TYPE_CHECKING:
    from ps3_eval.sweep import SweepSpec

Source = Union[str, Path, Sequence[str | Path], "SweepSpec"]
"""Run directories or folders of them, a sweep spec's path, or a loaded sweep spec."""


@dataclass
class Report:
    """What ``build_report`` wrote and the numbers behind it."""

    html: Path
    markdown: Path
    rows: list[RunRow]
    findings: list[str]
    figures: list[Figure]
    images: list[Path] = field(default_factory=list)
    """The static PNG figures the Markdown report shows."""
    paper: list[tuple[str, PaperMatch]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Sweep cells that have no run directory yet."""
    paper_notes: list[str] = field(default_factory=list)
    """Requested paper tables that are about other tasks than the runs', said as such."""


@dataclass
class _Chosen:
    runs: list[Labelled]
    title: str
    intro: str
    paper: list[str]
    missing: list[str]


def choose_runs(
    source: Source,
    *,
    task: str | None = None,
    model: str | None = None,
    where: dict[str, str] | None = None,
    series: str | None = None,
) -> _Chosen:
    """The labelled runs of a sweep spec (its labels and series) or of run directories."""
    from ps3_eval.sweep import SweepSpec, load_spec, locate

    is_path = isinstance(source, str | Path)
    if isinstance(source, SweepSpec) or (is_path and str(source).endswith((".yaml", ".yml"))):
        spec = source if isinstance(source, SweepSpec) else load_spec(Path(str(source)))
        cells = locate(spec, check_data=False)  # a report needs the runs, not the data
        chosen = [
            c
            for c in cells
            if (task is None or Path(c.task).stem == task)
            and (model is None or spec.model == model)
            and matches(c.model_args, where or {})
        ]
        runs = [
            Labelled(
                Path(c.run_dir),
                c.label,
                c.series if series is None else str(c.model_args.get(series)),
            )
            for c in chosen
            if c.run_dir is not None
        ]
        missing = [c.label for c in chosen if c.run_dir is None]
        if not chosen:
            raise UsageError(
                f"no cell of sweep {spec.name} matches the --task/--model/--where filters."
            )
        if not runs:
            raise UsageError(
                f"sweep {spec.name} has no run yet; run it with 'ps3-eval sweep' first."
            )
        return _Chosen(
            runs, spec.title or f"sweep {spec.name}", spec.description or "", spec.paper, missing
        )
    paths = [source] if isinstance(source, str | Path) else list(source)
    runs = find_runs(paths, task=task, model=model, where=where, series=series)
    title = f"ps3-eval report: {runs[0].label}" if len(runs) == 1 else "ps3-eval report"
    return _Chosen(runs, title, "", [], [])


def _paper(
    rows: list[RunRow], tables: Sequence[tuple[PaperTable, str | None]]
) -> list[tuple[str, PaperMatch]]:
    out = []
    for r in rows:
        values = {k: (v.mean, v.ci_low, v.ci_high) for k, v in r.metrics.items()}
        for table in tables:
            matched = match_run(table, r.spec.task, r.args, dict(values), backend=r.spec.model)
            out += [(r.label, m) for m in matched]
    return out


def _paper_notes(rows: list[RunRow], tables: Sequence[tuple[PaperTable, str | None]]) -> list[str]:
    """A line for each requested table that is about none of the runs' tasks."""
    from ps3_eval.paper import table_tasks

    ran = sorted({r.spec.task for r in rows})
    notes = []
    for table, _ in tables:
        about = table_tasks(table)
        if not set(about) & set(ran):
            notes.append(
                f"paper {table.name} is about {', '.join(about)}, not {', '.join(ran)}: it has "
                f"no value to set beside these runs."
            )
    return notes


def _check_metric(rows: list[RunRow], metric: str | None) -> None:
    """Refuse a metric that none of the runs has, naming the ones they have."""
    if metric is None or any(metric in r.metrics for r in rows):
        return
    have = sorted({m for r in rows for m in r.metrics})
    raise UsageError(
        f"metric '{metric}' is not a metric of the chosen runs; they have "
        f"{', '.join(have) or 'no metric yet (no summary)'}."
    )


def _unwritable(where: Path, exc: OSError, option: str) -> UsageError:
    return UsageError(
        f"cannot write to {exc.filename or where} ({exc.strerror or exc}); choose a writable "
        f"{option}."
    )


def build_report(
    source: Source = "runs",
    *,
    out: str | Path = "reports/report",
    title: str | None = None,
    intro: str | None = None,
    paper: Sequence[str] | None = None,
    metric: str | None = None,
    task: str | None = None,
    model: str | None = None,
    where: dict[str, str] | None = None,
    series: str | None = None,
    gallery: int = 24,
    static: bool = True,
    extra_findings: Sequence[str] = (),
) -> Report:
    """Write ``report.html`` and ``report.md`` (with ``figures/*.png``) under ``out``.

    Args:
        source: A sweep spec (its cells' labels and series), or run directories / folders of them.
        out: The report's folder.
        title: The page title (default: the sweep's title, or "ps3-eval report").
        intro: A paragraph under the title (default: the sweep's description).
        paper: Paper tables to set beside the runs, ``table13`` or ``table13:PS3`` (default: the
            sweep's ``paper`` list).
        metric: The metric to report (default: each run's primary metric).
        task: Keep runs of this task.
        model: Keep runs of this backend.
        where: Keep runs whose model argument prints as the given value.
        series: A model argument naming each run's series in figures (runs given by path).
        gallery: Samples shown with each run's answer (0: none).
        static: Also write PNG figures for the Markdown report.
        extra_findings: Statements put before the computed findings.
    """
    if gallery < 0:
        raise UsageError(f"gallery must be 0 (none) or a number of samples, got {gallery}.")
    chosen = choose_runs(source, task=task, model=model, where=where, series=series)
    refs = list(paper) if paper is not None else chosen.paper
    tables = [parse_ref(ref) for ref in refs]  # read once; a bad one fails before any run is
    rows, kept = report_rows(chosen.runs, metric, gallery)
    _check_metric(rows, metric)
    matches = _paper(rows, tables)
    notes = _paper_notes(rows, tables)
    facts = list(extra_findings) + findings(rows)
    if chosen.missing:
        n = len(chosen.missing)
        facts.insert(
            0,
            f"{n} {'cell has' if n == 1 else 'cells have'} not run yet: "
            f"{', '.join(chosen.missing)}.",
        )
    figures = build_figures(rows)
    folder = Path(out)
    name, text = title or chosen.title, chosen.intro if intro is None else intro
    page, md = folder / "report.html", folder / "report.md"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        page.write_text(
            render_html(
                name,
                rows,
                facts,
                text,
                figures=figures,
                paper=matches if refs else None,
                gallery=kept,
                paper_notes=notes,
            ),
            encoding="utf-8",
        )
        images = [f.write(folder / "figures" / f"{f.key}.png") for f in figures] if static else []
        md.write_text(
            render_markdown(
                name,
                rows,
                facts,
                text,
                figures=[
                    (f.title, p.relative_to(folder).as_posix())
                    for f, p in zip(figures, images, strict=False)
                ],
                paper=matches if refs else None,
                paper_notes=notes,
            ),
            encoding="utf-8",
        )
    except OSError as exc:
        raise _unwritable(folder, exc, "--out folder") from None
    return Report(page, md, rows, facts, figures, images, matches, chosen.missing, notes)


def plot(
    kind: str,
    source: Source = "runs",
    *,
    out: str | Path | None = None,
    metric: str | None = None,
    task: str | None = None,
    model: str | None = None,
    where: dict[str, str] | None = None,
    series: str | None = None,
) -> Path:
    """Draw one figure (``kind`` in :data:`KINDS`) of the chosen runs; returns the file.

    The file is interactive ``.html`` or a static ``.png`` / ``.svg``, by ``out``'s suffix.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown figure '{kind}'; the figures are {', '.join(KINDS)}.")
    chosen = choose_runs(source, task=task, model=model, where=where, series=series)
    rows, _ = report_rows(chosen.runs, metric)
    _check_metric(rows, metric)
    fig = build_figure(kind, rows)
    if fig is None:
        raise UsageError(
            f"the {len(rows)} chosen runs have nothing to draw as '{kind}' (it needs at least two "
            "runs that differ in what it plots, with scores); check the filters."
        )
    target = Path(out or f"{kind}.html")
    try:
        return fig.write(target)
    except OSError as exc:
        raise _unwritable(target, exc, "--out file") from None


__all__ = [
    "KINDS",
    "Figure",
    "Labelled",
    "Report",
    "RunRow",
    "build_figure",
    "build_figures",
    "build_report",
    "choose_runs",
    "find_runs",
    "findings",
    "pareto",
    "plot",
    "render_html",
    "render_markdown",
    "report_rows",
    "seen_text",
]
