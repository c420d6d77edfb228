"""The HTML report: one self-contained page (plotly.js inlined; it opens with no network)."""

from __future__ import annotations

import base64
import html
import io
import math
import os
import string

from PIL import Image

from ps3_eval.errors import DataError
from ps3_eval.paper import PaperMatch
from ps3_eval.records import ImageSource, MetricValue, SampleResult
from ps3_eval.report.drawing import Figure
from ps3_eval.report.rows import RunRow


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _with_n(value: MetricValue | None) -> str:
    return "-" if value is None else f"{_fmt(value.mean)} (n={value.n})"


def html_table(headers: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    """An HTML table of text cells (every cell escaped); ``classes`` names a class per row."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        (f"<tr class='{c}'>" if c else "<tr>")
        + "".join(f"<td>{html.escape(cell)}</td>" for cell in row)
        + "</tr>"
        for row, c in zip(rows, classes or [""] * len(rows), strict=True)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


PAGE_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f4f4f4}
.note{color:#555;font-size:.9rem}
li{margin:.3rem 0}
.gallery td{vertical-align:top}.gallery td.q{text-align:left;max-width:320px}
.warn{background:#fff4e5;border:1px solid #f0b35a;padding:.5rem 1rem}
tr.incomplete td{background:#fff4e5}
figure{margin:1rem 0}
.ok{color:#087f23;font-weight:bold}.bad{color:#c62828;font-weight:bold}.none{color:#888}.seen{color:#666;font-size:11px}
"""
"""The style of every generated report page (run reports, MRR reports)."""


def html_document(title: str, body: str) -> str:
    """A self-contained report page: the shared style, plotly.js inlined, the title, ``body``.

    ``body`` is HTML the caller built (escaping what came from data); the title is escaped here.
    """
    from plotly.offline import get_plotlyjs

    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{PAGE_CSS}</style><script>{get_plotlyjs()}</script></head><body>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )


THUMBNAIL_PX = 240
"""Longest side of the thumbnail of a sample without a box."""


def _data_uri(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _crop(image: Image.Image, box: list[float], max_width: int = 360) -> Image.Image:
    """The region around ``box`` (upright coordinates) at the image's full resolution."""
    x0, y0, x1, y1 = box
    margin = max(3 * (y1 - y0), 60)
    crop = image.crop(
        (
            max(0, int(x0 - margin)),
            max(0, int(y0 - margin)),
            min(image.width, int(x1 + margin)),
            min(image.height, int(y1 + margin)),
        )
    )
    if crop.width > max_width:
        crop = crop.resize((max_width, max(1, round(crop.height * max_width / crop.width))))
    elif crop.width < max_width // 2:  # tiny details: enlarge without smoothing so pixels show
        crop = crop.resize((crop.width * 2, crop.height * 2), Image.Resampling.NEAREST)
    return crop


def _note(text: str) -> str:
    return f"<span class='none'>{html.escape(text)}</span>"


def _picture(result: SampleResult) -> str:
    """The detail cropped around the box, or the whole image as a thumbnail without one.

    Read through the package's image reader (EXIF orientation applied, as the model saw it; the
    box is in those upright coordinates), and only when the file is still the one the run read.
    """
    from ps3_eval.images import decode

    ref = result.images[0] if result.images else None
    if ref is None:
        return _note("no image")
    if not ref.path:
        return _note("image not on disk (it came as bytes from the dataset)")
    try:
        image, digest = decode(ImageSource(path=ref.path))
    except DataError as exc:
        if not os.path.isfile(ref.path):
            return _note(f"image {ref.path} is no longer readable")
        return _note(f"image {ref.path} could not be read: {exc}")
    if ref.digest and digest != ref.digest:  # a detail the model never saw
        return _note(f"image {ref.path} has changed since the run")
    if result.bbox is not None:
        return f"<img src='{_data_uri(_crop(image, result.bbox))}' alt='detail'>"
    image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    return f"<img src='{_data_uri(image)}' alt='image'>"


def _answer_cell(result: SampleResult | None, metric: str) -> str:
    """What one configuration answered; the raw answer or the error message is in the tooltip."""
    if result is None:
        return "-"
    if result.error:
        what = f"{result.error_kind} error" if result.error_kind else "error"
        return f"<span class='bad' title='{html.escape(result.error)}'>{html.escape(what)}</span>"
    said = html.escape(result.prediction)
    if result.extracted is None:
        return f"<span class='none' title='{said}'>no answer</span>"
    ok = result.scores.get(metric, 0.0) >= 1.0
    return (
        f"<span class='{'ok' if ok else 'bad'}' title='{said}'>"
        f"{html.escape(result.extracted)}</span>{_seen_note(result)}"
    )


def seen_text(result: SampleResult) -> str | None:
    """What an API model saw of the sample's first image, e.g. ``saw 1365x768 of 3840x2160``."""
    parts = [p for p in result.output.sent_images if p.source_index == 0]
    if not parts:
        return None
    whole = next((p for p in parts if p.crop is None), parts[0])
    text = f"saw {whole.seen[0]}x{whole.seen[1]}"
    if result.images and result.images[0].width and result.images[0].height:
        text += f" of {result.images[0].width}x{result.images[0].height}"
    crops = [p for p in parts if p.crop is not None]
    if crops:
        text += f" + {len(crops)} crops at {crops[0].seen[0]}x{crops[0].seen[1]}"
    return text


def _seen_note(result: SampleResult) -> str:
    text = seen_text(result)
    return f"<div class='seen'>{html.escape(text)}</div>" if text else ""


def _where(s: SampleResult) -> str:
    """The sample's category and MRR bucket, where it has them."""
    parts = [s.category or "", f"MRR {s.mrr}" if s.mrr else ""]
    return ", ".join(p for p in parts if p)


def _gallery(rows: list[RunRow], kept: dict[str, dict[str, SampleResult]]) -> str:
    """Per-sample table: the detail as the image has it, and what each run answered.

    Built from the runs' own records, so it needs neither the task nor its data.
    """
    items: dict[str, SampleResult] = {}
    for r in rows:
        for sid, res in kept.get(str(r.dir), {}).items():
            items.setdefault(sid, res)
    boxes = any(s.bbox is not None for s in items.values())
    picture = "detail (full-resolution crop)" if boxes else "image"
    head = "".join(
        f"<th>{html.escape(h)}</th>"
        for h in [picture, "question", "answer", *[r.label for r in rows]]
    )
    body = []
    for sid in sorted(items):
        s = items[sid]
        options = "<br>".join(
            f"{string.ascii_uppercase[i] if i < 26 else i + 1}. {html.escape(c)}"
            for i, c in enumerate(s.choices or [])
        )
        cells = "".join(
            f"<td>{_answer_cell(kept.get(str(r.dir), {}).get(sid), r.metric or '')}</td>"
            for r in rows
        )
        body.append(
            f"<tr><td>{_picture(s)}</td>"
            f"<td class='q'>{html.escape(s.question or '')}<br><small>{options}</small>"
            f"<br><small>{html.escape(_where(s))}</small></td>"
            f"<td>{html.escape(', '.join(s.targets))}</td>{cells}</tr>"
        )
    if not body:
        return ""
    return (
        "<h2>Samples</h2><p class='note'>Green: right, red: wrong, grey: the model gave no "
        "answer. Hover an answer for the model's raw text or the error.</p>"
        f"<table class='gallery'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
        "</tbody></table>"
    )


def summary_table(rows: list[RunRow]) -> tuple[list[str], list[list[str]]]:
    """The main table's headers and cells (shared by the HTML and the Markdown report)."""
    headers = [
        "run", "task", "model", "metric", "score", "95% CI", "interval", "n", "errors",
        "no answer", "visual tokens", "latency s (mean)", "p50", "box recall", "cost $", "status",
    ]  # fmt: skip
    cells = [
        [
            r.label,
            r.spec.task,
            r.spec.model,
            r.metric or "-",
            _fmt(r.value),
            f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]",
            r.method or "-",
            str(r.n),
            str(r.n_errors),
            _fmt(r.no_answer, 2),
            f"{r.visual_tokens:.0f}",
            _fmt(r.latency),
            _fmt(r.latency_p50),
            _fmt(r.recall),
            _fmt(r.cost, 4) if r.cost else "-",
            r.status,
        ]
        for r in rows
    ]
    return headers, cells


def paper_table(matches: list[tuple[str, PaperMatch]]) -> tuple[list[str], list[list[str]]]:
    """Paper values beside measured ones, on the paper's scale."""
    headers = [
        "run", "paper row", "paper settings", "column", "paper", "measured", "95% CI", "delta",
        "paper inside CI",
    ]  # fmt: skip
    cells = []
    for label, m in matches:
        inside = (
            "- (another model)"
            if not m.same_model
            else "-"
            if m.inside is None
            else ("yes" if m.inside else "no")
        )
        cells.append(
            [
                label,
                f"{m.table}: {m.model}",
                ", ".join(f"{k}={v}" for k, v in m.settings.items()) or "-",
                m.column,
                f"{m.paper:g}",
                _fmt(m.measured, 1),
                f"[{_fmt(m.ci_low, 1)}, {_fmt(m.ci_high, 1)}]",
                "-" if m.delta is None else f"{m.delta:+.1f}",
                inside,
            ]
        )
    return headers, cells


def breakdown_table(
    rows: list[RunRow], part: str, prefix: str = ""
) -> tuple[list[str], list[list[str]]]:
    """Per-bucket scores with the samples behind each (``part`` is by_mrr or by_category)."""
    keys = sorted({k for r in rows for k in getattr(r, part)})
    return (
        ["run"] + [f"{prefix}{k}" for k in keys],
        [[r.label] + [_with_n(getattr(r, part).get(k)) for k in keys] for r in rows],
    )


def render_html(
    title: str,
    rows: list[RunRow],
    findings: list[str],
    intro: str = "",
    figures: list[Figure] | None = None,
    paper: list[tuple[str, PaperMatch]] | None = None,
    gallery: dict[str, dict[str, SampleResult]] | None = None,
    paper_notes: list[str] | None = None,
) -> str:
    """The report page: findings, tables, interactive figures (plotly.js inlined) and a gallery.

    Everything that comes from data or models is escaped; the gallery of the details each run
    read or missed is built from the runs' records alone.
    """
    classes = ["" if r.complete else "incomplete" for r in rows]
    main = html_table(*summary_table(rows), classes)
    incomplete = [r for r in rows if not r.complete]
    warn = (
        "<p class='warn'>"
        + html.escape(
            f"{len(incomplete)} of {len(rows)} runs are incomplete (marked in the table): "
            + "; ".join(f"{r.label}: {r.status}" for r in incomplete)
            + ". Run them again to finish them."
        )
        + "</p>"
        if incomplete
        else ""
    )
    sections = [f"<h2>Scores, tokens, latency</h2>{main}"]
    if paper is not None:
        notes = "".join(f"<p class='warn'>{html.escape(n)}</p>" for n in paper_notes or [])
        sections.append(
            "<h2>Beside the paper</h2>"
            + notes
            + (
                html_table(*paper_table(paper))
                if paper
                else "<p class='note'>No run matches a row of the requested paper tables (same "
                "task, metric and settings).</p>"
            )
            + "<p class='note'>Paper values and measured ones on the paper's scale (percent, or "
            "OCRBench's score out of 1000); delta is measured minus paper. Whether the paper "
            "value lies inside the run's 95% CI is said only for a run of the row's own model."
            "</p>"
        )
    if any(r.by_mrr for r in rows):
        sections.append(
            "<h2>Per designed MRR bucket</h2>"
            + html_table(*breakdown_table(rows, "by_mrr", "MRR "))
        )
    if any(r.by_category for r in rows):
        sections.append("<h2>Per category</h2>" + html_table(*breakdown_table(rows, "by_category")))
    if figures:
        sections.append("<h2>Figures</h2>" + "".join(f.html() for f in figures))
    shown = _gallery(rows, gallery or {})
    items = "".join(f"<li>{html.escape(f)}</li>" for f in findings)
    said = f"<h2>What the numbers say</h2><ul>{items}</ul>" if findings else ""
    runs = "".join(
        f"<li>{html.escape(r.label)}: <code>{html.escape(str(r.dir))}</code></li>" for r in rows
    )
    return html_document(
        title,
        f"<p class='note'>{html.escape(intro)}</p>{warn}{said}"
        f"{''.join(sections)}{shown}<h2>Runs</h2><ul class='runs'>{runs}</ul>",
    )
