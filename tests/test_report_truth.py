"""Reports tell the truth: the sweep's own runs, the image as the model saw it, honest figures."""

from __future__ import annotations

import base64
import copy
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from ps3_eval.errors import UsageError
from ps3_eval.paper import match_run
from ps3_eval.report import Labelled, build_figure, build_report, report_rows
from ps3_eval.report.page import paper_table
from ps3_eval.runner import evaluate
from ps3_eval.sweep import run_sweep
from tests.conftest import write_mc_dataset
from tests.test_cli import cli

SWEEP = """
name: toy
tasks: [toy/card.yaml]
model: scripted
output_dir: {runs}
grid:
  accuracy: [0.5, 1.0]
"""


def _sweep(tmp_path: Path) -> Path:
    write_mc_dataset(tmp_path / "toy", n=6)
    spec = tmp_path / "sweep.yaml"
    spec.write_text(SWEEP.format(runs=tmp_path / "runs"))
    assert {c.status for c in run_sweep(spec)} == {"done"}
    return spec


def test_a_sweep_finds_only_runs_of_its_own_identity(tmp_path: Path) -> None:
    spec = _sweep(tmp_path)
    first = run_sweep(spec, dry_run=True)
    assert [c.status for c in first] == ["done", "done"]
    # Another generation setting is another run: the old ones are not the sweep's.
    spec.write_text(spec.read_text() + "max_tokens: 5\n")
    assert [c.status for c in run_sweep(spec, dry_run=True)] == ["not started"] * 2
    with pytest.raises(UsageError, match="sweep toy has no run yet"):
        build_report(spec, out=tmp_path / "rep", static=False)
    spec.write_text(SWEEP.format(runs=tmp_path / "runs"))
    # An edited card (its prompt) is another run too.
    card = tmp_path / "toy" / "card.yaml"
    original = card.read_text()
    card.write_text(original + "prompt: 'Q: {question}\\n{options}'\n")
    assert [c.status for c in run_sweep(spec, dry_run=True)] == ["not started"] * 2
    card.write_text(original)
    # Changed data is another run as well; the sweep runs its cells again.
    data = tmp_path / "toy" / "data.jsonl"
    data.write_text(data.read_text().replace("square 0?", "square zero?"))
    assert [c.status for c in run_sweep(spec, dry_run=True)] == ["not started"] * 2
    latest = {c.run_dir for c in run_sweep(spec)}
    assert len(list((tmp_path / "runs").iterdir())) == 4
    # A report on a machine without the data finds the runs by everything else, the latest.
    data.unlink()
    report = build_report(spec, out=tmp_path / "rep", static=False)
    assert {str(r.dir) for r in report.rows} == latest and report.missing == []
    for c in first:  # now the first runs are the latest
        path = Path(c.run_dir or "") / "spec.json"
        path.write_text(re.sub(r'"created_at": "[^"]+"', '"created_at": "2999-01-01T00:00:00Z"',
                               path.read_text()))  # fmt: skip
    report = build_report(spec, out=tmp_path / "rep", static=False)
    assert {str(r.dir) for r in report.rows} == {c.run_dir for c in first}


def _rotated_card(root: Path) -> tuple[Path, list[float]]:
    """One JPEG stored sideways with EXIF orientation 6; a red detail at ``box`` when upright."""
    root.mkdir(parents=True)
    upright = Image.new("RGB", (200, 120), "white")
    box = [140.0, 20.0, 180.0, 60.0]
    upright.paste((220, 0, 0), tuple(int(v) for v in box))  # type: ignore[arg-type]
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # displayed turned back by the tag
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(root / "side.jpg", exif=exif.tobytes(), quality=95)
    row = {"qid": "q0", "question": "What colour is the square?", "options": ["red", "blue"],
           "answer": "A", "image": "side.jpg", "box": box}  # fmt: skip
    (root / "data.jsonl").write_text(json.dumps(row) + "\n")
    card = root / "card.yaml"
    card.write_text(
        "name: sideways\nversion: '1'\nsource:\n  path: data.jsonl\nfields:\n  id: qid\n"
        "  image: image\n  question: question\n  choices: options\n  answer: answer\n"
        "  bbox: box\n"
    )
    return card, box


def _gallery_images(html: str) -> list[Image.Image]:
    gallery = html.split("<table class='gallery'>", 1)[1]
    uris = re.findall(r"src='data:image/png;base64,([^']+)'", gallery)
    return [Image.open(io.BytesIO(base64.b64decode(u))).convert("RGB") for u in uris]


def test_the_gallery_crops_the_image_as_the_model_saw_it(tmp_path: Path) -> None:
    card, box = _rotated_card(tmp_path / "side")
    s = evaluate(str(card), "scripted", output_dir=tmp_path / "runs")
    report = build_report(tmp_path / "runs" / s.run_id, out=tmp_path / "rep", static=False)
    (crop,) = _gallery_images(report.html.read_text())
    # the crop of the upright image: 60 px around the box, cut at the image's edges
    assert crop.size == (180, 120)
    x0, y0 = box[0] - 20, box[1]  # the box inside the crop
    r, g, b = crop.getpixel((int(x0 + 20), int(y0 + 20)))  # type: ignore[misc]
    assert r > 180 and g < 60 and b < 60  # the red detail, where the box says


def test_a_task_without_boxes_gets_a_gallery(toy_card: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    for acc in (0.5, 1.0):
        evaluate(str(toy_card), "scripted", model_args={"accuracy": acc}, output_dir=out)
    report = build_report(out, out=tmp_path / "rep", gallery=5, static=False)
    html = report.html.read_text()
    assert "<h2>Samples</h2>" in html
    thumbs = _gallery_images(html)
    assert len(thumbs) == 5 and all(max(t.size) <= 240 for t in thumbs)
    gallery = html.split("<table class='gallery'>", 1)[1]
    assert "<th>image</th><th>question</th><th>answer</th>" in gallery
    assert gallery.count("Which colour is square") == 5
    assert gallery.count("class='ok'") + gallery.count("class='bad'") == 10  # both runs answer


@pytest.fixture
def rows(tmp_path: Path) -> list:  # type: ignore[type-arg]
    card = write_mc_dataset(tmp_path / "toy", n=8)
    labelled = []
    for i, acc in enumerate((0.25, 0.5, 0.75, 1.0)):
        s = evaluate(str(card), "scripted", model_args={"accuracy": acc}, output_dir=tmp_path / "r")
        labelled.append(Labelled(tmp_path / "r" / s.run_id, f"run {i}"))
    got, _ = report_rows(labelled)
    for r in got:
        r.spec.model_args.pop("accuracy")  # the runs then stand for the settings the test gives
    return got


def test_series_never_join_different_configurations_or_models(rows: list) -> None:  # type: ignore[type-arg]
    for r, res, mode in zip(rows, (756, 1512, 756, 1512), "aabb", strict=True):
        r.spec.model_args.update(resolution=res, mode=mode)
    fig = build_figure("resolution", rows)
    assert fig is not None
    assert {t.name: t.x for t in fig.traces} == {
        "scripted mode=a": [756.0, 1512.0],
        "scripted mode=b": [756.0, 1512.0],
    }
    for r in rows:
        r.spec.model_args["mode"] = "a"
    rows[2].spec.model, rows[3].spec.model = "other", "other"
    fig = build_figure("resolution", rows)
    assert fig is not None and sorted(t.name for t in fig.traces) == ["other", "scripted"]
    # A sweep's named series: joined along the axis, split by what else varies within it.
    rows[2].spec.model, rows[3].spec.model = "scripted", "scripted"
    for r, res, sel, named in zip(
        rows, (756, 1512, 1512, 1512), (None, None, 0.1, 0.2), ("whole", "whole", "sel", "sel"),
        strict=True,
    ):  # fmt: skip
        r.spec.model_args.update(resolution=res, select=sel)
        r.series, r.visual_tokens = named, float(res * (sel or 1))
    fig = build_figure("selection", rows)
    assert fig is not None
    assert {t.name: t.x for t in fig.traces} == {
        "whole resolution=756": [1.0],
        "whole resolution=1512": [1.0],
        "sel": [0.1, 0.2],
    }
    fig = build_figure("tokens", rows)
    assert fig is not None and [t.name for t in fig.traces] == ["whole", "sel"]
    # Many configurations of one run each: unjoined points, not a legend entry each.
    many = [copy.deepcopy(rows[0]) for _ in range(14)]
    for i, r in enumerate(many):
        r.spec.model_args["mode"], r.visual_tokens, r.series = f"m{i}", 100.0 * (i + 1), None
    fig = build_figure("tokens", many)
    assert fig is not None
    (points,) = fig.traces
    assert points.name == "runs, one point each (not joined)" and not points.line
    assert len(points.x) == 14


def test_ticks_sit_at_the_data_and_the_legend_beside_it(
    rows: list,  # type: ignore[type-arg]
    tmp_path: Path,
) -> None:
    for r, res, tokens in zip(rows, (378, 756, 1512, 3780), (100, 729, 3645, 7680), strict=True):
        r.spec.model_args.update(resolution=res, mode="a" if res < 1000 else "b")
        r.visual_tokens = tokens
    fig = build_figure("resolution", rows)
    assert fig is not None and fig.x_log
    layout = fig.to_plotly().layout
    assert list(layout.xaxis.tickvals) == [378, 756, 1512, 3780]
    assert layout.legend.x >= 1 and layout.legend.xanchor == "left"
    assert len(fig.traces) == 2
    from ps3_eval.report.drawing import draw_static

    mpl = draw_static(fig)
    mpl.canvas.draw()
    (ax,) = mpl.axes
    assert list(ax.get_xticks()) == [378, 756, 1512, 3780]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["378", "756", "1512", "3780"]
    assert all(not t.get_text() for t in ax.get_xticklabels(minor=True))
    legend, axes = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= axes.x1  # to the right of the axes, over no data
    # The saved image grows to hold the legend rather than cutting it off.
    with Image.open(fig.write(tmp_path / "res.png")) as png:
        assert png.width > legend.x1 - 10 and png.width > mpl.bbox.width


def test_the_paper_beside_runs_of_other_models_and_other_tasks(
    toy_card: Path, tmp_path: Path
) -> None:
    # A table about another task says so, in the report and on the command line.
    out = tmp_path / "runs"
    evaluate(str(toy_card), "scripted", output_dir=out)
    report = build_report(out, out=tmp_path / "rep", paper=["table13"], static=False)
    note = "paper table13 is about 4kpro, not toy: it has no value to set beside these runs."
    assert report.paper_notes == [note]
    assert note in report.html.read_text() and note in report.markdown.read_text()
    res = cli("report", str(out), "--out", str(tmp_path / "rep2"), "--paper", "table13",
              "--no-static")  # fmt: skip
    assert note in res.stderr
    value = {"accuracy": (0.5, 0.45, 0.55)}
    args = {"resolution": 3780, "select": 0.18}
    (ocr,) = match_run("table13:PS3", "4kpro", args, value, backend="ocr-reader")
    assert not ocr.same_model and ocr.inside is None  # PS3's value in ocr-reader's CI: no
    (vila,) = match_run("table13:PS3", "4kpro", args, value, backend="vila-hd")
    assert vila.same_model and vila.inside is True
    _, cells = paper_table([("ocr", ocr), ("vila", vila)])
    assert [c[-1] for c in cells] == ["- (another model)", "yes"]
    (m,) = match_run("table2:GPT-4o", "4kpro", {"model": "gpt-4o-mini"}, value, backend="openai")
    assert not m.same_model
    (m,) = match_run(
        "table1:Qwen2-VL-7B", "4kpro", {"model": "Qwen/Qwen2-VL-7B-Instruct"}, value, backend="hf"
    )
    assert m.same_model
