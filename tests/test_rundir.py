"""Run folders: read, resumed and reported through one owner, whichever release wrote them."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from ps3_eval import evaluate, load_run, runs_df
from ps3_eval.errors import UsageError
from ps3_eval.rundir import DamagedRunFile, RunDir
from ps3_eval.sweep import run_sweep

LEGACY = Path(__file__).parent / "data" / "legacy_run"
"""A run folder as ps3-eval 0.1.0 (schema 3) wrote it, with the task it ran: two sessions of a
scripted model whose calls failed on half the samples while ``task/outage`` existed (the file is
gone now). Written once by that release; never regenerate it with newer code. If a change to the
scripted backend bumps its version, resuming it is refused by design: keep the folder, and
compare against a second one written by the new release instead of replacing this one."""
LEGACY_RUN = "legacy__scripted__a0435e033e"
LEGACY_MODEL = "scripted:accuracy=0.5,fail_rate=0.5,fail_while=task/outage,seed=3"


@pytest.fixture
def legacy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the legacy project, as the working directory (its paths are relative)."""
    shutil.copytree(LEGACY, tmp_path / "legacy")
    monkeypatch.chdir(tmp_path / "legacy")
    return Path("runs") / LEGACY_RUN


def test_a_run_folder_of_an_earlier_release_loads_resumes_and_reports(
    legacy: Path, tmp_path: Path
) -> None:
    from ps3_eval.report import build_report

    run = load_run(legacy)
    assert run.spec.schema_version == 3 and len(run.spec.sessions) == 2
    assert run.summary is not None and (run.summary.n, run.summary.n_errors) == (3, 3)
    assert [r.sample_id for r in run.results] == [f"q{i}" for i in range(6)]
    before = {r.sample_id: r.prediction for r in run.results if r.error is None}
    assert len(before) == 3
    row = runs_df("runs").iloc[0]
    assert (row["run_id"], row["n"], row["n_errors"], row["complete"]) == (LEGACY_RUN, 3, 3, False)

    # Resuming retries only the failed samples; what was scored stays as it was.
    resumed = evaluate(resume=legacy)
    assert (resumed.n, resumed.n_errors, resumed.complete) == (6, 0, True)
    after = load_run(legacy)
    assert {k: after.results[int(k[1])].prediction for k in before} == before
    assert len(after.spec.sessions) == 3 and after.spec.created_at == run.spec.created_at
    assert len((legacy / "errors.jsonl").read_text().splitlines()) == 6  # both retries' history

    # The same command finds the same folder: the identity and its folder name are unchanged.
    again = evaluate("task/card.yaml", LEGACY_MODEL, output_dir="runs")
    assert again.run_id == LEGACY_RUN and again.n == 6
    assert sorted(p.name for p in Path("runs").iterdir()) == [LEGACY_RUN]

    report = build_report("runs", out=tmp_path / "report", static=False)
    assert [(r.run_id, r.complete, r.n) for r in report.rows] == [(LEGACY_RUN, True, 6)]
    assert "q5" in report.html.read_text()


def _fresh_run(card: Path, out: Path) -> Path:
    s = evaluate(str(card), "scripted", output_dir=out)
    return out / s.run_id


def test_a_damaged_summary_is_named_never_passed_over_and_a_resume_writes_it_again(
    toy_card: Path, tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    folder = _fresh_run(toy_card, out)
    whole = load_run(folder).summary
    assert whole is not None
    (folder / "summary.json").write_text('{"run_id": "cut short')
    for read in (lambda: runs_df(out), lambda: load_run(folder)):
        with pytest.raises(DamagedRunFile, match=r"summary\.json cannot be read .*--resume"):
            read()
    fixed = evaluate(resume=folder)
    assert fixed.n == 12 and fixed.metrics == whole.metrics
    assert load_run(folder).summary == fixed


def _rewrite(path: Path, change: dict[str, object], line: int | None = None) -> None:
    if line is None:
        path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
        return
    lines = path.read_text().splitlines()
    lines[line] = json.dumps({**json.loads(lines[line]), **change})
    path.write_text("\n".join(lines) + "\n")


def test_files_of_a_newer_release_are_refused_on_every_read(toy_card: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    folder = _fresh_run(toy_card, out)
    samples = folder / "samples.jsonl"
    # A result line of a newer schema is refused, not skipped as damaged and dropped on resume.
    _rewrite(samples, {"schema_version": 9, "a_new_field": 1}, line=-1)
    kept = samples.read_text()
    with pytest.raises(UsageError, match=r"newer ps3-eval.*schema 9"):
        load_run(folder)
    with pytest.raises(UsageError, match="newer ps3-eval"):
        evaluate(resume=folder)
    assert samples.read_text() == kept
    # A newer spec or summary is refused by listings and sweeps too, not only by load_run.
    other = _fresh_run(toy_card, tmp_path / "other")
    _rewrite(other / "summary.json", {"schema_version": 9})
    with pytest.raises(UsageError, match=r"summary\.json was written by a newer"):
        runs_df(other)
    _rewrite(other / "spec.json", {"schema_version": 9})
    with pytest.raises(UsageError, match=r"spec\.json was written by a newer"):
        runs_df(other)


def test_sweeps_find_their_cells_through_the_run_folders(tmp_path: Path) -> None:
    from tests.conftest import write_mc_dataset

    card = write_mc_dataset(tmp_path / "toy", n=4)
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        f"name: s\ntasks: ['{card}']\nmodel: scripted\ngrid: {{accuracy: [0.5, 1.0]}}\n"
        f"output_dir: {tmp_path / 'runs'}\n"
    )
    ran = run_sweep(spec)
    folder = RunDir(ran[0].run_dir or "")
    (folder.dir / "summary.json").write_text("{}")
    with pytest.raises(DamagedRunFile, match=r"summary\.json cannot be read"):
        run_sweep(spec, dry_run=True)


RUN_FOLDER_FILES = ("spec.json", "summary.json", "samples.jsonl", "errors.jsonl")
HIGHER = ("ps3_eval.cli", "ps3_eval.console", "ps3_eval.report", "ps3_eval.analysis",
          "ps3_eval.sweep", "ps3_eval.compare", "ps3_eval.mrr", "ps3_eval.curate")  # fmt: skip


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_run_folders_have_one_owner_below_their_users() -> None:
    package = Path(__file__).parents[1] / "ps3_eval"
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        text = path.read_text()
        if not rel.startswith("rundir/"):
            # Only the run-folder package names the files a run folder holds in code.
            for name in RUN_FOLDER_FILES:
                assert f'"{name}"' not in text, f"{rel} names {name}: read it through rundir"
        mods = _imports(path)
        if rel.startswith("rundir/"):
            assert all(
                m.startswith(("ps3_eval.rundir", "ps3_eval.errors", "ps3_eval.records"))
                for m in mods
                if m.startswith("ps3_eval")
            ), f"{rel} imports above the run folders: {sorted(mods)}"
        if rel.startswith(("runner/", "rundir/", "tasks/", "models/", "scoring/")):
            climbing = sorted(m for m in mods if m.startswith(HIGHER))
            assert not climbing, f"{rel} imports a higher layer: {climbing}"
