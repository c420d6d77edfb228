"""The offline default end to end: probe4k card, ocr-reader, demo command and its report."""

import json
from pathlib import Path

import pytest

from ps3_eval import probe4k
from ps3_eval.demo import demo_spec
from ps3_eval.report import Labelled, findings, report_rows
from ps3_eval.sweep import cells
from ps3_eval.tasks import load_task
from tests.test_cli import cli

# Five configurations of the real OCR model on a shared, busy machine: a generous bound that only
# stops a hung demo.
DEMO_TIMEOUT = 900


def test_probe4k_card_matches_the_generator() -> None:
    task = load_task("probe4k", args={"n": 8})
    assert task.card.version == str(probe4k.VERSION)
    samples = list(task.samples())
    assert len(samples) == 8 and len(task) == 8
    s = samples[0]
    assert s.choices and len(s.choices) == 4 and s.targets[0] in "ABCD"
    assert s.bbox and s.mrr in probe4k.MRR_BUCKETS and s.category in probe4k.CATEGORIES
    assert abs(s.metadata["text_height_px"] - probe4k.text_height_for(s.mrr)) <= 2


def test_probe4k_manifest_works_as_data_override(tmp_path: Path) -> None:
    items = probe4k.generate(4, seed=5, cache_dir=tmp_path)
    manifest = next(tmp_path.glob("probe4k-*/manifest.jsonl"))
    via_data = list(load_task("probe4k", data=str(manifest)).samples())
    assert [s.id for s in via_data] == [it.id for it in items]
    assert [s.targets[0] for s in via_data] == [it.answer for it in items]


@pytest.mark.parametrize(
    ("arg", "needle"),
    [
        ("n=0", "n must be a positive integer"),
        ("categories=space", "valid: autonomous_vehicle"),
        ("n=many", "'n'"),
    ],
)
def test_probe4k_bad_arguments(arg: str, needle: str) -> None:
    res = cli("run", "-t", "probe4k", "--task-arg", arg, "-m", "scripted", check=False)
    assert res.returncode == 2 and needle in res.stderr
    assert len([x for x in res.stderr.splitlines() if x.strip()]) == 1


def test_demo_end_to_end_and_resumes(tmp_path: Path) -> None:
    runs, report_dir = tmp_path / "runs", tmp_path / "report"
    labels = [c.label for c in cells(demo_spec())]  # the shipped sweep spec's cells
    assert labels == ["full 756", "full 1512", "full 3780", "sel 10% 3780", "sel 15% 3780"]
    res = cli("demo", "--n", "4", "--output-dir", str(runs), "--report-dir", str(report_dir), "-q",
              timeout=DEMO_TIMEOUT)  # fmt: skip
    for label in labels:
        assert label in res.stdout
    report = (report_dir / "report.html").read_text()
    assert "<script>" in report and "Plotly" in report  # plotly.js inlined: opens offline
    assert "cdn" not in report.split("<script>")[1][:200].lower()
    for label in labels:
        assert label in report
    for title in ("Accuracy vs high-resolution tokens", "Accuracy vs latency",
                  "Accuracy vs resolution", "Accuracy vs selection ratio"):  # fmt: skip
        assert title in report
    markdown = (report_dir / "report.md").read_text()
    assert "| full 3780 | probe4k | ocr-reader | accuracy |" in markdown
    # The gallery shows each of the 4 details as the image has it, with every config's answer.
    assert report.count("<img src='data:image/png;base64,") == 4
    assert report.count("class='ok'") + report.count("class='bad'") + report.count(
        "class='none'"
    ) == 4 * len(labels)
    run_dirs = sorted(runs.iterdir())
    assert len(run_dirs) == len(labels)
    summaries = [json.loads((d / "summary.json").read_text()) for d in run_dirs]
    assert all(s["complete"] and s["n"] == 4 for s in summaries)
    tokens = {
        s["spec"]["model_args"]["resolution"]: s["tokens"]["visual"]
        for s in summaries
        if s["spec"]["model_args"]["select"] is None
    }
    assert tokens[756] < tokens[1512] < tokens[3780]
    # A second demo finds every run complete and only rewrites the report: no run gains a
    # session or a record, no record file is written at all.
    before = {d: _untouched(d) for d in run_dirs}
    (report_dir / "report.html").unlink()
    cli("demo", "--n", "4", "--output-dir", str(runs), "--report-dir", str(report_dir), "-q",
        timeout=DEMO_TIMEOUT)  # fmt: skip
    assert sorted(runs.iterdir()) == run_dirs
    assert {d: _untouched(d) for d in run_dirs} == before
    assert (report_dir / "report.html").read_text().count("class='ok'") == report.count(
        "class='ok'"
    )


def _untouched(run_dir: Path) -> tuple[bytes, int, int]:
    """What a session that ran samples would change: the records, their file, the sessions."""
    samples = run_dir / "samples.jsonl"
    spec = json.loads((run_dir / "spec.json").read_text())
    return samples.read_bytes(), samples.stat().st_mtime_ns, len(spec["sessions"])


def test_findings_state_what_was_measured(tmp_path: Path) -> None:
    from ps3_eval import evaluate

    labelled = []
    for label, args in (("full 756", {"accuracy": 0.5}), ("full 3780", {"accuracy": 1.0})):
        s = evaluate(
            "probe4k", "scripted", model_args=args, task_args={"n": 8}, output_dir=tmp_path
        )
        labelled.append(Labelled(tmp_path / s.run_id, label))
    rows, _ = report_rows(labelled)
    # findings read resolution and selection from the arguments; scripted has neither
    assert findings(rows) == []
    rows[0].spec.model_args["resolution"], rows[1].spec.model_args["resolution"] = 756, 3780
    facts = findings(rows)
    assert facts[0].startswith("Whole-image accuracy by reading resolution: 756: ")
    assert "rises with resolution" in facts[0]
    assert any(f.startswith("Designed-MRR 4K items, by resolution: 756: ") for f in facts)
    rows[1].spec.model_args["select"] = 0.1  # now a selection with no whole-image 3780 run
    assert not any("of full" in f for f in findings(rows))
    rows[0].spec.model_args["resolution"] = 3780
    (sel,) = [f for f in findings(rows) if f.startswith("full 3780:")]
    assert f"accuracy {rows[1].value:.2f} = " in sel and "of full 756" in sel
