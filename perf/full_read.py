"""The full-resolution read tiled and in one pass, and the demo from empty caches, in one run.

    python perf/full_read.py [--n 6] [--demo-n 24] [--no-demo]

- ocr-reader's engine reads probe4k images whole at 3780 px in tiles (the default: each tile's
  text-probability map stitched into one map, boxes found once) and in one detector pass,
  taking turns image by image so load from other tenants of a shared machine falls on both
  alike; it prints each one's median seconds per image, its peak memory above the process's
  resident size before the read (Linux: the high-water mark is reset before each read), the
  ratios tiled / one pass, and whether the two reads pick the same option on every image;
- and, first, ``ps3-eval demo`` runs in a child process with an empty data cache and fresh run
  and report folders; the script prints its wall time and the child's peak resident memory.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ps3_eval import probe4k  # noqa: E402
from ps3_eval.models.ocr import OcrEngine, match_option  # noqa: E402


def _status(field: str) -> float:
    """A memory field of /proc/self/status, in MB."""
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+)", text).group(1)) / 1024  # type: ignore[union-attr]


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def full_reads(n: int, seed: int) -> None:
    engines = {"tiled": OcrEngine(threads=2), "one pass": OcrEngine(threads=2, max_pixels=10**9)}
    secs: dict[str, list[float]] = {k: [] for k in engines}
    peak: dict[str, list[float]] = {k: [] for k in engines}
    answers: dict[str, list[int | None]] = {k: [] for k in engines}
    with tempfile.TemporaryDirectory() as tmp:
        items = probe4k.generate(n, seed=seed, cache_dir=Path(tmp))
        from PIL import Image

        for item in items:
            with Image.open(item.image) as im:
                image = im.convert("RGB")
            for label, engine in engines.items():
                before = _status("VmRSS")
                _reset_peak()
                start = time.perf_counter()
                result = engine.read_full(image, 3780)
                secs[label].append(time.perf_counter() - start)
                peak[label].append(_status("VmHWM") - before)
                answers[label].append(match_option(result.lines, list(item.choices))[0])
    for label in engines:
        print(
            f"full 3780 read, {label:8s}: {statistics.median(secs[label]):.2f} s/image (median of "
            f"{n}), peak memory +{max(peak[label]):.0f} MB over the process"
        )
    t = statistics.median(secs["tiled"]) / statistics.median(secs["one pass"])
    m = max(peak["tiled"]) / max(peak["one pass"])
    same = sum(a == b for a, b in zip(answers["tiled"], answers["one pass"], strict=True))
    print(f"tiled / one pass: time ratio {t:.2f}  peak memory ratio {m:.2f}", end="  ")
    print(f"same option picked on {same}/{n} images")


def demo(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PS3_EVAL_CACHE": str(Path(tmp) / "cache")}
        cmd = [
            sys.executable, "-c", "from ps3_eval.cli import main; main()", "demo", "--n", str(n),
            "--output-dir", str(Path(tmp) / "runs"), "--report-dir", str(Path(tmp) / "report"),
            "--quiet",
        ]  # fmt: skip
        load = os.getloadavg()[0]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=tmp, stdout=subprocess.DEVNULL)
        # The child's own high-water mark: ru_maxrss of children also counts this process's
        # resident size at the fork, which the reads above may have grown.
        status = Path(f"/proc/{proc.pid}/status")
        peak = 0.0
        while proc.poll() is None:
            try:
                found = re.search(r"VmHWM:\s+(\d+)", status.read_text())
            except OSError:
                break
            if found:
                peak = max(peak, int(found.group(1)) / 1024)
            time.sleep(0.2)
        code = proc.wait()
        wall = time.perf_counter() - start
    state = "" if code == 0 else f"  (exit code {code})"
    print(
        f"ps3-eval demo (n={n}, empty data cache): {wall:.0f} s wall, peak RSS {peak:.0f} MB"
        f"{state}  (load average before: {load:.1f})"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=6, help="probe4k images for the full-read comparison")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--demo-n", type=int, default=24)
    ap.add_argument("--no-demo", action="store_true")
    a = ap.parse_args()
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not a.no_demo:
        demo(a.demo_n)  # first, while this process is small
    full_reads(a.n, a.seed)


if __name__ == "__main__":
    main()
