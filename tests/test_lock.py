"""One process per run folder: a second one is refused (or waits), a dead holder is taken over.

Every test here runs two real processes and synchronises on states (records written, a line
printed, a process ended), never on sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from tests.conftest import write_mc_dataset
from tests.test_cli import ROOT, _samples_file, _wait_lines, cli

N = 30


def held_dataset(root: Path, n: int = N) -> tuple[Path, Path, bytes]:
    """A dataset whose last image is a named pipe: a run cannot end until the test feeds it.

    Returns the card, the pipe and the image bytes to write into it.
    """
    card = write_mc_dataset(root, n=n, size=(32, 32))
    last = root / "images" / f"{n - 1}.png"
    data = last.read_bytes()
    last.unlink()
    os.mkfifo(last)
    return card, last, data


def feed(pipe: Path, data: bytes) -> threading.Thread:
    """Write the image into the pipe once a run opens it (in a thread: opening waits for it)."""

    def write() -> None:
        with pipe.open("wb") as fh:
            fh.write(data)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def _args(card: Path, out: Path) -> list[str]:
    return ["run", "--task", str(card), "--model", "scripted", "--output-dir", str(out), "-q"]


def _start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ids(samples: Path) -> list[str]:
    return [json.loads(line)["sample_id"] for line in samples.read_text().splitlines()]


def test_a_second_process_is_refused_and_says_who_holds_the_run(tmp_path: Path) -> None:
    card, pipe, image = held_dataset(tmp_path / "d")
    out = tmp_path / "runs"
    first = _start(_args(card, out))
    samples = _samples_file(out, first)
    _wait_lines(samples, N - 1, first)  # it holds the run folder, waiting for the last image
    second = cli(*_args(card, out), check=False)
    assert second.returncode == 2, second.stderr
    (line,) = second.stderr.strip().splitlines()
    assert f"is being run by pid {first.pid} on {socket.gethostname()} since 20" in line
    assert "--wait" in line
    # --wait: it waits until the first process ends, then finds nothing left to do.
    waiting = _start([*_args(card, out), "--wait", "--json"])
    assert waiting.stderr is not None
    said = waiting.stderr.readline()
    assert f"waiting for pid {first.pid}" in said, said
    feed(pipe, image).join(timeout=120)
    assert first.wait(timeout=120) == 0
    stdout, _ = waiting.communicate(timeout=120)
    assert waiting.returncode == 0 and json.loads(stdout)["n"] == N
    ids = _ids(samples)
    assert len(ids) == N and len(set(ids)) == N  # each sample ran once
    spec = json.loads((samples.parent / "spec.json").read_text())
    assert len(spec["sessions"]) == 1  # the session of the first process, none lost


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    card, pipe, image = held_dataset(tmp_path / "d")
    out = tmp_path / "runs"
    first = _start(_args(card, out))
    samples = _samples_file(out, first)
    _wait_lines(samples, N - 1, first)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert json.loads((samples.parent / "run.lock").read_text())["pid"] == first.pid
    writer = feed(pipe, image)
    again = cli(*_args(card, out), "--json")
    writer.join(timeout=120)
    assert f"took over the lock of {samples.parent} from pid {first.pid}" in again.stderr
    assert json.loads(again.stdout)["complete"] is True
    assert sorted(set(_ids(samples))) == sorted(_ids(samples)) and len(_ids(samples)) == N
    assert (samples.parent / "run.lock").read_text() == ""  # released at the end


def _no_override() -> None:
    """As root, drop the capabilities that ignore file permissions, so a read-only folder is one.

    The bounding set applies to the program this child executes; the test process keeps its own.
    """
    if os.geteuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def cli_unprivileged(*args: str) -> subprocess.CompletedProcess[str]:
    """``python cli.py ARGS`` as a user for whom read-only means read-only."""
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_no_override,
        env={**os.environ, "COLUMNS": "200"},
    )


def _read_only(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)


def _writable(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)


def _one_error_line(res: subprocess.CompletedProcess[str], needle: str) -> None:
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in res.stderr, res.stderr


def test_read_only_folders_and_cache_files(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "d", n=6, size=(32, 32))
    archive = tmp_path / "archive"
    done = cli("run", "-t", str(card), "-m", "scripted", "--output-dir", str(archive), "--json")
    run_dir = archive / json.loads(done.stdout)["run_id"]
    partial = cli("run", "-t", str(card), "-m", "scripted:fail_rate=0.5", "--output-dir",
                  str(archive), "--json", check=False)  # fmt: skip
    partial_dir = archive / json.loads(partial.stdout)["run_id"]
    before = {p: p.read_bytes() for p in archive.rglob("*") if p.is_file()}
    _read_only(archive)
    try:
        # A finished run in a read-only archive reports; nothing is written.
        res = cli_unprivileged("run", "-t", str(card), "-m", "scripted", "--output-dir",
                               str(archive), "--json")  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["complete"] and json.loads(res.stdout)["n"] == 6
        shown = cli_unprivileged("show", str(run_dir))
        assert shown.returncode == 0 and "n=6/6" in shown.stdout
        # An unfinished one cannot be finished there: one line, its records untouched.
        res = cli_unprivileged("run", "--resume", str(partial_dir))
        _one_error_line(res, f"cannot write to the run folder {partial_dir}")
        # A new run cannot be created in a read-only folder.
        res = cli_unprivileged("run", "-t", str(card), "-m", "scripted:accuracy=0.5",
                               "--output-dir", str(archive))  # fmt: skip
        _one_error_line(res, "cannot write to the run folder")
        res = cli_unprivileged("run", "-t", str(card), "-m", "scripted", "--output-dir",
                               str(archive / "sub" / "runs"))  # fmt: skip
        _one_error_line(res, "choose a writable --output-dir")
        # A report into a read-only folder.
        res = cli_unprivileged("report", str(run_dir), "--out", str(archive / "rep"))
        _one_error_line(res, "choose a writable --out folder")
    finally:
        _writable(archive)
    assert {p: p.read_bytes() for p in archive.rglob("*") if p.is_file()} == before

    # An unwritable cache file stops the run before its folder is made.
    cache = tmp_path / "cache.sqlite"
    cli("run", "-t", str(card), "-m", "scripted", "--output-dir", str(tmp_path / "r1"),
        "--cache", "--cache-file", str(cache))  # fmt: skip
    cache.chmod(0o444)
    res = cli_unprivileged("run", "-t", str(card), "-m", "scripted:accuracy=0.5", "--output-dir",
                           str(tmp_path / "r2"), "--cache", "--cache-file", str(cache))  # fmt: skip
    _one_error_line(res, f"cannot use the cache file {cache}")
    assert not (tmp_path / "r2").exists()
