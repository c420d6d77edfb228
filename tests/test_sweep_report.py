"""A sweep's report end to end: the paper beside the runs, figures drawn in Chromium, Markdown."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ps3_eval.paper import load_table
from ps3_eval.report import KINDS, build_report
from ps3_eval.sweep import run_sweep
from ps3_eval.tasks.export import save_data
from tests.test_cli import cli
from tests.test_report import _browser, _open

SPEC = """
name: reader
title: ocr-reader on 4KPro-format data
tasks: [4kpro]
data: {data}
model: ocr-reader
concurrency: 1
output_dir: {runs}
zip:
  label: [whole 756, whole 1512, select 20% 1512]
  series: [whole image, whole image, PS3-style selection]
  resolution: [756, 1512, 1512]
  select: [null, null, 0.2]
paper: [table13:PS3]
"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three ocr-reader cells on probe4k items written in the 4KPro format."""
    root = tmp_path_factory.mktemp("sweep")
    save_data("probe4k", root / "data", fmt="4kpro", args={"n": 4})
    spec = root / "reader.yaml"
    spec.write_text(SPEC.format(data=root / "data", runs=root / "runs"))
    cells = run_sweep(spec)
    assert [c.status for c in cells] == ["done"] * 3
    return spec


def _paper_rows(md: str) -> list[list[str]]:
    section = md.split("## Beside the paper")[1].split("\n## ")[0]
    return [
        [c.strip() for c in line.strip("|").split(" | ")]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| run ")
    ]


def test_paper_values_beside_the_runs(sweep: Path, tmp_path: Path) -> None:
    res = cli("report", str(sweep), "--out", str(tmp_path / "rep"))  # the spec's paper list
    assert "3 runs (0 incomplete), 7 figures, 2 paper values" in res.stdout
    summaries = {
        json.loads((d / "summary.json").read_text())["spec"]["model_args"]["resolution"]: d
        for d in (sweep.parent / "runs").iterdir()
        if json.loads((d / "spec.json").read_text())["model_args"]["select"] is None
    }
    table = load_table("table13")
    rows = _paper_rows((tmp_path / "rep" / "report.md").read_text())
    # Matched on resolution and selection: 756 and 1512 read every patch, as PS3's rows at
    # select 1.0 do; table13 has no PS3 row at 1512 with 20% selected, so that run has none.
    assert [r[0] for r in rows] == ["whole 756", "whole 1512"]
    for row, res_px in zip(rows, (756, 1512), strict=True):
        summary = json.loads((summaries[res_px] / "summary.json").read_text())
        acc = summary["metrics"]["accuracy"]
        paper = table.value("PS3", "acc", res=res_px, select=1.0)
        lo, hi = 100 * acc["ci_low"], 100 * acc["ci_high"]
        assert row[1] == "table13: PS3" and row[3] == "Acc" and row[4] == f"{paper:g}"
        assert row[5] == f"{100 * acc['mean']:.1f}"
        assert row[6] == f"\\[{lo:.1f}, {hi:.1f}\\]"
        assert row[7] == f"{100 * acc['mean'] - paper:+.1f}"
        # ocr-reader is not PS3: whether PS3's value lies in its CI would mean nothing
        assert row[8] == "- (another model)"
        assert f"resolution={res_px}" in row[2]
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "<h2>Beside the paper</h2>" in html and html.count("<td>table13: PS3</td>") == 2


def test_report_figures_draw_in_chromium(sweep: Path, tmp_path: Path) -> None:
    chromium = _browser()
    report = build_report(sweep, out=tmp_path / "rep", paper=["table13:PS3", "table2"])
    assert [f.key for f in report.figures] == list(KINDS)
    page, events = _open(report.html, chromium, tmp_path / "profile")
    assert events == []  # no console error, no request leaving the page
    assert page["figures"] == page["drawn"] == len(KINDS)
    texts = set(page["figure_texts"])
    for needed in (
        "Accuracy vs selection ratio",
        "share of high-resolution patches selected",
        "Pareto front (no faster run scores as high)",
        "whole image",
        "PS3-style selection",
        "seconds per sample (mean over answered calls, log scale)",
    ):
        assert needed in texts
    # Static figures for the Markdown report, referenced from it, one per figure.
    md = report.markdown.read_text()
    for image in report.images:
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](figures/{image.name})" in md


def test_incomplete_runs_are_marked(tmp_path: Path, toy_card: Path) -> None:
    out = tmp_path / "runs"
    for args in ({"fail_rate": 0.5}, {"fail_rate": 0.0}):
        cli("run", "-t", str(toy_card), "-m", "scripted", "--output-dir", str(out),
            *[f"--model-arg={k}={v}" for k, v in args.items()], check=False)  # fmt: skip
    res = cli("report", str(out), "--out", str(tmp_path / "rep"), "--no-static")
    assert "2 runs (1 incomplete)" in res.stdout
    assert re.search(r"fail_rate=0\.5: incomplete \(\d+ of 12 samples recorded\)", res.stderr)
    html = (tmp_path / "rep" / "report.html").read_text()
    assert html.count("<tr class='incomplete'>") == 1
    assert "1 of 2 runs are incomplete" in html
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "> **1 of 2 runs are incomplete:**" in md and "![" not in md


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--paper", "table99"], "no paper table 'table99'"),
        (["--paper", "table13:GPT-5"], "table13 has no model 'GPT-5'"),
        (["--task", "nope"], "no run matches"),
    ],
)
def test_bad_report_requests(toy_card: Path, tmp_path: Path, args: list[str], needle: str) -> None:
    out = tmp_path / "runs"
    cli("run", "-t", str(toy_card), "-m", "scripted", "--output-dir", str(out))
    res = cli("report", str(out), "--out", str(tmp_path / "rep"), *args, check=False)
    assert res.returncode == 2 and needle in res.stderr
    assert not (tmp_path / "rep" / "report.html").exists()


def _figure_json(path: Path) -> dict[str, Any]:
    """The figure spec plotly embedded in a standalone HTML file."""
    text = path.read_text()
    start = text.index("Plotly.newPlot(")
    args = text[start + len("Plotly.newPlot(") :]
    decoder = json.JSONDecoder()
    rest = args[args.index(",") + 1 :].lstrip()
    data, end = decoder.raw_decode(rest)
    layout, _ = decoder.raw_decode(rest[end:].lstrip(", \n"))
    return {"data": data, "layout": layout}


def test_plot_one_figure_from_filtered_runs(sweep: Path, tmp_path: Path) -> None:
    runs = sweep.parent / "runs"
    html = tmp_path / "res.html"
    cli("plot", "resolution", str(runs), "--where", "select=None", "--out", str(html))
    fig = _figure_json(html)
    (trace,) = fig["data"]
    assert trace["x"] == [756.0, 1512.0] and trace["mode"] == "lines+markers"
    assert fig["layout"]["xaxis"]["type"] == "log"
    svg = tmp_path / "sel.svg"
    cli("plot", "selection", str(runs), "--series", "select", "--out", str(svg))
    assert "Accuracy vs selection ratio" in svg.read_text()
    # One run left by the filter: nothing to draw, said in one line.
    res = cli("plot", "resolution", str(runs), "--where", "select=0.2", check=False)
    assert res.returncode == 2 and "nothing to draw as 'resolution'" in res.stderr
    res = cli("plot", "violin", str(runs), check=False)
    assert res.returncode == 2 and "unknown figure 'violin'" in res.stderr
