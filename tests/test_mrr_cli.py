"""MRR studies end to end: ps3-eval mrr sample / auto / label / agreement / report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from ps3_eval import load_run, runs_df
from ps3_eval.errors import ModelError
from ps3_eval.fourkpro import READ_RESOLUTIONS
from ps3_eval.models import Backend, register_model
from ps3_eval.models.base import ModelArgs
from ps3_eval.mrr import (
    BEYOND,
    INCOMPLETE,
    auto_mrr,
    load_auto,
    mrr_of,
    sample_study,
    study_agreement,
)
from ps3_eval.mrr.auto import outcome_of
from ps3_eval.records import ModelOutput, Request
from tests.test_cli import cli

PROBE = ("--task-arg", "n=8")  # the probe4k set other tests generate too (cached per session)


def _outcomes_from_runs(result: Any) -> dict[str, dict[str, str]]:
    """Each item's outcome per rung, read again from the rung runs' own records."""
    out: dict[str, dict[str, str]] = {}
    for rung, run_dir in result.runs.items():
        for r in load_run(run_dir).results:
            out.setdefault(r.sample_id, {})[rung] = outcome_of(r, result.metric, result.threshold)
    return out


def test_cli_study_with_scripted_model(tmp_path: Path) -> None:
    study, runs = tmp_path / "study", tmp_path / "runs"
    res = cli("mrr", "sample", "probe4k", *PROBE, "--n", "4", "--study", str(study))
    assert "4 of 8 items of probe4k" in res.stdout and "3840 px" in res.stdout
    auto_args = ("mrr", "auto", str(study), "-m", "scripted:accuracy=0.5", "--output-dir",
                 str(runs), "-q")  # fmt: skip
    res = cli(*auto_args)
    assert "MRR of 4 items" in res.stdout and "designed" in res.stdout  # agreement printed
    result = load_auto(study / "auto" / "scripted-accuracy-0.5.json")
    assert len(result.items) == 4 and set(result.runs) == {"1K", "2K", "4K"}
    # the rungs are ordinary runs, one per image side, listed by ps3-eval runs
    sides = {load_run(d).spec.image_side for d in result.runs.values()}
    assert sides == {756, 1512, 3780}
    listed = json.loads(cli("runs", str(runs), "--json").stdout)
    assert sorted(r["path"] for r in listed) == sorted(result.runs.values())
    # ... each with the side it showed, so the three rungs do not list alike
    assert sorted((r["image_side"], r["no_image"]) for r in listed) == [
        (756, False),
        (1512, False),
        (3780, False),
    ]
    table = cli("runs", str(runs)).stdout
    assert all(f"{side} px" in table for side in (756, 1512, 3780)), table
    recomputed = _outcomes_from_runs(result)
    for it in result.items:
        assert it.outcomes == recomputed[it.id]
        assert it.mrr == mrr_of(it.outcomes, result.ladder)  # type: ignore[arg-type]
        assert it.designed in ("1K", "2K", "4K") and it.native_side == 3840
    # the scripted double answers alike at every rung: right items are 1K, the others beyond
    assert {it.mrr for it in result.items} <= {"1K", BEYOND}

    # again: every rung is complete, so nothing is asked again
    lines = {k: len((Path(d) / "samples.jsonl").read_text().splitlines())
             for k, d in result.runs.items()}  # fmt: skip
    cli(*auto_args)
    assert lines == {k: len((Path(d) / "samples.jsonl").read_text().splitlines())
                     for k, d in result.runs.items()}  # fmt: skip

    # labels: one at a time, and a file; bad input is one line and exit 2, nothing stored
    first, second = result.items[0].id, result.items[1].id
    cli("mrr", "label", str(study), "--item", first, "--labeller", "alice", "--mrr", "2K")
    bad = cli("mrr", "label", str(study), "--item", "nope", "--labeller", "alice", "--mrr", "2K",
              check=False)  # fmt: skip
    assert bad.returncode == 2 and "has no item 'nope'" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    csv = tmp_path / "labels.csv"
    csv.write_text(f"item,labeller,mrr\n{first},bob,2K\n{second},bob,beyond\n")
    res = cli("mrr", "label", str(study), "--import", str(csv))
    assert "imported 2 labels" in res.stdout and "bob" in res.stdout
    pairs = json.loads(cli("mrr", "agreement", str(study), "--json").stdout)
    names = {(p["a"], p["b"]) for p in pairs}
    assert ("human:alice", "human:bob") in names and ("designed", "auto:scripted") in names
    ab = next(p for p in pairs if (p["a"], p["b"]) == ("human:alice", "human:bob"))
    assert ab["n"] == 1 and ab["observed"] == 1.0 and ab["kappa"] is None  # one label: undefined

    res = cli("mrr", "report", str(study), "--out", str(tmp_path / "rep"))
    assert "human" in res.stdout and "auto: scripted" in res.stdout
    for name in ("report.html", "figure8.png", "figure8.html", "mrr_distribution.png", "mrr.json"):
        assert (tmp_path / "rep" / name).stat().st_size > 0
    bad = cli("mrr", "report", str(tmp_path / "nothing"), check=False)
    assert bad.returncode == 2 and "neither an MRR study folder" in bad.stderr
    bad = cli("mrr", "auto", str(tmp_path / "rep"), "-m", "scripted", check=False)
    assert bad.returncode == 2 and "is a folder but not an MRR study" in bad.stderr


class _NeedsArgs(ModelArgs):
    needs: str = Field(description="JSON file: sample id -> the long side it needs")
    fail: str | None = Field(None, description="a sample id whose call fails ...")
    fail_while: str | None = Field(None, description="... while this file exists")


class _SideReader(Backend):
    """Reads an item right exactly when its image is shown at least as large as it needs."""

    name = "mrr-side-reader"
    kind = "test-double"
    Args = _NeedsArgs
    args: _NeedsArgs

    async def generate(self, request: Request) -> ModelOutput:
        a = self.args
        if a.fail == request.sample_id and a.fail_while and Path(a.fail_while).exists():
            raise ModelError("scripted outage")
        if not request.images:
            return ModelOutput(text="")  # nothing to read: no answer
        need = json.loads(Path(a.needs).read_text())[request.sample_id]
        side = max(request.images[0].width, request.images[0].height)
        target = (request.oracle or ["A"])[0]
        wrong = "B" if target == "A" else "A"
        return ModelOutput(text=target if side >= need else wrong)


@pytest.fixture(autouse=True)
def _register() -> None:
    register_model("mrr-side-reader", _SideReader)


def test_auto_mrr_reads_the_rung_each_item_needs(tmp_path: Path) -> None:
    study = sample_study("probe4k", task_args={"n": 8}, n=4, study=tmp_path / "study")
    needs = {it.id: READ_RESOLUTIONS[it.mrr or "4K"] for it in study.items}
    hidden = study.items[0].id
    needs[hidden] = 5000  # legible only above the top rung
    flaky = study.items[1].id
    (tmp_path / "needs.json").write_text(json.dumps(needs))
    (tmp_path / "outage").touch()
    args = {"needs": str(tmp_path / "needs.json"), "fail": flaky,
            "fail_while": str(tmp_path / "outage")}  # fmt: skip
    seen: list[str] = []

    def run() -> Any:
        return auto_mrr(
            study.dir,
            "mrr-side-reader",
            model_args=args,
            no_image=True,
            output_dir=tmp_path / "runs",
            on_start=lambda w, p, d: seen.append(w),
        )

    first = run()
    assert seen == ["no_image (no image)", "1K (756 px)", "2K (1512 px)", "4K (3780 px)"]
    by_id = {it.id: it for it in first.items}
    assert by_id[hidden].mrr == BEYOND and by_id[hidden].outcomes["4K"] == "wrong"
    assert by_id[flaky].mrr == INCOMPLETE  # a failed call is an error record, never wrong
    assert set(by_id[flaky].outcomes.values()) == {"error"}
    assert all(it.outcomes["no_image"] == "abstain" for it in first.items if it.id != flaky)
    for it in first.items:
        if it.id not in (hidden, flaky):
            assert it.mrr == it.designed  # the rungs show each image at the designed size
    assert [load_auto(f).items for f in study.auto_files()] == [first.items]  # saved in the study
    (tmp_path / "outage").unlink()
    second = run()  # the same runs resume: only the failed calls are asked again
    again = {it.id: it for it in second.items}
    assert again[flaky].mrr == again[flaky].designed
    assert second.runs == first.runs
    pairs = study_agreement(study, [second])  # no labels yet: the design against the model
    design = next(a for a in pairs if a.a == "designed")
    assert design.n == 4 and design.observed == 0.75  # all but the item beyond the ladder


def test_cli_auto_on_the_probe_with_the_ocr_reader(tmp_path: Path) -> None:
    out, runs = tmp_path / "ocr.json", tmp_path / "runs"
    res = cli("mrr", "auto", "probe4k", *PROBE, "--limit", "1", "--model", "ocr-reader",
              "--output-dir", str(runs), "--out", str(out), "-q")  # fmt: skip
    assert "designed" in res.stdout and "kappa" in res.stdout
    result = load_auto(out)
    assert result.task == "probe4k" and result.study is None and len(result.items) == 1
    recomputed = _outcomes_from_runs(result)
    for it in result.items:
        assert it.outcomes == recomputed[it.id]
        assert it.mrr == mrr_of(it.outcomes, result.ladder)  # type: ignore[arg-type]
    # each rung's reader saw the image at that rung's side, the record keeps the stored size
    for rung, run_dir in result.runs.items():
        side = result.ladder.side(rung)
        for r in load_run(run_dir).results:
            assert max(r.output.image_sizes[0]) <= side and r.images[0].width == 3840
    frame = runs_df(runs)
    assert len(frame) == 3 and set(frame["task"]) == {"probe4k"}
    rep = cli("mrr", "report", str(out), "--out", str(tmp_path / "rep"))
    assert "auto: ocr-reader" in rep.stdout and "designed" in rep.stdout
    data = json.loads((tmp_path / "rep" / "mrr.json").read_text())
    assert {r["source"] for r in data["rows"]} == {"auto: ocr-reader", "designed"}
    assert (tmp_path / "rep" / "figure8.png").stat().st_size > 0


def test_ctrl_c_in_mrr_auto_keeps_the_rung_and_says_how_to_resume(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from tests.conftest import write_mc_dataset
    from tests.test_cli import ROOT, _samples_file, _wait_lines

    card = write_mc_dataset(tmp_path / "d", n=40, size=(32, 32))
    out = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), "mrr", "auto", str(card), "-m",
         "scripted:latency=0.1", "--concurrency", "2", "--output-dir", str(out), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    samples = _samples_file(out, proc)
    _wait_lines(samples, 3, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    said = "Interrupted; every finished sample is saved. Resume with:\n  the same command again"
    assert said in stderr
    assert load_run(samples.parent).spec.image_side == 756  # the first rung, kept
