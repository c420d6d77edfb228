"""The MRR report: mean MRR per benchmark, its distribution, agreement, and Figure 8.

Per benchmark the mean MRR with a bootstrap CI and its distribution, the agreement of the raters,
and the paper's Figure 8 (median native resolution against MRR).

MRR values are pixels of the long side at which an item becomes answerable: the side of its
rung (1K = 756, 2K = 1512, 4K = 3780 on the default ladder), so they sit on the same axis as the
images' native resolution. ``beyond`` and ``no_image`` items are counted in the distribution and
left out of the mean; automatic estimates still open (``incomplete``) are left out of both.
"""

from __future__ import annotations

import html
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ps3_eval.errors import UsageError
from ps3_eval.mrr.auto import AutoResult, load_auto
from ps3_eval.mrr.kappa import Agreement, agreement, study_agreement
from ps3_eval.mrr.ladder import BEYOND, INCOMPLETE, NO_IMAGE, Ladder
from ps3_eval.mrr.paper import FIGURE8, PaperPoint
from ps3_eval.mrr.study import Study, is_study
from ps3_eval.report.figures import Figure, Trace
from ps3_eval.scoring.stats import bootstrap_ci


@dataclass
class MrrRow:
    """One benchmark's MRR by one kind of rater."""

    benchmark: str
    """The benchmark's task name."""
    source: str
    """``human``, ``auto: <model>`` or ``designed``."""
    origin: str
    """The study or result file it comes from."""
    ladder: str
    """The ladder, as ``1K=756,...``."""
    n_items: int
    """Items in the sample."""
    counts: dict[str, int]
    """Labels per value (a human label per labeller and item; one per item otherwise)."""
    n_valued: int
    """Items with an MRR on a rung (those the mean is over)."""
    mean: float | None
    """Mean MRR in pixels (long side)."""
    ci_low: float | None
    ci_high: float | None
    median_native: float | None
    """Median native resolution of the items (long side of the largest image, pixels)."""
    labellers: int = 0
    """Labellers behind a ``human`` row."""
    shares: dict[str, float] = field(default_factory=dict)
    """``counts`` as shares of all labels."""


def _nan_none(x: float) -> float | None:
    return None if math.isnan(x) else x


def summarize(
    benchmark: str,
    source: str,
    origin: str,
    ladder: Ladder,
    per_item: dict[str, list[str]],
    natives: Sequence[int],
    *,
    n_items: int,
    labellers: int = 0,
    seed: int = 0,
) -> MrrRow:
    """One benchmark's row for one kind of rater.

    An item's MRR is the mean of the rung sides of its labels on a rung (one per labeller); the
    benchmark's is the mean over items, with a 95% percentile bootstrap over items.
    """
    counts = dict.fromkeys(ladder.scale, 0)
    values = []
    for _, labels in sorted(per_item.items()):  # item order, so the bootstrap is reproducible
        for lab in labels:
            counts[lab] = counts.get(lab, 0) + 1
        sides = [s for s in (ladder.side(lab) for lab in labels) if s is not None]
        if sides:
            values.append(sum(sides) / len(sides))
    mean, low, high = bootstrap_ci(values, seed=seed)
    total = sum(counts.values())
    return MrrRow(
        benchmark=benchmark,
        source=source,
        origin=origin,
        ladder=ladder.text(),
        n_items=n_items,
        counts=counts,
        n_valued=len(values),
        mean=_nan_none(mean),
        ci_low=_nan_none(low),
        ci_high=_nan_none(high),
        median_native=float(statistics.median(natives)) if natives else None,
        labellers=labellers,
        shares={k: v / total for k, v in counts.items()} if total else {},
    )


def _auto_source(r: AutoResult) -> str:
    return f"auto: {r.model}"


def _from_auto(r: AutoResult, origin: str, seed: int, designed: bool) -> list[MrrRow]:
    natives = [it.native_side for it in r.items if it.native_side]
    per_item = {it.id: [it.mrr] for it in r.items if it.mrr != INCOMPLETE}
    rows = [
        summarize(r.task, _auto_source(r), origin, r.ladder, per_item, natives,
                  n_items=len(r.items), seed=seed)
    ]  # fmt: skip
    truth = r.designed()
    if designed and truth:
        rows.append(
            summarize(r.task, "designed", origin, r.ladder, {k: [v] for k, v in truth.items()},
                      natives, n_items=len(r.items), seed=seed)
        )  # fmt: skip
    return rows


def mrr_rows(
    sources: Sequence[str | Path], *, seed: int = 0
) -> tuple[list[MrrRow], list[tuple[str, Agreement]]]:
    """Rows and agreements of study folders and saved automatic results.

    A study gives its human labels, each automatic result in its ``auto/`` folder and its designed
    MRR (when the benchmark has one); a result file gives its estimate (and the designed MRR).

    Raises:
        UsageError: for a source that is neither, or when nothing has an MRR yet.
    """
    rows: list[MrrRow] = []
    agreements: list[tuple[str, Agreement]] = []
    for src in sources:
        path = Path(src)
        if is_study(path):
            study = Study(path)
            natives = [it.native_side for it in study.items]
            n = len(study.items)
            humans = study.human_labels()
            if humans:
                per_item: dict[str, list[str]] = {}
                for labels in humans.values():
                    for item, lab in labels.items():
                        per_item.setdefault(item, []).append(lab)
                rows.append(
                    summarize(study.spec.task, "human", study.name, study.ladder, per_item,
                              natives, n_items=n, labellers=len(humans), seed=seed)
                )  # fmt: skip
            autos = [load_auto(f) for f in study.auto_files()]
            for r in autos:
                rows += _from_auto(r, study.name, seed, designed=False)
            designed = study.designed()
            if designed:
                rows.append(
                    summarize(study.spec.task, "designed", study.name, study.ladder,
                              {k: [v] for k, v in designed.items()}, natives, n_items=n,
                              seed=seed)
                )  # fmt: skip
            same = [r for r in autos if r.ladder == study.ladder]
            agreements += [(study.name, a) for a in study_agreement(study, same)]
        elif path.is_file() and path.suffix == ".json":
            r = load_auto(path)
            rows += _from_auto(r, path.name, seed, designed=True)
            truth = r.designed()
            if truth:
                ag = agreement(truth, r.labels(), r.ladder.scale, ("designed", _auto_source(r)))
                agreements.append((path.name, ag))
        else:
            raise UsageError(
                f"{path} is neither an MRR study folder nor an automatic result (.json); make one "
                f"with `ps3-eval mrr sample` or `ps3-eval mrr auto ... --out FILE.json`."
            )
    if not rows:
        raise UsageError(
            "nothing to report yet: the studies have no labels, no automatic results and no "
            "designed MRR; add labels (`ps3-eval mrr label`) or run `ps3-eval mrr auto`."
        )
    return rows, agreements


def _name(row: MrrRow, rows: Sequence[MrrRow]) -> str:
    name = f"{row.benchmark}: {row.source}"
    twins = [r for r in rows if r.benchmark == row.benchmark and r.source == row.source]
    return f"{name} ({row.origin})" if len(twins) > 1 else name


def figure8(rows: Sequence[MrrRow], paper: Sequence[PaperPoint] = FIGURE8) -> Figure:
    """Median native resolution against mean MRR: the paper's Figure 8.

    One point per benchmark and rater (95% CI bars), the paper's points (approximate) and the
    line where MRR equals resolution.
    """
    traces = []
    drawn = [r for r in rows if r.mean is not None and r.median_native is not None]
    for r in drawn:
        traces.append(
            Trace(
                name=_name(r, rows),
                x=[r.median_native],
                y=[r.mean],
                low=[r.ci_low],
                high=[r.ci_high],
                hover=[f"{_name(r, rows)}: {r.n_valued} items with an MRR of {r.n_items}"],
                line=False,
            )
        )
    # Points the paper states alike (DocVQA and V*Bench) are one point with both names.
    placed: dict[tuple[float, float, float, float], list[PaperPoint]] = {}
    for p in paper:
        if p.resolution is not None:
            placed.setdefault((p.resolution, p.mrr, p.mrr_low, p.mrr_high), []).append(p)
    for (x, y, low, high), same in placed.items():
        names = ", ".join(p.benchmark for p in same)
        traces.append(
            Trace(
                name=f"{names} (paper, approximate)",
                x=[x],
                y=[y],
                low=[low if low != high else None],
                high=[high if low != high else None],
                hover=[f"{names}, paper Figure 8 (approximate): {same[0].says}"],
                line=False,
            )
        )
    ends = [float(v) for t in traces for v in (*t.x, *t.y) if v is not None]
    if ends:
        top = max(ends)
        traces.append(
            Trace(
                name="MRR = image resolution",
                x=[0.0, top],
                y=[0.0, top],
                low=[None, None],
                high=[None, None],
                hover=["MRR equal to the image's own resolution"] * 2,
            )
        )
    return Figure(
        "figure8",
        "Image resolution and MRR per benchmark (the paper's Figure 8)",
        "median native resolution (long side, pixels)",
        "mean MRR (long side, pixels; bars: 95% CI)",
        traces,
        caption="MRR: the long side at which an item becomes answerable, 1K = 756, 2K = 1512, "
        "4K = 3780 pixels; items needing more than the top rung or no image at all are counted "
        "apart, not in the mean. Paper points are approximate: the paper prints no numbers for "
        "this figure, they restate its text on this scale (benchmarks whose resolution it does "
        "not state are listed in the table, not drawn).",
    )


def distribution_figure(rows: Sequence[MrrRow]) -> Figure | None:
    """Share of labels per MRR value, one group of bars per benchmark and rater."""
    if not rows:
        return None
    order: list[str] = []
    for r in rows:
        for k in r.counts:
            if k not in order and k not in (NO_IMAGE, BEYOND):
                order.append(k)
    order = [NO_IMAGE, *order, BEYOND]
    traces = [
        Trace(
            name=_name(r, rows),
            x=order,
            y=[r.shares.get(k, 0.0) for k in order],
            low=[None] * len(order),
            high=[None] * len(order),
            hover=[f"{_name(r, rows)}: {k} {r.counts.get(k, 0)}" for k in order],
            kind="bars",
        )
        for r in rows
    ]
    return Figure(
        "mrr_distribution",
        "Distribution of MRR per benchmark",
        "MRR",
        "share of labels",
        traces,
        caption="no_image: answerable without the image; beyond: not answerable at the top rung "
        "(a labeller's 'needs more than the original'; a model wrong even at full resolution).",
    )


def _fmt(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def summary_table(
    rows: Sequence[MrrRow], compact: bool = False
) -> tuple[list[str], list[list[str]]]:
    """The main table's headers and cells (``compact``: the distribution in one column)."""
    scale: list[str] = []
    for r in rows:
        scale += [k for k in r.counts if k not in scale]
    if compact:
        headers = ["benchmark", "rater", "items", "mean MRR px (95% CI)", "labels", "native px"]
        cells = [
            [
                r.benchmark, r.source, f"{r.n_valued}/{r.n_items}",
                f"{_fmt(r.mean)} [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]",
                " ".join(f"{k}:{v}" for k, v in r.counts.items() if v),
                _fmt(r.median_native),
            ]
            for r in rows
        ]  # fmt: skip
        return headers, cells
    headers = ["benchmark", "rater", "from", "items", "with an MRR", "mean MRR px", "95% CI",
               *scale, "median native px", "labellers"]  # fmt: skip
    cells = [
        [
            r.benchmark, r.source, r.origin, str(r.n_items), str(r.n_valued), _fmt(r.mean),
            f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]",
            *(f"{r.counts.get(k, 0)} ({r.shares.get(k, 0.0):.0%})" for k in scale),
            _fmt(r.median_native), str(r.labellers) if r.source == "human" else "-",
        ]
        for r in rows
    ]  # fmt: skip
    return headers, cells


def fmt_kappa(x: float | None) -> str:
    """A kappa for a table: three decimals, or ``undefined``."""
    return "undefined" if x is None else f"{x:.3f}"


def agreement_table(items: Sequence[tuple[str, Agreement]]) -> tuple[list[str], list[list[str]]]:
    """Pairwise agreement: n, share agreeing, kappa unweighted, linear and quadratic."""
    headers = ["study", "rater A", "rater B", "items", "agree", "kappa", "kappa linear",
               "kappa quadratic"]  # fmt: skip
    cells = [
        [where, a.a, a.b, str(a.n), "-" if a.observed is None else f"{a.observed:.1%}",
         fmt_kappa(a.kappa), fmt_kappa(a.kappa_linear), fmt_kappa(a.kappa_quadratic)]
        for where, a in items
    ]  # fmt: skip
    return headers, cells


def confusion_html(a: Agreement, table: Any) -> str:
    """A confusion matrix as an HTML table (rows: rater A, columns: rater B)."""
    used = [i for i, lab in enumerate(a.labels)
            if any(a.confusion[i]) or any(row[i] for row in a.confusion)]  # fmt: skip
    headers = [f"{a.a} \\ {a.b}", *(a.labels[j] for j in used)]
    cells = [[a.labels[i], *(str(a.confusion[i][j]) for j in used)] for i in used]
    return str(table(headers, cells))


@dataclass
class MrrReport:
    """What :func:`build_mrr_report` wrote and the numbers behind it."""

    html: Path
    figure8: Path
    """Figure 8 as PNG (``figure8.html`` beside it is the interactive one)."""
    json: Path
    rows: list[MrrRow]
    agreements: list[tuple[str, Agreement]]
    images: list[Path] = field(default_factory=list)
    """Every static figure written."""


def build_mrr_report(
    sources: Sequence[str | Path],
    *,
    out: str | Path = "reports/mrr",
    title: str = "MRR report",
    paper: bool = True,
    seed: int = 0,
) -> MrrReport:
    """Write the MRR report; the Python twin of ``ps3-eval mrr report``.

    Under ``out``: ``report.html``, ``figure8.png`` and ``figure8.html``,
    ``mrr_distribution.png`` and ``mrr.json``.

    Args:
        sources: Study folders and saved automatic results (``.json``).
        out: The report's folder.
        title: The page's title.
        paper: Draw the paper's Figure 8 points (approximate) beside the measured ones.
        seed: Seed of the bootstrap.
    """
    from ps3_eval.report.page import html_document
    from ps3_eval.report.page import html_table as table

    if not sources:
        raise UsageError("give at least one study folder or automatic result.")
    rows, agreements = mrr_rows(sources, seed=seed)
    points = FIGURE8 if paper else ()
    fig8 = figure8(rows, points)
    dist = distribution_figure(rows)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    png = fig8.write(folder / "figure8.png")
    fig8.write(folder / "figure8.html")
    images = [png]
    if dist is not None:
        images.append(dist.write(folder / "mrr_distribution.png"))
    sections = [
        "<h2>Mean MRR per benchmark</h2>" + table(*summary_table(rows)),
        "<p class='note'>Mean over the items with an MRR on a rung (95% percentile bootstrap "
        f"over items, seed {seed}); an item labelled by several people counts once, at the mean "
        "of their rungs. The label counts include every labeller's latest label.</p>",
        "<h2>Figure 8</h2>" + fig8.html(),
    ]
    if dist is not None:
        sections.append("<h2>Distribution</h2>" + dist.html())
    if agreements:
        sections.append(
            "<h2>Agreement</h2>" + table(*agreement_table(agreements))
            + "<p class='note'>Cohen's kappa on the items both raters rated; weighted kappa counts "
            "disagreements by their distance on the scale no_image &lt; rungs &lt; beyond. "
            "Undefined when both raters give one same label to every item.</p>"
            + "".join(
                f"<h3>{html.escape(where)}: {html.escape(a.a)} vs {html.escape(a.b)}</h3>"
                + confusion_html(a, table)
                for where, a in agreements
            )
        )  # fmt: skip
    if paper:
        sections.append(
            "<h2>The paper's Figure 8 (approximate)</h2>"
            + table(
                ["benchmark", "image resolution px", "MRR px", "band", "what the paper says"],
                [
                    [
                        p.benchmark,
                        _fmt(p.resolution) if p.resolution else "not stated",
                        _fmt(p.mrr),
                        f"{_fmt(p.mrr_low)}-{_fmt(p.mrr_high)}",
                        p.says,
                    ]
                    for p in FIGURE8
                ],
            )
            + "<p class='note'>The paper prints no numbers for Figure 8; these restate its text "
            "and the figure's labels on this report's scale (1K = 756, 2K = 1512, 4K = 3780 "
            "pixels; a 4K image 3840 pixels wide). Only benchmarks with a stated resolution are "
            "drawn.</p>"
        )
    page = folder / "report.html"
    page.write_text(
        html_document(
            title,
            "<p class='note'>Minimum recognizable resolution (MRR): the lowest resolution at "
            f"which an item's question can be answered.</p>{''.join(sections)}",
        ),
        encoding="utf-8",
    )
    data = folder / "mrr.json"
    data.write_text(
        json.dumps(
            {
                "rows": [asdict(r) for r in rows],
                "agreements": [{"study": w, **a.to_dict()} for w, a in agreements],
                "paper_figure8": [asdict(p) for p in FIGURE8] if paper else [],
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    return MrrReport(page, png, data, rows, agreements, images)
