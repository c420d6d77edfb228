"""Self-contained HTML reports comparing runs (plotly figures inlined, no network needed)."""

from __future__ import annotations

import hashlib
import html
import math
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ps3_eval.analysis import Run
from ps3_eval.records import SampleResult


@dataclass(frozen=True)
class ConfigRow:
    """One run reduced to the numbers a comparison report shows."""

    label: str
    run: Run
    metric: str
    value: float
    ci_low: float
    ci_high: float
    n: int
    n_errors: int
    no_answer: float
    visual_tokens: float
    latency: float | None
    recall: float | None
    method: str
    """How the interval was computed (``wilson`` or ``bootstrap``)."""
    by_mrr: dict[str, float]
    by_category: dict[str, float]
    by_mrr_n: dict[str, int]
    """Scored samples behind each MRR bucket's value."""
    by_category_n: dict[str, int]
    """Scored samples behind each category's value."""


def config_rows(runs: Sequence[tuple[str, Run]], metric: str = "accuracy") -> list[ConfigRow]:
    """Reduce labelled runs to report rows (runs without a summary are skipped)."""
    rows = []
    for label, run in runs:
        s = run.summary
        if s is None or metric not in s.metrics:
            continue
        mv = s.metrics[metric]
        scored = [r for r in run.results if r.error is None]
        recalls = [
            r.output.selection.recall
            for r in scored
            if r.output.selection is not None and r.output.selection.recall is not None
        ]
        rows.append(
            ConfigRow(
                label=label,
                run=run,
                metric=metric,
                value=mv.mean,
                ci_low=mv.ci_low,
                ci_high=mv.ci_high,
                n=mv.n,
                n_errors=s.n_errors,
                no_answer=sum(r.extracted is None for r in scored) / max(1, len(scored)),
                visual_tokens=s.tokens.visual,
                latency=s.latency.mean,
                recall=sum(recalls) / len(recalls) if recalls else None,
                method=mv.method,
                by_mrr={k: v[metric].mean for k, v in s.by_mrr.items() if metric in v},
                by_category={k: v[metric].mean for k, v in s.by_category.items() if metric in v},
                by_mrr_n={k: v[metric].n for k, v in s.by_mrr.items() if metric in v},
                by_category_n={k: v[metric].n for k, v in s.by_category.items() if metric in v},
            )
        )
    return rows


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _with_n(value: float | None, n: int | None) -> str:
    return "-" if value is None else f"{_fmt(value)} (n={n})"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _plotly_text(text: str) -> str:
    """``text`` as plotly.js shows it literally.

    plotly.js renders a pseudo-HTML subset in every label (``<b>``, ``<a href>``,
    ``<span style>``, ``<br>``) and decodes ``&lt;``, ``&gt;`` and ``&amp;``, so a label is shown
    as written only with those three characters escaped. It also means no ``<`` from data reaches
    the figure's inline ``<script>``, whatever a plotly version does about ``</script>``.
    """
    return html.escape(text, quote=False)


def _scatter(rows: list[ConfigRow], x: list[float | None], title: str, x_title: str) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure(
        go.Scatter(
            x=x,
            y=[r.value for r in rows],
            text=[_plotly_text(r.label) for r in rows],
            mode="markers+text",
            textposition="top center",
            marker=dict(size=12),
        )
    )
    fig.update_layout(
        title=title,
        xaxis=dict(title=x_title, type="log"),
        yaxis=dict(title="accuracy", range=[0, 1.05]),
    )
    return fig


def _figures(rows: list[ConfigRow]) -> list[Any]:
    import plotly.graph_objects as go

    labels = [_plotly_text(r.label) for r in rows]
    err = dict(
        type="data",
        symmetric=False,
        array=[r.ci_high - r.value for r in rows],
        arrayminus=[r.value - r.ci_low for r in rows],
    )
    acc = go.Figure(go.Bar(x=labels, y=[r.value for r in rows], error_y=err))
    acc.update_layout(
        title="Accuracy per configuration (95% CI)",
        yaxis=dict(title="accuracy", range=[0, 1]),
    )
    buckets = sorted({b for r in rows for b in r.by_mrr})
    mrr = go.Figure(
        [
            go.Bar(name=_plotly_text(f"MRR {b}"), x=labels, y=[r.by_mrr.get(b) for r in rows])
            for b in buckets
        ]
    )
    mrr.update_layout(
        barmode="group",
        title="Accuracy per designed MRR bucket",
        yaxis=dict(title="accuracy", range=[0, 1]),
    )
    tokens = _scatter(
        rows,
        [r.visual_tokens for r in rows],
        "Accuracy vs visual tokens (14x14 patches processed)",
        "visual tokens per image",
    )
    latency = _scatter(
        rows,
        [r.latency for r in rows],
        "Accuracy vs latency per sample",
        "seconds per sample (mean)",
    )
    return [acc, mrr, tokens, latency]


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f4f4f4}
.note{color:#555;font-size:.9rem}
li{margin:.3rem 0}
.gallery td{vertical-align:top}.gallery td.q{text-align:left;max-width:320px}
.ok{color:#087f23;font-weight:bold}.bad{color:#c62828;font-weight:bold}.none{color:#888}.seen{color:#666;font-size:11px}
"""


def _crop_data_uri(data: bytes, box: list[float], max_width: int = 360) -> str:
    """A PNG data URI of the region around ``box`` of an encoded image, at its full resolution."""
    import base64
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        x0, y0, x1, y1 = box
        margin = max(3 * (y1 - y0), 60)
        crop = im.convert("RGB").crop(
            (
                max(0, int(x0 - margin)),
                max(0, int(y0 - margin)),
                min(im.width, int(x1 + margin)),
                min(im.height, int(y1 + margin)),
            )
        )
    if crop.width > max_width:
        crop = crop.resize((max_width, max(1, round(crop.height * max_width / crop.width))))
    elif crop.width < max_width // 2:  # tiny details: enlarge without smoothing so pixels show
        crop = crop.resize((crop.width * 2, crop.height * 2), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    crop.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _note(text: str) -> str:
    return f"<span class='none'>{html.escape(text)}</span>"


def _detail(result: SampleResult) -> str:
    """The cropped detail, or a note saying why there is none (results carry images by path)."""
    from PIL import Image

    image = result.images[0] if result.images else None
    if image is None or not image.path:
        return _note("image not on disk (it came as bytes from the dataset)")
    if result.bbox is None:
        return _note("no box to crop")
    try:
        data = Path(image.path).read_bytes()
    except OSError:
        return _note(f"image {image.path} is no longer readable")
    # The runner's content hash (ps3_eval.runner.images.decode): a file replaced since the run
    # would show a detail the model never saw.
    if image.digest and hashlib.blake2b(data, digest_size=16).hexdigest() != image.digest:
        return _note(f"image {image.path} has changed since the run")
    try:
        return f"<img src='{_crop_data_uri(data, result.bbox)}'>"
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        return _note(f"image {image.path} could not be cropped: {exc}")


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


def _gallery(rows: list[ConfigRow], limit: int) -> str:
    """Per-sample table: the detail as the image has it, and what each configuration answered.

    Built from the runs' own records, so it needs neither the task nor its data.
    """
    answers = {r.label: {res.sample_id: res for res in r.run.results} for r in rows}
    items: dict[str, SampleResult] = {}
    for r in rows:
        for res in r.run.results:
            if res.question is not None and res.bbox is not None:
                items.setdefault(res.sample_id, res)
    head = "".join(
        f"<th>{html.escape(h)}</th>"
        for h in ["detail (full-resolution crop)", "question", "answer", *[r.label for r in rows]]
    )
    body = []
    for sid in sorted(items)[:limit]:
        s = items[sid]
        options = "<br>".join(
            f"{string.ascii_uppercase[i] if i < 26 else i + 1}. {html.escape(c)}"
            for i, c in enumerate(s.choices or [])
        )
        cells = "".join(
            f"<td>{_answer_cell(answers[r.label].get(sid), r.metric)}</td>" for r in rows
        )
        body.append(
            f"<tr><td>{_detail(s)}</td>"
            f"<td class='q'>{html.escape(s.question or '')}<br><small>{options}</small>"
            f"<br><small>{html.escape(s.category or '')}, MRR {html.escape(s.mrr or '?')}"
            f"</small></td><td>{html.escape(', '.join(s.targets))}</td>{cells}</tr>"
        )
    rows_html = "".join(body)
    return (
        f"<table class='gallery'><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>"
    )


def render_html(
    title: str,
    rows: list[ConfigRow],
    findings: list[str],
    intro: str = "",
    gallery_limit: int = 24,
) -> str:
    """The report page: findings, tables, interactive figures (plotly.js inlined) and a gallery.

    Everything that comes from data or models is escaped; the gallery of the details each
    configuration read or missed is built from the runs' records alone.
    """
    from plotly.offline import get_plotlyjs

    main = _table(
        [
            "configuration",
            "accuracy",
            "95% CI",
            "interval",
            "n",
            "errors",
            "no answer",
            "visual tokens",
            "latency s",
            "box recall",
        ],
        [
            [
                r.label,
                _fmt(r.value),
                f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]",
                r.method,
                str(r.n),
                str(r.n_errors),
                _fmt(r.no_answer, 2),
                f"{r.visual_tokens:.0f}",
                _fmt(r.latency),
                _fmt(r.recall),
            ]
            for r in rows
        ],
    )
    buckets = sorted({b for r in rows for b in r.by_mrr})
    mrr = _table(
        ["configuration"] + [f"MRR {b}" for b in buckets],
        [[r.label] + [_with_n(r.by_mrr.get(b), r.by_mrr_n.get(b)) for b in buckets] for r in rows],
    )
    cats = sorted({c for r in rows for c in r.by_category})
    cat = _table(
        ["configuration", *cats],
        [
            [r.label] + [_with_n(r.by_category.get(c), r.by_category_n.get(c)) for c in cats]
            for r in rows
        ],
    )
    figs = "".join(
        f.to_html(full_html=False, include_plotlyjs=False, default_height=420)
        for f in _figures(rows)
    )
    items = "".join(f"<li>{html.escape(f)}</li>" for f in findings)
    shown = _gallery(rows, gallery_limit) if gallery_limit else ""
    gallery = (
        f"<h2>Samples</h2><p class='note'>Green: right, red: wrong, grey: the model gave no "
        f"answer. Hover an answer for the model's raw text or the error.</p>{shown}"
        if "<tr><td>" in shown
        else ""
    )
    runs = "".join(
        f"<li>{html.escape(r.label)}: <code>{html.escape(str(r.run.dir))}</code></li>" for r in rows
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style><script>{get_plotlyjs()}</script></head><body>"
        f"<h1>{html.escape(title)}</h1><p class='note'>{html.escape(intro)}</p>"
        f"<h2>What the numbers say</h2><ul>{items}</ul>"
        f"<h2>Accuracy, tokens, latency</h2>{main}"
        f"<h2>Accuracy per designed MRR bucket</h2>{mrr}"
        f"<h2>Accuracy per category</h2>{cat}{figs}{gallery}"
        f"<h2>Runs</h2><ul>{runs}</ul></body></html>"
    )
