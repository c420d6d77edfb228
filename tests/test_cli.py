import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ps3_eval import load_run, runs_df, samples_df
from tests.conftest import write_mc_dataset

ROOT = Path(__file__).resolve().parents[1]


def cli(
    *args: str,
    check: bool = True,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the checkout's ``python cli.py`` as a user would (``env``: extra variables).

    ``timeout`` only stops a hung command; nothing is asserted about how long it took.
    """
    env = {**os.environ, "COLUMNS": "200", **(env or {})}
    res = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )
    if check and res.returncode != 0:
        raise AssertionError(f"exit {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res


def test_run_show_and_frames(toy_card: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    res = cli(
        "run",
        "--task",
        str(toy_card),
        "--model",
        "scripted:accuracy=0.5",
        "--model-arg",
        "latency=0.001",
        "--output-dir",
        str(out),
        "--json",
        "-q",
    )
    summary = json.loads(res.stdout)
    assert summary["n"] == 12 and summary["spec"]["model_args"]["latency"] == 0.001
    run_dir = out / summary["run_id"]
    shown = cli("show", str(run_dir))
    assert "accuracy" in shown.stdout and "by category" in shown.stdout and "gaming" in shown.stdout
    runs = runs_df(out)  # one row per run, each metric with its CI as columns
    acc = summary["metrics"]["accuracy"]
    assert len(runs) == 1 and list(runs["metric"]) == ["accuracy"]
    assert runs["accuracy"][0] == acc["mean"] and runs["accuracy.ci_low"][0] == acc["ci_low"]
    assert runs["accuracy.ci_high"][0] == acc["ci_high"] and bool(runs["complete"][0])
    assert runs["arg.latency"][0] == 0.001 and runs["n_total"][0] == 12
    samples = samples_df(out)
    assert len(samples) == 12 and set(samples["category"]) == {"gaming", "ui"}
    assert samples["score.accuracy"].mean() == pytest.approx(summary["metrics"]["accuracy"]["mean"])


def test_listing_commands(toy_card: Path) -> None:
    models = cli("models").stdout
    assert "scripted" in models and "test double" in models and "fail_rate" in models
    shipped = json.loads(cli("tasks", "--json").stdout)
    names = [c["name"] for c in shipped]
    assert "chartqa" in names and names == sorted(names)
    # The table lists every card on a line of its own, with its version and scorer.
    table = cli("tasks").stdout.splitlines()
    for card in shipped:
        (line,) = [x for x in table if re.search(rf"\b{re.escape(card['name'])}\s", x)]
        assert re.search(rf"\s{re.escape(card['version'])}\s", line), line
        assert card["scorer"] is None or card["scorer"] in line, line
    # Cards in a PS3_EVAL_TASKS folder join the list.
    env = {"PS3_EVAL_TASKS": str(toy_card.parent)}
    with_toy = json.loads(cli("tasks", "--json", env=env).stdout)
    assert [c["name"] for c in with_toy] == sorted([*names, "toy"])
    backends = {b["name"] for b in json.loads(cli("models", "--json").stdout)}
    assert {"scripted", "openai", "anthropic", "gemini", "openai-compatible"} <= backends


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--task", "nope", "--model", "scripted"], "unknown task 'nope'"),
        (["run", "--task", "CARD", "--model", "gpt-9"], "unknown model 'gpt-9'"),
        (
            ["run", "--task", "CARD", "--model", "scripted", "-a", "speed=3"],
            "unknown argument 'speed'",
        ),
        (["run", "--task", "CARD", "--model", "scripted:latency=-1"], "greater than or equal"),
        (["run", "--task", "CARD", "--model", "scripted", "--limit", "0"], "limit"),
        (["show", "/nonexistent/run"], "not a run directory"),
    ],
)
def test_bad_input_exits_2_with_one_line(toy_card: Path, args: list[str], needle: str) -> None:
    res = cli(*[str(toy_card) if a == "CARD" else a for a in args], check=False)
    assert res.returncode == 2, res.stderr
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0], res.stderr


@contextmanager
def served(*args: str) -> Iterator[str]:
    """A ``ps3-eval ... serve`` process on a free port: yields its URL, is killed with -9 after."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert found, line + (proc.stderr.read() if proc.stderr else "")
        yield found.group(0)
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown: what was acknowledged must be on disk
    finally:
        proc.kill()
        proc.wait()


def _wait_lines(path: Path, n: int, proc: subprocess.Popen[Any], limit: float = 60) -> None:
    end = time.time() + limit
    while time.time() < end:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"run ended early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("no progress")


def _samples_file(out: Path, proc: subprocess.Popen[str]) -> Path:
    """The samples.jsonl of the single run the child process is writing."""
    end = time.time() + 60
    while time.time() < end:
        found = list(out.glob("*/samples.jsonl"))
        if found:
            return found[0]
        if proc.poll() is not None:
            raise AssertionError(f"run ended early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("the run never created samples.jsonl")


def _slow_run_args(card: Path, out: Path) -> list[str]:
    """A run of the held dataset, 0.05 s a sample at concurrency 2 (it ends only once fed)."""
    return [
        "run",
        "--task",
        str(card),
        "--model",
        "scripted:latency=0.05,accuracy=0.6",
        "--concurrency",
        "2",
        "--output-dir",
        str(out),
        "-q",
    ]


def _start(card: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), *_slow_run_args(card, out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A background parent may ignore SIGINT; give the child the default a terminal gives.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_kill_9_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    from tests.test_lock import held_dataset

    # The last image is a named pipe nobody writes: the run cannot end, so the kill lands while
    # it is going on, whatever the machine's load.
    card, pipe, image = held_dataset(tmp_path / "d", n=40)
    out = tmp_path / "runs"
    proc = _start(card, out)
    samples = _samples_file(out, proc)
    _wait_lines(samples, 10, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = len(samples.read_text().splitlines())
    assert 10 <= killed_at < 40
    pipe.unlink()
    pipe.write_bytes(image)  # the image as it was meant to be
    res = cli(*_slow_run_args(card, out), "--json")
    resumed = json.loads(res.stdout)
    ids = [json.loads(x)["sample_id"] for x in samples.read_text().splitlines()]
    assert len(ids) == 40 and len(set(ids)) == 40
    whole = json.loads(
        cli(
            "run",
            "--task",
            str(card),
            "--model",
            "scripted:latency=0,accuracy=0.6",
            "--output-dir",
            str(tmp_path / "whole"),
            "--json",
            "-q",
        ).stdout
    )
    for key in ("n", "n_errors", "complete", "metrics", "by_category", "by_mrr"):
        assert resumed[key] == whole[key], key


def test_ctrl_c_flushes_and_prints_a_resume_hint(tmp_path: Path) -> None:
    from tests.test_lock import feed, held_dataset

    card, pipe, image = held_dataset(tmp_path / "d", n=40)  # the run cannot end by itself
    out = tmp_path / "runs"
    proc = _start(card, out)
    samples = _samples_file(out, proc)
    _wait_lines(samples, 5, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.stderr is not None
    stderr = ""
    while "--resume" not in stderr:  # the interrupt is taken: only then may the image come
        line = proc.stderr.readline()
        assert line, f"ended without a resume hint: {stderr}"
        stderr += line
    feed(pipe, image)  # a reader still waiting on the pipe lets go
    stderr += proc.communicate(timeout=60)[1]
    assert proc.returncode == 130
    assert "ps3-eval run --resume" in stderr
    recorded = samples.read_text().splitlines()
    assert all(json.loads(x)["sample_id"] for x in recorded)  # every line is whole
    run = load_run(samples.parent)
    assert run.summary is not None and not run.summary.complete
    assert run.summary.n == len(recorded)
    hint = stderr.split("--resume", 1)[1].split()[0]
    pipe.unlink(missing_ok=True)
    pipe.write_bytes(image)
    cli("run", "--resume", hint, "-q")
    assert len(samples.read_text().splitlines()) == 40


def test_installed_console_script_runs_the_same_app(toy_card: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "ps3-eval"
    assert script.exists(), "install the project as the README says (pip install -e '.[dev]')"
    res = subprocess.run(
        [
            str(script),
            "run",
            "--task",
            str(toy_card),
            "--model",
            "scripted",
            "--limit",
            "3",
            "--output-dir",
            str(tmp_path),
            "--json",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(res.stdout)["n"] == 3


PROGRESS_LINE = re.compile(
    r"^toy__scripted__\w+: (\d+)/24 \(\d+%\)  "
    r"(?:\d+\.\d\d s/sample  ETA \d+:\d\d|elapsed \d+:\d\d)"
    r"(?:  accuracy=\d\.\d{3})?  errors=0(  finished in \d+:\d\d)?$"
)


def _progress_run(card: Path, out: Path, *, latency: float = 0.1) -> list[str]:
    """The console script on ``card``, one sample at a time."""
    script = Path(sys.executable).parent / "ps3-eval"
    assert script.exists(), "install the project as the README says (pip install -e '.[dev]')"
    return [
        str(script),
        "run",
        "--task",
        str(card),
        "--model",
        f"scripted:latency={latency}",
        "--concurrency",
        "1",
        "--output-dir",
        str(out),
    ]


def _env(**extra: str) -> dict[str, str]:
    """This environment without rich's terminal overrides, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("TTY_INTERACTIVE", "TTY_COMPATIBLE")}
    env.pop("FORCE_COLOR", None)
    return {**env, **extra}


def test_without_a_terminal_progress_lines_arrive_while_the_run_goes_on(tmp_path: Path) -> None:
    from tests.test_lock import feed, held_dataset

    # The last image is a named pipe: the run cannot end before the test writes the image, so
    # every line read before that arrived while the run was going on (no clock involved).
    card, pipe, image = held_dataset(tmp_path / "d", n=24)
    # FORCE_COLOR, set by many CI systems, must not make rich take the pipe for a terminal.
    env = _env(PS3_EVAL_PROGRESS_INTERVAL="0.3", FORCE_COLOR="1", TERM="xterm-256color")
    proc = subprocess.Popen(
        _progress_run(card, tmp_path / "runs", latency=0.0),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,  # not a terminal, as under nohup, in CI or with 2>log
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    watchdog = threading.Timer(120, proc.kill)  # a run that says nothing fails, never hangs
    watchdog.start()
    lines = [proc.stderr.readline().rstrip("\n")]
    assert re.fullmatch(r"toy__scripted__\w+: started, 24 samples", lines[0]), lines
    while True:  # ticker lines until one says 23 of 24: the run waits for the last image
        lines.append(proc.stderr.readline().rstrip("\n"))
        m = PROGRESS_LINE.match(lines[-1])
        assert m is not None and m.group(2) is None, lines  # a ticker line, nothing else
        if m.group(1) == "23":
            break
    assert proc.poll() is None
    feed(pipe, image)
    rest = [line.rstrip("\n") for line in proc.stderr]
    assert proc.wait(timeout=60) == 0
    watchdog.cancel()
    lines += rest
    progress = [m for text in lines[1:] if (m := PROGRESS_LINE.match(text))]
    assert len(progress) == len(lines) - 1, lines  # nothing else: no bar, no escape codes
    counts = [int(m.group(1)) for m in progress]
    assert counts == sorted(counts) and counts[-1] == 24, counts
    # The last line closes the run, and only the last.
    closing = [m.group(2) is not None for m in progress]
    assert closing == [False] * (len(progress) - 1) + [True]


def test_a_terminal_keeps_the_live_bar(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "d", n=24)
    main, child = pty.openpty()
    proc = subprocess.Popen(
        _progress_run(card, tmp_path / "runs"),
        stdout=subprocess.DEVNULL,
        stderr=child,
        env=_env(PS3_EVAL_PROGRESS_INTERVAL="0.3", TERM="xterm-256color", COLUMNS="150"),
    )
    os.close(child)
    screen = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    os.close(main)
    assert proc.wait(timeout=60) == 0
    text = screen.decode(errors="replace")
    assert "\x1b[?25l" in text and "24/24" in text  # rich hid the cursor and drew the bar
    assert "started, 24 samples" not in text and "s/sample" not in text  # no plain lines
