"""Offline-default timings; prints seconds per sample and ratios measured in this one run.

    python perf/offline.py [--n 24] [--seed 0]

- probe4k generation, cold (empty cache) and cached (manifest hit), seconds per item;
- ocr-reader on the same images in every demo configuration (756 / 1512 / 3780 whole image, and
  3780 with selection), seconds per image, visual tokens and accuracy (the task's own scorer);
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

from ps3_eval.demo import DEMO_CONFIGS  # noqa: E402
from ps3_eval.models import build_model  # noqa: E402
from ps3_eval.records import ImagePart, Sample  # noqa: E402
from ps3_eval.runner.images import decode  # noqa: E402
from ps3_eval.tasks import load_task, probe4k  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
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
        timings: dict[str, float] = {}
        accuracy: dict[str, float] = {}
        for label, cfg in DEMO_CONFIGS:
            model = build_model("ocr-reader", cfg)
            asyncio.run(model.generate(requests[0]))  # load the ONNX sessions outside the timing
            secs, tokens, right = [], [], 0.0
            for sample, request in zip(samples, requests, strict=True):
                start = time.perf_counter()
                out = asyncio.run(model.generate(request))
                secs.append(time.perf_counter() - start)
                tokens.append(out.usage.visual_tokens)
                right += task.score(out.text, sample).values["accuracy"]
            timings[label] = statistics.mean(secs)
            accuracy[label] = right / len(samples)
            print(
                f"reader {label:13s} {timings[label]:.3f} s/image (median "
                f"{statistics.median(secs):.3f})  visual tokens {statistics.mean(tokens):.0f}  "
                f"accuracy {accuracy[label]:.3f}",
                flush=True,
            )
        full = "full 3780"
        for label, cfg in DEMO_CONFIGS:
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
