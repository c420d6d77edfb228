"""Reports and frames over a large sweep; each figure is measured in this one run.

    python perf/report.py [--runs 50] [--samples 1000] [--keep DIR]

A sweep of RUNS scripted runs x SAMPLES samples (a generated multiple-choice set with images,
categories, MRR buckets and boxes) is written once; then each step runs in a fresh process, which
reports its wall time and the memory it added at its peak:

- load-all: every run's records read and held at once (``load_run`` per run): the floor on time
  for reading the records, and the memory a non-streaming report would need;
- runs_df:  one row per run (specs and summaries only);
- samples_df: one row per sample per run (runs read one at a time);
- report:   ``build_report`` over the sweep: HTML, Markdown, 7 figures (PNG too), a gallery.

Printed ratios: report time over load-all time (the cost above reading the records once), and
the memory the report adds at its peak over what load-all adds (target < 0.5: samples are
streamed, not held). Memory is resident memory sampled every 2 ms during the step, above what the
process held when the step began (its imports done).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_sweep(root: Path, runs: int, samples: int) -> Path:
    """A sweep spec over a generated task; its cells are run with the scripted model."""
    from PIL import Image

    data = root / "data"
    (data / "images").mkdir(parents=True)
    for i in range(8):
        Image.new("RGB", (640, 360), (30 * i, 90, 160)).save(data / "images" / f"{i}.png")
    rows = [
        {
            "id": f"q{i:05d}",
            "question": f"Which colour is panel {i}?",
            "options": ["red", "green", "blue", "grey"],
            "answer": "ABCD"[i % 4],
            "image": f"images/{i % 8}.png",
            "category": ["gaming", "ui", "household", "autonomous_vehicle"][i % 4],
            "mrr": ["1K", "2K", "4K"][i % 3],
            "bbox": [10, 10, 90, 60],
        }
        for i in range(samples)
    ]
    (data / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (data / "card.yaml").write_text(
        "name: big\nsource: {path: data.jsonl}\n"
        "fields: {id: id, image: image, question: question, choices: options, answer: answer,\n"
        "         category: category, mrr: mrr, bbox: bbox}\n"
    )
    accs = [round(0.25 + 0.75 * i / max(1, runs - 1), 4) for i in range(runs)]
    spec = root / "big.yaml"
    spec.write_text(
        f"name: big\ntasks: [data/card.yaml]\nmodel: scripted\noutput_dir: {root / 'runs'}\n"
        f"concurrency: 64\nzip:\n  accuracy: {accs}\n  latency: {[a / 1000 for a in accs]}\n"
    )
    return spec


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


class RssWatch:
    """The highest resident memory seen while the step runs, sampled every 2 ms.

    ``ru_maxrss`` cannot be used: importing pandas and plotly peaks higher than some steps do.
    """

    def __init__(self) -> None:
        import threading

        self.start_mb = self.peak_mb = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.002):
            self.peak_mb = max(self.peak_mb, _rss_mb())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, _rss_mb())
        return self.peak_mb - self.start_mb


def measure(step: str, spec: Path, out: Path) -> dict[str, float]:
    """Run one step in this process; wall seconds and the RSS it added at its peak, in MB."""
    import pandas  # noqa: F401  (imports are not the step's memory)
    import plotly.graph_objects  # noqa: F401
    from matplotlib.figure import Figure  # noqa: F401

    import ps3_eval.report  # noqa: F401

    runs = spec.parent / "runs"
    watch = RssWatch()
    start = time.perf_counter()
    if step == "load-all":
        from ps3_eval import load_run

        held = [load_run(d) for d in sorted(runs.iterdir())]
        assert sum(len(r.results) for r in held) > 0
    elif step == "runs_df":
        from ps3_eval import runs_df

        assert len(runs_df(runs)) > 0
    elif step == "samples_df":
        from ps3_eval import samples_df

        assert len(samples_df(runs)) > 0
    elif step == "report":
        from ps3_eval.report import build_report

        build_report(spec, out=out)
    else:
        raise SystemExit(f"unknown step {step}")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rss_mb": watch.stop()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--keep", type=Path, help="write the sweep here and keep it (reused if there)")
    ap.add_argument("--step", help=argparse.SUPPRESS)
    ap.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.step:
        print(json.dumps(measure(a.step, a.spec, a.spec.parent / "report")))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = a.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        from ps3_eval.sweep import run_sweep

        kept = root / "big.yaml"
        spec = kept if a.keep and kept.is_file() else make_sweep(root, a.runs, a.samples)
        t0 = time.perf_counter()
        cells = run_sweep(spec)
        assert all(c.status == "done" for c in cells), [c.error for c in cells]
        on_disk = sum(f.stat().st_size for f in (root / "runs").rglob("samples.jsonl"))
        print(
            f"sweep ready (written, or resumed with --keep): {a.runs} runs x {a.samples} "
            f"samples in {time.perf_counter() - t0:.0f} s; {on_disk / 1e6:.0f} MB of samples.jsonl"
        )
        got = {}
        for step in ("load-all", "runs_df", "samples_df", "report"):
            res = subprocess.run(
                [sys.executable, __file__, "--step", step, "--spec", str(spec)],
                capture_output=True,
                text=True,
                check=True,
            )
            got[step] = json.loads(res.stdout.strip().splitlines()[-1])
            sec, rss = got[step]["seconds"], got[step]["rss_mb"]
            print(f"{step:>10}: {sec:7.2f} s   memory added at its peak {rss:7.0f} MB")
        report, held = got["report"], got["load-all"]
        print(f"report time / reading every record once: {report['seconds'] / held['seconds']:.2f}")
        print(
            f"report memory / holding every record: "
            f"{report['rss_mb'] / held['rss_mb']:.2f} "
            f"({report['rss_mb']:.0f} MB vs {held['rss_mb']:.0f} MB; target < 0.5)"
        )


if __name__ == "__main__":
    main()
