"""The card's primary metric: recorded with the run, read by every table, figure and comparison."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from ps3_eval import evaluate, load_run
from ps3_eval.analysis import runs_df
from ps3_eval.compare import compare_runs
from ps3_eval.console import print_summary
from ps3_eval.errors import UsageError
from ps3_eval.report import Labelled, report_rows
from ps3_eval.runner import Progress
from ps3_eval.sweep import run_sweep
from ps3_eval.tasks import load_task
from tests.conftest import write_mc_dataset

# Two metrics whose names sort the other way round from the card's choice.
SCORER = """from ps3_eval.scoring import Score
def score(pred, sample):
    return Score({'z_right': float(pred.strip() == sample.targets[0]),
                  'a_length': float(len(pred))}, pred.strip())
"""


def _card(root: Path, extra: str) -> Path:
    card = write_mc_dataset(root, n=6)
    (root / "hooks.py").write_text(SCORER)
    card.write_text(card.read_text() + "scorer: hooks.py:score\n" + extra)
    return card


def test_the_cards_primary_metric_is_read_everywhere(tmp_path: Path) -> None:
    card = _card(tmp_path / "toy", "primary_metric: z_right\n")
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        f"name: p\ntasks: [{card}]\nmodel: scripted\nmodel_args: {{latency: 0.0}}\n"
        f"grid: {{accuracy: [0.5, 1.0]}}\noutput_dir: {tmp_path / 'runs'}\n"
    )
    cells = run_sweep(spec)
    assert [c.metric for c in cells] == ["z_right", "z_right"]  # the sweep's table
    assert [c.value for c in cells][1] == 1.0
    a, b = (Path(c.run_dir or "") for c in cells)
    run = load_run(a)
    assert run.spec.primary_metric == "z_right" and run.summary is not None
    assert run.summary.primary == "z_right" and list(run.summary.metrics) == ["a_length", "z_right"]
    assert list(runs_df(tmp_path / "runs")["metric"]) == ["z_right", "z_right"]  # ps3-eval runs
    rows, _ = report_rows([Labelled(a, "a"), Labelled(b, "b")])  # report tables and figures
    assert [r.metric for r in rows] == ["z_right", "z_right"] and rows[1].value == 1.0
    assert compare_runs(a, b).metric == "z_right"
    text = io.StringIO()
    print_summary(run.summary, Console(file=text, width=200))
    assert text.getvalue().index("z_right") < text.getvalue().index("a_length")
    seen: list[str | None] = []

    def progress(p: Progress) -> None:
        seen.append(p.metric)

    evaluate(str(card), "scripted", output_dir=tmp_path / "more", on_progress=progress)
    assert seen and set(seen) == {"z_right"}  # the live progress line


def test_runs_recorded_before_cards_named_one_keep_their_first_metric(tmp_path: Path) -> None:
    card = _card(tmp_path / "toy", "")
    out = tmp_path / "runs"
    s = evaluate(str(card), "scripted", model_args={"accuracy": 1.0}, output_dir=out)
    assert s.spec.primary_metric is None and s.primary == "a_length"  # a custom scorer says none
    run_dir = out / s.run_id
    for name in ("spec.json", "summary.json"):  # as written before the field existed
        data = json.loads((run_dir / name).read_text())
        spec = data.get("spec", data)
        spec.pop("primary_metric")
        (run_dir / name).write_text(json.dumps(data))
    assert load_run(run_dir).summary.primary == "a_length"  # type: ignore[union-attr]
    assert list(runs_df(out)["metric"]) == ["a_length"]
    again = evaluate(str(card), "scripted", resume=run_dir)
    assert again.complete and again.primary == "a_length" and again.metrics == s.metrics


def test_the_default_is_the_scorers_first_metric_and_a_wrong_name_is_refused(
    tmp_path: Path,
) -> None:
    assert load_task("mmbench").primary_metric == "accuracy"
    assert load_task("ocrbench").primary_metric == "ocrbench"
    assert load_task("docvqa").primary_metric == "anls"
    card = write_mc_dataset(tmp_path / "toy", n=2)
    text = card.read_text()
    card.write_text(text + "aggregation: circular\nprimary_metric: circular_accuracy\n")
    assert load_task(str(card)).primary_metric == "circular_accuracy"  # the aggregation's own
    card.write_text(text + "primary_metric: anls\n")
    with pytest.raises(UsageError, match="primary_metric 'anls' is not a metric of the scorer"):
        load_task(str(card))
