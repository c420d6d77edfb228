"""Offline-default timings; prints seconds per sample and ratios measured in this one run.

    python perf/offline.py [--n 12]

- probe4k generation, cold (empty cache) and cached (manifest hit), seconds per item;
- ocr-reader on the same images at 756 / 1512 / 3780 (whole image) and 3780 with selection
  (select=0.10 and 0.25), seconds per image and visual tokens;
- the latency ratio of selective to full reading at 3780 (lower is better).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ps3_eval.models.ocr_engine import OcrEngine  # noqa: E402
from ps3_eval.tasks import probe4k  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=12)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        items = probe4k.generate(a.n, seed=123, cache_dir=Path(tmp))
        cold = (time.perf_counter() - t0) / a.n
        t0 = time.perf_counter()
        probe4k.generate(a.n, seed=123, cache_dir=Path(tmp))
        cached = (time.perf_counter() - t0) / a.n
        print(
            f"generation: cold {cold:.3f} s/item  cached {cached * 1e3:.2f} ms/item  "
            f"speed-up {cold / cached:.0f}x  (n={a.n})"
        )
        images = [Image.open(it.image).convert("RGB") for it in items]
        engine = OcrEngine(threads=2)
        engine.read_full(images[0], 756)  # load the ONNX sessions outside the timings
        timings: dict[str, float] = {}
        configs: list[tuple[str, dict[str, float]]] = [
            ("full 756", {"resolution": 756}),
            ("full 1512", {"resolution": 1512}),
            ("full 3780", {"resolution": 3780}),
            ("sel 10% 3780", {"resolution": 3780, "select": 0.10}),
            ("sel 25% 3780", {"resolution": 3780, "select": 0.25}),
        ]
        for label, cfg in configs:
            secs, tokens = [], []
            for img, item in zip(images, items, strict=True):
                start = time.perf_counter()
                if "select" in cfg:
                    res = engine.read_selective(
                        img,
                        int(cfg["resolution"]),
                        select=cfg["select"],
                        mode="top_down",
                        queries=list(item.choices),
                    )
                else:
                    res = engine.read_full(img, int(cfg["resolution"]))
                secs.append(time.perf_counter() - start)
                tokens.append(res.patches)
            timings[label] = statistics.mean(secs)
            print(
                f"reader {label:13s} {timings[label]:.3f} s/image (median "
                f"{statistics.median(secs):.3f})  visual tokens {statistics.mean(tokens):.0f}"
            )
        for label in ("sel 10% 3780", "sel 25% 3780"):
            print(f"latency ratio {label} / full 3780: {timings[label] / timings['full 3780']:.3f}")


if __name__ == "__main__":
    main()
