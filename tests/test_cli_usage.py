"""The command line as a user meets it: one-line errors, help, exit codes, tables, signals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ps3_eval import load_run
from tests.conftest import write_mc_dataset
from tests.test_cli import ROOT, _samples_file, _start, _wait_lines, cli
from tests.test_lock import feed, held_dataset

SWEEP = """
name: toy
tasks: [{card}]
model: scripted
output_dir: {runs}
task_args: {task_args}
grid:
  accuracy: [0.5, 1.0]
"""


def _one_line(res: subprocess.CompletedProcess[str], needle: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--foo"], "No such option: --foo; see 'ps3-eval --help'"),
        (["nope"], "No such command 'nope'"),
        ([], "usage: ps3-eval COMMAND [ARGS]... (compare, curate, data, demo"),
        (["export"], "usage: ps3-eval export COMMAND [ARGS]... (lmms, submission)"),
        (["run", "--tsk", "x"], "No such option: --tsk"),
        (["runs", "RUNS", "--csv", "--json"], "--csv and --json print different formats"),
        (["report", "RUNS", "--gallery", "-1"], "Invalid value for '--gallery'"),
        (["run", "-t", "CARD", "-m", "scripted", "--max-tokens", "0"], "'--max-tokens'"),
        (["run", "-t", "CARD", "-m", "scripted", "-a", "acuracy=0.5"], "did you mean accuracy"),
        (
            ["report", "RUNS", "--metric", "acc"],
            "metric 'acc' is not a metric of the chosen runs; they have accuracy",
        ),
        (["plot", "accuracy", "RUNS", "--metric", "acc"], "they have accuracy"),
        (
            ["run", "-t", "probe4k", "-m", "scripted", "--task-arg", "colour=red"],
            "task 'probe4k' has no argument 'colour'; its arguments are n, seed, categories",
        ),
        (["models", "opnai"], "Did you mean 'openai'?"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    toy_card: Path, tmp_path: Path, args: list[str], needle: str
) -> None:
    runs = tmp_path / "runs"
    if "RUNS" in args:
        cli("run", "-t", str(toy_card), "-m", "scripted", "--output-dir", str(runs), "-q")
    given = [str(toy_card) if a == "CARD" else str(runs) if a == "RUNS" else a for a in args]
    _one_line(cli(*given, check=False), needle)
    assert not (tmp_path / "reports").exists()


def test_version_prints_one_line() -> None:
    from ps3_eval.version import __version__

    res = cli("--version")
    assert res.stdout == f"ps3-eval {__version__}\n" and res.stderr == ""


def test_a_sweep_is_checked_at_dry_run_and_yaml_errors_say_where(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    # probe4k's loader takes n, seed and categories: a typo is refused before anything runs
    spec.write_text(SWEEP.format(card="probe4k", runs=tmp_path / "runs", task_args="{sed: 4}"))
    _one_line(
        cli("sweep", str(spec), "--dry-run", check=False),
        "task 'probe4k' has no argument 'sed' (did you mean seed?); its arguments are n, seed",
    )
    spec.write_text(SWEEP.format(card="probe4k", runs=tmp_path / "runs", task_args="{n: -4}"))
    _one_line(cli("sweep", str(spec), "--dry-run", check=False), "n must be a positive integer")
    assert not (tmp_path / "runs").exists()
    spec.write_text("name: toy\ntasks: [probe4k\nmodel: scripted\n")
    _one_line(
        cli("sweep", str(spec), "--dry-run", check=False),
        f"sweep spec {spec} is not valid YAML: line 3, column 6:",
    )


def test_help_has_an_example_per_command_marks_required_and_lists_values() -> None:
    import typer

    from ps3_eval.cli import app
    from ps3_eval.console import EXAMPLES

    runner = CliRunner()
    root = typer.main.get_command(app)
    commands = []
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        subs = getattr(command, "commands", None)
        commands += [[name, sub] for sub in subs] if subs else [[name]]
    assert len(commands) == len(EXAMPLES)  # a command without an example fails below
    for command in commands:  # every command, including any added later
        res = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
        assert res.exit_code == 0, command
        example = EXAMPLES[" ".join(command)]
        assert example.startswith(f"ps3-eval {' '.join(command)} "), command
        assert f"Example: {example}" in res.output, command
    run_help = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output
    assert run_help.count("(required unless --resume)") == 2
    models = cli("models").stdout
    assert "mode: 'top_down' | 'bottom_up', default 'top_down'" in models  # ocr-reader
    assert "resize: 'provider' | 'none', default 'provider'" in models
    openai = cli("models", "openai").stdout
    anthropic = cli("models", "anthropic").stdout
    assert anthropic.startswith("anthropic  (api)") and "\nopenai" not in anthropic
    assert "e.g. claude-sonnet-4-5" in anthropic and "gpt-4o" not in anthropic
    assert "detail: 'high' | 'low' | 'auto', default 'high'  not used by Anthropic" in anthropic
    assert "e.g. gpt-4o" in openai and "not used by" not in openai


def test_tables_in_a_pipe_are_never_cut_and_show_the_arguments_that_vary(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "d", n=8)
    card.write_text(card.read_text().replace("name: toy", "name: " + "a_long_task_name" * 4))
    out = tmp_path / "runs"
    dirs = []
    for acc in (0.125, 0.875):
        res = cli("run", "-t", str(card), "-m", f"scripted:accuracy={acc},template=Answer: "
                  "{answer}", "--output-dir", str(out), "--json")  # fmt: skip
        dirs.append(out / json.loads(res.stdout)["run_id"])
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    narrow = {**env, "COLUMNS": "40"}  # a terminal's width must not apply to a pipe

    def run(*args: str) -> str:
        res = subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True,
                             text=True, env=narrow, timeout=120, check=True)  # fmt: skip
        assert "…" not in res.stdout, res.stdout
        return res.stdout

    listed = run("runs", str(out))
    for d in dirs:
        assert d.name in listed
    assert "accuracy=0.125" in listed and "accuracy=0.875" in listed
    assert "template" not in listed  # the same in both runs
    shown = run("show", str(dirs[0]))
    assert "arguments: scripted accuracy=0.125 template=Answer: {answer}" in shown
    compared = run("compare", str(dirs[0]), str(dirs[1]))
    assert f"A ({dirs[0].name}): accuracy=0.125" in compared
    assert f"B ({dirs[1].name}): accuracy=0.875" in compared


def test_a_run_with_error_records_exits_3_and_says_a_rerun_retries_them(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "d", n=12)
    out = tmp_path / "runs"
    res = cli("run", "-t", str(card), "-m", "scripted:fail_rate=0.5", "--output-dir", str(out),
              check=False)  # fmt: skip
    assert res.returncode == 3, res.stderr
    run_dir = next(out.iterdir())
    n = load_run(run_dir).summary.n_errors  # type: ignore[union-attr]
    assert 0 < n < 12
    assert f"{n} of 12 samples ended in an error (not scored); a re-run retries them: " \
           f"ps3-eval run --resume {run_dir}" in res.stdout  # fmt: skip
    as_json = cli("run", "--resume", str(run_dir), "--json", check=False)
    assert as_json.returncode == 3 and json.loads(as_json.stdout)["n_errors"] == n
    assert f"a re-run retries them: ps3-eval run --resume {run_dir}" in as_json.stderr
    # a sweep whose cells ended with errors says so too
    spec = tmp_path / "s.yaml"
    spec.write_text(SWEEP.format(card=card, runs=tmp_path / "sw", task_args="{}")
                    + "model_args: {fail_rate: 0.5}\n")  # fmt: skip
    swept = cli("sweep", str(spec), check=False)
    assert swept.returncode == 3
    assert re.search(r"\d+ samples in 2 of 2 cells ended in an error \(not scored\): .*"
                     rf"a re-run retries them: ps3-eval sweep {spec}", swept.stderr)  # fmt: skip
    # all scored: exit 0
    cli("run", "-t", str(card), "-m", "scripted", "--output-dir", str(out))


def test_sigterm_stops_a_run_as_ctrl_c_does(tmp_path: Path) -> None:
    card, pipe, image = held_dataset(tmp_path / "d", n=12)
    out = tmp_path / "runs"
    proc = _start(card, out)
    samples = _samples_file(out, proc)
    _wait_lines(samples, 11, proc)  # the last sample waits for its image: the run goes on
    proc.send_signal(signal.SIGTERM)
    feed(pipe, image)  # lets the reading thread end, so the process can
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert "Stopped by SIGTERM; every finished sample is saved" in stderr
    assert f"ps3-eval run --resume {samples.parent}" in stderr
    run = load_run(samples.parent)
    assert run.summary is not None and run.summary.n == 11 and not run.summary.complete
    assert len(samples.read_text().splitlines()) == 11
    assert (samples.parent / "run.lock").read_text() == ""  # released


def test_answers_and_judge_calls_are_cached_under_one_root(tmp_path: Path) -> None:
    from tests import layouts

    root = tmp_path / "cache-root"
    snap = layouts.write_snapshot(tmp_path / "mv", [layouts.mathvista()])
    answers = tmp_path / "model.json"
    answers.write_text(json.dumps({"2": "It is either 6 or 7, hard to say"}))
    env = {**os.environ, "PS3_EVAL_CACHE": str(root)}
    res = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "run", "-t", "mathvista", "--data", str(snap),
         "-m", f"scripted:answers={answers}", "--judge", "scripted:answer=7", "--output-dir",
         str(tmp_path / "runs"), "-q"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert (root / "judge.sqlite").is_file()  # judge calls: always cached, under the root
    res = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "run", "-t", "mathvista", "--data", str(snap),
         "-m", "scripted", "--cache", "--output-dir", str(tmp_path / "runs"), "-q"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert (root / "responses.sqlite").is_file()  # answers: --cache, under the same root
