"""Without a terminal, a run says how far it is at a steady interval."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import write_mc_dataset

ROOT = Path(__file__).resolve().parents[1]


def test_plain_progress_lines_arrive_while_the_run_goes_on(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "d", n=24)
    env = {**os.environ, "PS3_EVAL_PROGRESS_INTERVAL": "0.3"}
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "cli.py"),
            "run",
            "--task",
            str(card),
            "--model",
            "scripted:latency=0.1",
            "--concurrency",
            "1",
            "--output-dir",
            str(tmp_path / "runs"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,  # not a terminal, as under nohup, in CI or with 2>log
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    arrivals: list[tuple[float, str]] = []
    for line in proc.stderr:
        arrivals.append((time.monotonic(), line.rstrip()))
    ended = time.monotonic()
    assert proc.wait(timeout=60) == 0
    lines = [text for _, text in arrivals]
    assert re.search(r": started, 24 samples$", lines[0])
    counts = [int(m.group(1)) for text in lines if (m := re.search(r": (\d+)/24 \(", text))]
    assert counts == sorted(counts) and counts[-1] == 24  # rising, and the last line is the end
    during = [t for t, text in arrivals if re.search(r": (\d+)/24 \(", text)]
    assert sum(ended - t > 0.25 for t in during) >= 3  # several lines came well before the end
    assert any("s/sample  ETA" in text and "accuracy=" in text for text in lines)


def test_quiet_and_a_bad_interval(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "d", n=4)
    base = [
        sys.executable,
        str(ROOT / "cli.py"),
        "run",
        "--task",
        str(card),
        "--model",
        "scripted",
        "--output-dir",
        str(tmp_path / "runs"),
    ]
    quiet = subprocess.run([*base, "-q"], capture_output=True, text=True, timeout=60)
    assert quiet.returncode == 0 and quiet.stderr == ""
    env = {**os.environ, "PS3_EVAL_PROGRESS_INTERVAL": "soon"}
    bad = subprocess.run(base, capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode == 2
    assert "PS3_EVAL_PROGRESS_INTERVAL='soon' must be a positive number" in bad.stderr
