"""Offline-default timings; prints seconds per sample and ratios measured in this one run.

    python perf/offline.py [--n 24] [--seed 0] [--budgets 0.125]

- probe4k generation, cold (empty cache) and cached (manifest hit), seconds per item;
- ocr-reader on the same images in every demo configuration (756 / 1512 / 3780 whole image, and
  3780 with selection), taking turns image by image, seconds per image, visual tokens and
  accuracy (the task's own scorer);
- ``--budgets`` adds selective configurations at 3780 beyond the demo's (fractions of patches);
- for each selective configuration, its latency and accuracy as ratios of the full 3780 read
  (PS3's claim: selection keeps most of the accuracy at a fraction of the cost; the target is
  accuracy >= 0.90 at latency <= 0.50).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ps3_eval import probe4k  # noqa: E402
from ps3_eval.demo import demo_spec  # noqa: E402
from ps3_eval.images import decode  # noqa: E402
from ps3_eval.models import build_model  # noqa: E402
from ps3_eval.records import ImagePart, Sample  # noqa: E402
from ps3_eval.sweep import cells  # noqa: E402
from ps3_eval.tasks import load_task  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budgets", default="", help="extra selection budgets at 3780, e.g. 0.125,0.2")
    a = ap.parse_args()
    configs = [(c.label, c.varied) for c in cells(demo_spec())]
    for budget in filter(None, a.budgets.split(",")):
        configs.append(
            (f"sel {float(budget):.1%} 3780", {"resolution": 3780, "select": float(budget)})
        )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        probe4k.generate(a.n, seed=a.seed, cache_dir=Path(tmp))
        cold = (time.perf_counter() - t0) / a.n
        t0 = time.perf_counter()
        probe4k.generate(a.n, seed=a.seed, cache_dir=Path(tmp))
        cached = (time.perf_counter() - t0) / a.n
        print(
            f"generation: cold {cold:.3f} s/item  cached {cached * 1e3:.2f} ms/item  "
            f"speed-up {cold / cached:.0f}x  (n={a.n})"
        )
        # Time the backend the demo uses, on requests built by the probe4k task.
        task = load_task("probe4k", data=str(next(Path(tmp).glob("probe4k-*/manifest.jsonl"))))
        samples, requests = [], []
        for sample in task.samples():
            assert isinstance(sample, Sample)
            img, digest = decode(sample.images[0])
            part = ImagePart(image=img, width=img.width, height=img.height, digest=digest)
            samples.append(sample)
            requests.append(task.build_request(sample, [part]))
        # Configurations take turns on each image (one model each, warmed up first), so load
        # from other tenants of this shared machine falls on all of them alike and the ratios
        # below compare like with like.
        models = {label: build_model("ocr-reader", cfg) for label, cfg in configs}
        for model in models.values():
            asyncio.run(model.generate(requests[0]))
        secs: dict[str, list[float]] = {label: [] for label in models}
        tokens: dict[str, list[int]] = {label: [] for label in models}
        right = dict.fromkeys(models, 0.0)
        for sample, request in zip(samples, requests, strict=True):
            for label, model in models.items():
                start = time.perf_counter()
                out = asyncio.run(model.generate(request))
                secs[label].append(time.perf_counter() - start)
                tokens[label].append(out.usage.visual_tokens or 0)
                right[label] += task.score(out.text, sample).values["accuracy"]
        timings = {label: statistics.mean(v) for label, v in secs.items()}
        accuracy = {label: right[label] / len(samples) for label in models}
        for label in models:
            print(
                f"reader {label:13s} {timings[label]:.3f} s/image (median "
                f"{statistics.median(secs[label]):.3f})  visual tokens "
                f"{statistics.mean(tokens[label]):.0f}  accuracy {accuracy[label]:.3f}",
                flush=True,
            )
        full = "full 3780"
        for label, cfg in configs:
            if cfg.get("select") is None:
                continue
            lat = timings[label] / timings[full]
            acc = accuracy[label] / accuracy[full] if accuracy[full] else float("nan")
            verdict = "meets" if acc >= 0.90 and lat <= 0.50 else "misses"
            print(
                f"{label} / {full}: latency ratio {lat:.3f}  accuracy ratio {acc:.3f}  "
                f"({verdict} the target: accuracy >= 0.90 at latency <= 0.50)"
            )


if __name__ == "__main__":
    main()
