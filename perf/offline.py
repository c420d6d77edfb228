"""Offline-default timings; prints seconds per sample and ratios measured in this one run.

    python perf/offline.py [--n 12]

- probe4k generation, cold (empty cache) and cached (manifest hit), seconds per item;
- ocr-reader on the same images at 756 / 1512 / 3780 (whole image) and 3780 with selection
  (select=0.10 and 0.25), seconds per image and visual tokens;
- the latency ratio of selective to full reading at 3780 (lower is better).
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
    ap.add_argument("--n", type=int, default=12)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        probe4k.generate(a.n, seed=123, cache_dir=Path(tmp))
        cold = (time.perf_counter() - t0) / a.n
        t0 = time.perf_counter()
        probe4k.generate(a.n, seed=123, cache_dir=Path(tmp))
        cached = (time.perf_counter() - t0) / a.n
        print(
            f"generation: cold {cold:.3f} s/item  cached {cached * 1e3:.2f} ms/item  "
            f"speed-up {cold / cached:.0f}x  (n={a.n})"
        )
        # Time the backend the demo uses, on requests built by the probe4k task.
        task = load_task("probe4k", data=str(next(Path(tmp).glob("probe4k-*/manifest.jsonl"))))
        requests = []
        for sample in task.samples():
            assert isinstance(sample, Sample)
            img, digest = decode(sample.images[0])
            part = ImagePart(image=img, width=img.width, height=img.height, digest=digest)
            requests.append(task.build_request(sample, [part]))
        timings: dict[str, float] = {}
        for label, cfg in DEMO_CONFIGS:
            model = build_model("ocr-reader", cfg)
            asyncio.run(model.generate(requests[0]))  # load the ONNX sessions outside the timing
            secs, tokens = [], []
            for request in requests:
                start = time.perf_counter()
                out = asyncio.run(model.generate(request))
                secs.append(time.perf_counter() - start)
                tokens.append(out.usage.visual_tokens)
            timings[label] = statistics.mean(secs)
            print(
                f"reader {label:13s} {timings[label]:.3f} s/image (median "
                f"{statistics.median(secs):.3f})  visual tokens {statistics.mean(tokens):.0f}"
            )
        for label in ("sel 10% 3780", "sel 25% 3780"):
            print(f"latency ratio {label} / full 3780: {timings[label] / timings['full 3780']:.3f}")


if __name__ == "__main__":
    main()
