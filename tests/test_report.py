"""Reports escape everything that comes from data or models: checked in a real browser."""

import os
import shutil
from pathlib import Path
from string import ascii_uppercase
from typing import Any

import pytest
from PIL import Image

from ps3_eval import evaluate
from ps3_eval.report import Labelled, build_figures, render_html, report_rows

HOSTILE = [
    '<img src=x onerror="window.__pwned=1">',
    "</script><script>window.__pwned=2</script>",
    '"><svg onload="window.__pwned=3">',
    "'><script>window.__pwned=4</script>",
    # plotly.js renders this pseudo-HTML subset and decodes entities in its labels
    '<a href="https://example.invalid/">phish</a><b>bold</b> &lt;i&gt; &amp;',
    "</title></style><script>window.__pwned=5</script>",  # the page's title
]
# Labels of the compared configurations: they go into tables and into every plotly figure.
LABELS = [HOSTILE[1], HOSTILE[4], HOSTILE[2]]
SCORER_FAILS_ON = "h1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browser() -> str:
    """Chromium's path; in CI a missing browser is a failure, not a skip."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if CHROMIUM is None:
        missing.append("Debian's chromium (apt-get install chromium)")
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test; missing {' and '.join(missing)}")
        pytest.skip(f"needs {' and '.join(missing)}")
    assert CHROMIUM is not None
    return CHROMIUM


def _hostile_runs(tmp_path: Path) -> tuple[list[tuple[str, Path]], Path]:
    """Three runs whose data, model output and paths carry markup everywhere a report shows them.

    Sample ``h{i}`` asks ``HOSTILE[i]`` in category and MRR bucket ``HOSTILE[i]``; its image is
    ``img{i}.png`` in a folder named after ``HOSTILE[0]``, except the last sample's, which comes
    as bytes; that one is open-ended, with ``HOSTILE[4]`` as its target. The scorer fails on one
    sample with a hostile message and shows every other raw answer as the extracted one. Returns
    the labelled run directories and the data folder.
    """
    data = tmp_path / HOSTILE[0]  # so image paths and run paths carry markup too
    data.mkdir()
    for i in range(len(HOSTILE) - 1):
        Image.new("RGB", (400, 300), (200, 200, 200)).save(data / f"img{i}.png")
    (data / "hooks.py").write_text(
        "from PIL import Image\n"
        "from ps3_eval.scoring import Score\n"
        f"HOSTILE = {HOSTILE!r}\n"
        "def rows():\n"
        "    last = len(HOSTILE) - 1\n"
        "    return [{'id': f'h{i}', 'question': h,\n"
        "             'options': [] if i == last else HOSTILE,\n"
        "             'answer': HOSTILE[4] if i == last else 'B',\n"
        "             'image': Image.new('RGB', (400, 300)) if i == last else f'img{i}.png',\n"
        "             'category': h, 'mrr': h, 'bbox': [10, 10, 60, 40]}\n"
        "            for i, h in enumerate(HOSTILE)]\n"
        "def score(prediction, sample):\n"
        f"    if sample.id == {SCORER_FAILS_ON!r}:\n"
        "        raise ValueError(HOSTILE[3])\n"
        "    return Score({'accuracy': 0.0}, prediction)  # the raw answer is shown as extracted\n"
    )
    (data / "card.yaml").write_text(
        "name: hostile\nsource:\n  loader: hooks.py:rows\n"
        "fields: {id: id, image: image, question: question, choices: options, answer: answer,\n"
        "         category: category, mrr: mrr, bbox: bbox}\n"
        "scorer: hooks.py:score\n"
    )
    out = tmp_path / HOSTILE[2]
    runs = []
    for label, answer in zip(LABELS, (HOSTILE[0], HOSTILE[3], HOSTILE[4]), strict=True):
        s = evaluate(
            str(data / "card.yaml"),
            "scripted",
            model_args={"answer": answer, "template": HOSTILE[2] + "{answer}"},
            output_dir=out,
        )
        runs.append((label, out / s.run_id))
    return runs, data


# Every figure has its SVG and at least one drawn point (bar or marker).
_DRAWN = """() => {
  const figures = [...document.querySelectorAll(".js-plotly-plot")];
  return figures.length > 0 && figures.every((f) => f.querySelector(".main-svg .trace .point"));
}"""

# Everything the test reads back from the rendered page, in one round trip.
_READ_PAGE = """() => {
  const texts = (sel) => [...document.querySelectorAll(sel)].map((e) => e.textContent);
  return {
    pwned: window.__pwned === undefined ? null : String(window.__pwned),
    title: document.title,
    h1: texts("h1"),
    intro: texts("h1 + p.note"),
    findings: texts("h2 + ul:first-of-type > li"),
    headers: texts("table:not(.gallery) th"),
    gallery_headers: texts("table.gallery th"),
    first_cells: texts("table:not(.gallery) tbody td:first-child"),
    questions: texts("table.gallery td.q"),
    targets: texts("table.gallery td.q + td"),
    answers: [...document.querySelectorAll("table.gallery span.bad, table.gallery span.ok")]
      .map((e) => [e.textContent, e.title]),
    notes: texts("table.gallery span.none"),
    crops: document.querySelectorAll("table.gallery img").length,
    runs: texts("ul:last-of-type > li"),
    figures: document.querySelectorAll(".js-plotly-plot").length,
    drawn: [...document.querySelectorAll(".js-plotly-plot")]
      .filter((f) => f.querySelector(".main-svg .trace .point")).length,
    figure_texts: texts(".js-plotly-plot svg text"),
    figure_links: document.querySelectorAll(".js-plotly-plot svg a").length,
  };
}"""


def _open(report: Path, chromium: str, profile: Path) -> tuple[dict[str, Any], list[str]]:
    """Open ``report`` in a fresh headless Chromium; the page's facts and anything suspicious.

    Suspicious: a dialog, an uncaught error, a console error, or a request for anything but the
    page itself (an injected ``<img src=x>`` would ask for ``x``).
    """
    from playwright.sync_api import sync_playwright

    events: list[str] = []
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = context.new_page()
            page.on("dialog", lambda d: (events.append(f"dialog {d.message}"), d.dismiss()))
            page.on("pageerror", lambda e: events.append(f"page error {e}"))
            page.on(
                "console",
                lambda m: events.append(f"console {m.text}") if m.type == "error" else None,
            )
            page.on(
                "request",
                lambda r: (
                    events.append(f"request {r.url}")
                    if r.url != report.as_uri() and not r.url.startswith("data:")
                    else None
                ),
            )
            page.goto(report.as_uri())
            page.wait_for_load_state("load")
            # plotly.js may draw after the load event; a figure that never draws times out.
            page.wait_for_function(_DRAWN, timeout=20_000)
            facts: dict[str, Any] = page.evaluate(_READ_PAGE)
        finally:
            context.close()
    return facts, events


def test_hostile_values_render_as_text_and_run_nothing(tmp_path: Path) -> None:
    chromium = _browser()
    runs, data = _hostile_runs(tmp_path)
    (data / "img0.png").unlink()  # its note names the (hostile) path
    rows, kept = report_rows([Labelled(d, label) for label, d in runs], gallery=24)
    assert [r.label for r in rows] == LABELS
    report = tmp_path / "report.html"
    figures = build_figures(rows)
    report.write_text(
        render_html(
            HOSTILE[5], rows, findings=HOSTILE, intro=HOSTILE[3], figures=figures, gallery=kept
        )
    )

    page, events = _open(report, chromium, tmp_path / "profile")

    # Nothing ran, nothing was loaded.
    assert page["pwned"] is None and events == []
    # Every value shows exactly as the data and the model said it.
    assert page["title"] == HOSTILE[5] and page["h1"] == [HOSTILE[5]]
    assert page["intro"] == [HOSTILE[3]] and page["findings"] == HOSTILE
    scored = [h for i, h in enumerate(HOSTILE) if f"h{i}" != SCORER_FAILS_ON]
    for h in scored:  # category and MRR tables: hostile column headers
        assert h in page["headers"] and f"MRR {h}" in page["headers"]
    assert page["first_cells"] == LABELS * 3  # main, MRR and category tables
    assert page["gallery_headers"][3:] == LABELS  # the gallery's column per configuration
    assert len(page["questions"]) == len(HOSTILE)
    for i, (h, cell) in enumerate(zip(HOSTILE, page["questions"], strict=True)):  # h0, h1, ...
        assert cell.startswith(h)  # question, then every option and the category
        options = [
            f"{letter}. {o}"
            for letter, o in zip(ascii_uppercase[: len(HOSTILE)], HOSTILE, strict=True)
        ]
        assert all((o in cell) == (i < len(HOSTILE) - 1) for o in options)
        assert f"{h}, MRR {h}" in cell
    assert page["targets"] == ["B"] * (len(HOSTILE) - 1) + [HOSTILE[4]]
    said = {HOSTILE[2] + a for a in (HOSTILE[0], HOSTILE[3], HOSTILE[4])}
    answers = page["answers"]
    scorer_errors = [title for text, title in answers if text == "scorer error"]
    assert len(scorer_errors) == len(LABELS)  # one per configuration, on sample h1
    assert all(HOSTILE[3] in title for title in scorer_errors)
    shown = [(text, title) for text, title in answers if text != "scorer error"]
    assert len(shown) == len(LABELS) * (len(HOSTILE) - 1)
    assert all(text in said and title == text for text, title in shown)  # cell and tooltip
    # The crops that can be made are; the others say why not.
    assert page["crops"] == len(HOSTILE) - 2
    assert any(f"{data / 'img0.png'} is no longer readable" in n for n in page["notes"])
    assert "image not on disk (it came as bytes from the dataset)" in page["notes"]
    assert [r.split(": ", 1)[0] for r in page["runs"]] == LABELS
    assert all(HOSTILE[2] in r for r in page["runs"])  # the run paths
    # The figures render, with the labels as plain text: no plotly pseudo-HTML link or bold.
    # no resolution or selection to plot
    assert [f.key for f in figures] == ["accuracy", "tokens", "latency", "category", "mrr"]
    assert page["figures"] == page["drawn"] == len(figures)
    for label in LABELS:
        assert label in page["figure_texts"]  # the score chart's ticks, the bars' legends
    for h in scored:
        assert h in page["figure_texts"]  # category and MRR bars' tick labels
    assert page["figure_links"] == 0


def test_report_from_run_directories_alone(tmp_path: Path) -> None:
    runs, data = _hostile_runs(tmp_path)
    (data / "hooks.py").unlink()  # the task can no longer be loaded at all
    (data / "img0.png").unlink()  # one image is gone
    Image.new("RGB", (400, 300), (0, 0, 0)).save(data / "img2.png")  # one was replaced
    rows, kept = report_rows(
        [Labelled(d, f"config {i}") for i, (_, d) in enumerate(runs)], gallery=24
    )
    page = render_html("t", rows, findings=[], gallery=kept)
    assert page.count("img0.png is no longer readable") == 1  # a note, not a crash
    assert page.count("img2.png has changed since the run") == 1  # not a detail never seen
    assert page.count("it came as bytes from the dataset") == 1
    assert page.count("<img src='data:image/png;base64,") == len(HOSTILE) - 3  # all the others
    assert page.count("<td>wilson</td>") == len(rows)  # the main table names its interval
    for r in rows:  # every breakdown cell says how many scored samples it rests on
        mrr_cells = [f"{v.mean:.3f} (n={v.n})" for v in r.by_mrr.values()]
        cat_cells = [f"{v.mean:.3f} (n={v.n})" for v in r.by_category.values()]
        assert len(mrr_cells) == len(cat_cells) == len(HOSTILE) - 1  # h1 is an error
        assert all(f"<td>{cell}</td>" in page for cell in mrr_cells + cat_cells)
