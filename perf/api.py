"""API backend throughput and memory against a local server that answers in 0.5 s.

    python perf/api.py [--n 200] [--concurrency 32] [--delay 0.5]

Prints, for each image policy, the time to prepare one 3840x2160 probe4k payload and the bytes per
request; the rate at which this machine prepares payloads with all its cores; the run's throughput
(openai backend, real SDK, ``concurrency`` calls in flight) beside the target of 90% of the lesser
of that rate and the ideal ``concurrency / delay``; and the run's peak memory (target < 300 MB).
The server and the run are separate processes, so each one's memory is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _child(url: str, n: int, concurrency: int, out: str) -> None:
    from ps3_eval.runner import evaluate

    os.environ.setdefault("OPENAI_API_KEY", "sk-perf-not-a-real-key")
    start = time.perf_counter()
    summary = evaluate("probe4k", "openai", model_args={"model": "gpt-4o", "base_url": url + "/v1"},
                       task_args={"n": n}, concurrency=concurrency, output_dir=out)  # fmt: skip
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": summary.n, "errors": summary.n_errors, "wall": wall,
                      "throughput": summary.throughput, "peak_mb": peak_mb}))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.5)
    ap.add_argument("--child", nargs=3, metavar=("URL", "CONCURRENCY", "OUT"))
    a = ap.parse_args()
    if a.child:
        _child(a.child[0], a.n, int(a.child[1]), a.child[2])
        return

    from ps3_eval.models.api.payload import ImagePolicy, prepare_all
    from ps3_eval.models.api.vision import RULES, openai_rule
    from ps3_eval.records import ImagePart, ImageSource
    from ps3_eval.runner.pipeline import encoded_part
    from ps3_eval.tasks import probe4k

    t = time.perf_counter()
    items = probe4k.generate(a.n, seed=0)
    print(
        f"probe4k: {a.n} scenes ready in {time.perf_counter() - t:.1f} s (cached after a first run)"
    )

    def part(path: Path) -> ImagePart:
        return encoded_part(ImageSource(path=str(path)))

    sample = [Path(i.image) for i in items[:24]]
    policies = {
        "gpt-4o, shrink to what it sees (default)": (openai_rule("gpt-4o"), ImagePolicy()),
        "gpt-4o, lossless png": (openai_rule("gpt-4o"), ImagePolicy(image_format="png")),
        "gpt-4o, whole + 9 tiles": (openai_rule("gpt-4o"), ImagePolicy(tiles=9)),
        "claude, shrink to what it sees": (RULES["anthropic"], ImagePolicy()),
        "server that resizes nothing": (RULES["none"], ImagePolicy(resize="none")),
    }
    for label, (rule, policy) in policies.items():
        sizes, times = [], []
        for path in sample:
            t = time.perf_counter()
            out = prepare_all([part(path)], rule, policy)
            times.append(time.perf_counter() - t)
            sizes.append(sum(len(p.data) for p in out))
        print(f"{label}: {1000 * sum(times) / len(times):.0f} ms per 4K image, "
              f"{sum(sizes) / len(sizes) / 1e6:.2f} MB per request")  # fmt: skip

    cores = os.cpu_count() or 1
    rule, policy = policies["gpt-4o, shrink to what it sees (default)"]
    paths = [Path(i.image) for i in items[:48]]

    def prep_rate() -> float:
        t = time.perf_counter()
        with ThreadPoolExecutor(cores) as pool:
            list(pool.map(lambda p: prepare_all([part(p)], rule, policy), paths))
        return len(paths) / (time.perf_counter() - t)

    # Measured before and after the run (this machine is shared): the mean is the reference.
    before = prep_rate()

    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fake_api.py"), "--delay", str(a.delay)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        import tempfile

        with tempfile.TemporaryDirectory() as out:
            res = subprocess.run(
                [sys.executable, __file__, "--n", str(a.n), "--child", url, str(a.concurrency),
                 out], capture_output=True, text=True, check=True,
            )  # fmt: skip
        got = json.loads(res.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait()
    after = prep_rate()
    rate = (before + after) / 2
    ideal = a.concurrency / a.delay
    print(f"payload preparation on {cores} cores: {rate:.1f} images/s (before the run "
          f"{before:.1f}, after {after:.1f}); ideal with {a.concurrency} in flight at {a.delay} s: "
          f"{ideal:.0f}/s")  # fmt: skip
    target = 0.9 * min(ideal, rate)
    print(f"run: {got['n']} answered, {got['errors']} errors in {got['wall']:.1f} s; throughput "
          f"{got['throughput']:.1f} samples/s; ratio to the lesser of ideal and preparation "
          f"{got['throughput'] / min(ideal, rate):.2f} (target >= 0.90, i.e. "
          f">= {target:.1f}/s)")  # fmt: skip
    print(f"peak memory of the run: {got['peak_mb']:.0f} MB (target < 300 MB)")


if __name__ == "__main__":
    main()
