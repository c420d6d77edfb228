"""Automatic MRR against the designed MRR on probe4k; prints the agreement measured in this run.

    python perf/mrr.py [--n 48] [--seed 0] [--model ocr-reader] [--output-dir DIR]

On probe4k the designed MRR is the truth (each detail's text height is set so that it becomes
legible at 756, 1512 or 3780 pixels), so running ``ps3-eval mrr auto probe4k --model ocr-reader``
measures the automatic method offline. Prints each rung's accuracy, the confusion of designed
against automatic MRR, the share of items where they agree (items the model misses even at the
top rung count as disagreements), Cohen's kappa (unweighted, linear, quadratic) and the time each
rung took. The issue asks for at least 80% agreement on 48 items with ocr-reader.

The rung runs go to a fresh temporary folder unless ``--output-dir`` names one (then a second
call replays the finished runs instead of reading again).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ps3_eval import probe4k  # noqa: E402
from ps3_eval.mrr import agreement, auto_mrr  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="ocr-reader")
    ap.add_argument("--output-dir", default=None)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(a.output_dir or tmp)
        started: dict[str, float] = {}
        took: dict[str, float] = {}

        def on_start(label: str, progress: object, run_dir: Path) -> None:
            if started:
                last = next(reversed(started))
                took.setdefault(last, time.perf_counter() - started[last])
            started[label] = time.perf_counter()

        t0 = time.perf_counter()
        probe4k.generate(a.n, seed=a.seed)  # the scenes first, so rung times are reading only
        print(f"probe4k scenes ready in {time.perf_counter() - t0:.0f} s")
        t0 = time.perf_counter()
        result = auto_mrr(
            "probe4k",
            a.model,
            task_args={"n": a.n, "seed": a.seed},
            output_dir=runs,
            on_start=on_start,
        )
        total = time.perf_counter() - t0
        if started:
            last = next(reversed(started))
            took.setdefault(last, time.perf_counter() - started[last])
    print(f"probe4k n={a.n} seed={a.seed}, model {a.model}, ladder {result.ladder.text()}")
    for (label, acc), secs in zip(result.accuracy.items(), took.values(), strict=False):
        shown = "-" if acc is None else f"{acc:.3f}"
        print(f"  rung {label}: {result.metric} {shown}  ({secs:.0f} s)")
    truth, auto = result.designed(), result.labels()
    ag = agreement(truth, auto, result.ladder.scale, ("designed", "auto"))
    used = [i for i, _ in enumerate(ag.labels)
            if any(ag.confusion[i]) or any(row[i] for row in ag.confusion)]  # fmt: skip
    print("confusion (rows: designed, columns: automatic):")
    print("          " + "".join(f"{ag.labels[j]:>8}" for j in used))
    for i in used:
        print(f"  {ag.labels[i]:>8}" + "".join(f"{ag.confusion[i][j]:>8}" for j in used))
    open_items = len(result.items) - len(auto)
    agree = sum(truth[k] == auto.get(k) for k in truth)
    print(
        f"agreement with the designed MRR: {agree}/{len(truth)} = {agree / len(truth):.1%} "
        f"(items beyond the top rung count as disagreements; {open_items} items incomplete)"
    )

    def k(x: float | None) -> str:
        return "undefined" if x is None else f"{x:.3f}"

    print(
        f"Cohen's kappa: {k(ag.kappa)} unweighted, {k(ag.kappa_linear)} linear, "
        f"{k(ag.kappa_quadratic)} quadratic"
    )
    print(f"wall time {total:.0f} s for {len(result.items)} items x {len(result.runs)} rungs")


if __name__ == "__main__":
    main()
