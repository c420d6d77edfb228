"""Sweeps: cells validated before any runs, resumable cell by cell, failures isolated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ps3_eval.errors import UsageError
from ps3_eval.report import build_report
from ps3_eval.sweep import load_spec, run_sweep
from tests.conftest import write_mc_dataset
from tests.test_cli import cli


def _spec(tmp_path: Path, body: str) -> Path:
    write_mc_dataset(tmp_path / "toy", n=8)
    spec = tmp_path / "sweep.yaml"
    spec.write_text(f"output_dir: {tmp_path / 'runs'}\n" + body)
    return spec


GRID = """
name: toy-grid
tasks: [toy/card.yaml]
model: scripted
model_args: {latency: 0.0}
grid:
  accuracy: [0.5, 1.0]
zip:
  seed: [1, 2]
  template: ["{answer}", "Answer: {answer}"]
label: "acc {accuracy} seed {seed}"
series: accuracy
"""


def test_cells_are_the_grid_times_the_zip_and_resume(tmp_path: Path) -> None:
    spec = _spec(tmp_path, GRID)
    planned = run_sweep(spec, dry_run=True)
    assert [c.label for c in planned] == [
        "acc 0.5 seed 1", "acc 0.5 seed 2", "acc 1.0 seed 1", "acc 1.0 seed 2",
    ]  # fmt: skip
    assert {c.status for c in planned} == {"not started"} and planned[0].series == "0.5"
    ran = run_sweep(spec)
    assert {c.status for c in ran} == {"done"} and len({c.run_dir for c in ran}) == 4
    assert [c.value for c in ran if c.varied["accuracy"] == 1.0] == [1.0, 1.0]
    again = run_sweep(spec, dry_run=True)
    assert [c.run_dir for c in again] == [c.run_dir for c in ran]
    assert {c.status for c in again} == {"done"}

    # Running it again finds every cell finished: no new run directory, no run gains a session
    # or a record, no record file is written.
    def state() -> dict[Path, tuple[bytes, int, int]]:
        out = {}
        for d in (tmp_path / "runs").iterdir():
            samples = d / "samples.jsonl"
            sessions = json.loads((d / "spec.json").read_text())["sessions"]
            out[d] = (samples.read_bytes(), samples.stat().st_mtime_ns, len(sessions))
        return out

    before = state()
    assert {c.status for c in run_sweep(spec)} == {"done"}
    assert state() == before and len(before) == 4


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (GRID + "colour: red\n", "colour: Extra inputs are not permitted"),
        (GRID.replace("accuracy: [0.5, 1.0]", "accuracy: []"), "'accuracy' has no values"),
        (GRID.replace("seed: [1, 2]", "seed: [1]"), "zip lists differ in length"),
        (GRID.replace("latency: 0.0", "latency: 0.0, speed: 2"), "speed"),
        (GRID.replace("toy/card.yaml", "no_such_task"), "unknown task 'no_such_task'"),
        (GRID.replace("series: accuracy", "series: nope"), "series 'nope'"),
    ],
)
def test_bad_specs_fail_before_any_cell_runs(tmp_path: Path, body: str, needle: str) -> None:
    spec = _spec(tmp_path, body)
    with pytest.raises(UsageError, match=needle):
        run_sweep(spec)
    assert not (tmp_path / "runs").exists()


def test_a_failing_cell_does_not_stop_the_others(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path, GRID.replace("tasks: [toy/card.yaml]", "tasks: [toy/card.yaml, bad.yaml]")
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsource: {path: broken.jsonl}\nfields: {choices: options}\n")
    (tmp_path / "broken.jsonl").write_text("{not json\n")
    result = run_sweep(spec)
    assert [c.status for c in result].count("done") == 4
    failed = [c for c in result if c.status == "failed"]
    assert len(failed) == 4 and all("broken.jsonl" in (c.error or "") for c in failed)
    res = cli("sweep", str(spec), check=False)
    assert res.returncode == 1 and "4 of 8 cells failed" in res.stderr


def test_sweep_from_the_cli(tmp_path: Path) -> None:
    spec = _spec(tmp_path, GRID)
    listed = json.loads(cli("sweep", str(spec), "--dry-run", "--json").stdout)
    assert len(listed) == 4 and listed[0]["status"] == "not started"
    out = cli("sweep", str(spec)).stdout
    assert "acc 1.0 seed 2" in out and "done" in out
    parsed = load_spec(spec)
    assert parsed.name == "toy-grid"


ZIPPED = """
name: named
tasks: [toy/card.yaml]
model: scripted
zip:
  label: [low, high]
  series: [weak, strong]
  accuracy: [0.25, 1.0]
"""


def test_zip_names_cells_and_hooks_see_each_cell(tmp_path: Path) -> None:
    spec = _spec(tmp_path, ZIPPED)
    started: list[tuple[str, int]] = []
    seen: set[str] = set()
    result = run_sweep(
        spec,
        on_start=lambda c, p, d: started.append((c.label, p.total)),
        on_progress=lambda c, p: seen.add(c.label),
    )
    assert [(c.label, c.series) for c in result] == [("low", "weak"), ("high", "strong")]
    assert [c.model_args["accuracy"] for c in result] == [0.25, 1.0]
    assert "label" not in result[0].model_args and "label" not in result[0].varied
    assert started == [("low", 8), ("high", 8)] and seen == {"low", "high"}
    # A report of the sweep after a cell is added names the cell that has not run.
    spec.write_text(spec.read_text().replace("[low, high]", "[low, high, top]")
                    .replace("[weak, strong]", "[weak, strong, strong]")
                    .replace("[0.25, 1.0]", "[0.25, 1.0, 0.9]"))  # fmt: skip
    report = build_report(spec, out=tmp_path / "rep", static=False)
    assert report.missing == ["top"] and [r.label for r in report.rows] == ["low", "high"]
    assert report.findings[0] == "1 cell has not run yet: top."
    assert [r.series for r in report.rows] == ["weak", "strong"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (ZIPPED.replace("zip:", "grid: {label: [a, b]}\nzip:"), "'label' names cells"),
        (ZIPPED + "series: accuracy\n", "'series' is given both as a zip list and as a setting"),
        (ZIPPED.replace("[low, high]", "[low]"), "zip lists differ in length"),
    ],
)
def test_bad_cell_names(tmp_path: Path, body: str, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        run_sweep(_spec(tmp_path, body))
