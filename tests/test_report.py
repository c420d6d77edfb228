"""Reports escape everything that comes from data or models: checked in a real browser."""

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from ps3_eval import evaluate, load_run
from ps3_eval.report import config_rows, render_html

HOSTILE = [
    '<img src=x onerror="window.__pwned=1">',
    "</script><script>window.__pwned=2</script>",
    '"><svg onload="window.__pwned=3">',
    "'><script>window.__pwned=4</script>",
]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


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


def _hostile_runs(tmp_path: Path) -> list[tuple[str, Path]]:
    """Two runs whose data and model output carry markup everywhere a report shows them."""
    data = tmp_path / "data"
    data.mkdir()
    Image.new("RGB", (400, 300), (200, 200, 200)).save(data / "img.png")
    (data / "hooks.py").write_text(
        "from ps3_eval.scoring import Score\n"
        f"HOSTILE = {HOSTILE!r}\n"
        "def rows():\n"
        "    return [{'id': f'h{i}', 'image': 'img.png', 'question': h, 'options': HOSTILE,\n"
        "             'answer': 'B', 'category': h, 'mrr': h, 'bbox': [10, 10, 60, 40]}\n"
        "            for i, h in enumerate(HOSTILE)]\n"
        "def score(prediction, sample):\n"
        "    return Score({'accuracy': 0.0}, prediction)  # the raw answer is shown as extracted\n"
    )
    (data / "card.yaml").write_text(
        "name: hostile\nsource:\n  loader: hooks.py:rows\n"
        "fields: {id: id, image: image, question: question, choices: options, answer: answer,\n"
        "         category: category, mrr: mrr, bbox: bbox}\n"
        "scorer: hooks.py:score\n"
    )
    out = tmp_path / "runs"
    runs = []
    for label, answer in ((HOSTILE[0], HOSTILE[1]), (HOSTILE[2], HOSTILE[3])):
        s = evaluate(
            str(data / "card.yaml"),
            "scripted",
            model_args={"answer": answer, "template": HOSTILE[2] + "{answer}"},
            output_dir=out,
        )
        runs.append((label, out / s.run_id))
    return runs


def test_hostile_values_render_as_text_and_run_nothing(tmp_path: Path) -> None:
    chromium = _browser()
    from playwright.sync_api import sync_playwright

    rows = config_rows([(label, load_run(d)) for label, d in _hostile_runs(tmp_path)])
    page_html = render_html(HOSTILE[1], rows, findings=HOSTILE, intro=HOSTILE[3])
    report = tmp_path / "report.html"
    report.write_text(page_html)

    dialogs: list[str] = []
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(report.as_uri())
            page.wait_for_selector(".main-svg", timeout=20_000)  # the figures did render
            pwned = page.evaluate("() => window.__pwned")
            text = page.inner_text("body")
            figures = page.locator(".plotly").count()
            gallery_rows = page.locator("table.gallery tbody tr").count()
        finally:
            browser.close()
    assert pwned is None and not dialogs and not errors
    for h in HOSTILE:
        assert h in text  # shown literally, as the data and the model said it
    assert figures >= 4 and gallery_rows == len(HOSTILE)


def test_report_from_a_run_directory_alone(tmp_path: Path) -> None:
    runs = _hostile_runs(tmp_path)
    (tmp_path / "data" / "hooks.py").unlink()  # the task can no longer be loaded at all
    (tmp_path / "data" / "img.png").unlink()  # and the image file is gone
    rows = config_rows([(f"config {i}", load_run(d)) for i, (_, d) in enumerate(runs)])
    page = render_html("t", rows, findings=[])
    assert page.count("is no longer readable") == len(HOSTILE)  # a note, not a crash
    assert "(n=1)" in page  # every breakdown cell says how many samples it rests on
    assert "<td>wilson</td>" in page
