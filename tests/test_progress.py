"""Without a terminal, a run says how far it is at a steady interval."""

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import write_mc_dataset

ROOT = Path(__file__).resolve().parents[1]


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
