"""PS3 encoder time against num_token_look_close, and against encoding the whole image.

    python perf/encoder.py                       # the tiny random PS3 on this CPU
    python perf/encoder.py --model nvidia/PS3-1.5K-SigLIP --device cuda   # a checkpoint, a GPU

Budgets take turns image by image (so a busy machine slows them alike), each timed around the
encoder's forward pass (CUDA-synchronised on a GPU). Printed per budget: patches selected, median
seconds per image, the ratio to whole-image encoding (num_look_close=all), and on a GPU the peak
memory. With a real 1.5K checkpoint on a GPU the ratios take the shape of the ViT latency column
of the paper's Table 9 (0.286 s at full, 0.167 s at 50%, 0.096 s at 25%); a budget that does not
fit in GPU memory is printed as OOM, as the full 3780 encoding is there.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="PS3 hub id or folder (default: the tiny random PS3)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--budgets", default="0,250,1000,2000,4000,all")
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()

    import numpy as np
    import torch
    from PIL import Image

    from ps3_eval.models import build_model
    from ps3_eval.records import ImagePart, Message, Request, TextPart

    tmp = tempfile.TemporaryDirectory()
    model_path = a.model
    if model_path is None:
        from tests.tiny_models import tiny_ps3

        model_path = str(tiny_ps3(Path(tmp.name) / "tiny-ps3"))
        print("model: tiny random PS3 (scales 378/756/1512, 2-layer ViT of width 32), CPU")
    budgets: list[Any] = [b if b == "all" else int(b) for b in a.budgets.split(",")]
    rng = np.random.default_rng(0)
    images = [
        Image.fromarray(rng.integers(0, 255, (2160, 3840, 3), dtype=np.uint8))
        for _ in range(a.images)
    ]
    models = {
        b: build_model(
            "ps3",
            {"model": model_path, "num_token_look_close": b, "device": a.device, "dtype": a.dtype},
        )
        for b in budgets
    }
    times: dict[Any, list[float]] = {b: [] for b in budgets}
    selected: dict[Any, int] = {}
    peak: dict[Any, float] = {}
    failed: set[Any] = set()
    for rep in range(a.repeats + 1):  # the first round warms up and is not counted
        for i, image in enumerate(images):
            part = ImagePart(image=image, width=image.width, height=image.height, digest=str(i))
            req = Request(sample_id=str(i), messages=[Message(content=[part, TextPart(text="q")])])
            for b in budgets:
                if b in failed:
                    continue
                try:
                    out = models[b].encode(req)  # type: ignore[attr-defined]
                except Exception as exc:
                    if "out of GPU memory" not in str(exc):
                        raise
                    failed.add(b)
                    continue
                if rep:
                    times[b].append(out.timing.vision_encoder or 0.0)
                selected[b] = out.selection.selected_patches
                if "peak_memory_mb" in out.extra:
                    peak[b] = max(peak.get(b, 0.0), out.extra["peak_memory_mb"])
    full = statistics.median(times["all"]) if times.get("all") else None
    print(f"{'budget':>8} {'selected':>9} {'s/image':>9} {'vs all':>7} {'peak MB':>8}")
    for b in budgets:
        if b in failed:
            print(f"{b!s:>8} {'OOM':>9}")
            continue
        med = statistics.median(times[b])
        ratio = f"{med / full:.2f}" if full else "-"
        mem = f"{peak[b]:.0f}" if b in peak else "-"
        print(f"{b!s:>8} {selected[b]:>9} {med:>9.4f} {ratio:>7} {mem:>8}")
    del torch
    tmp.cleanup()


if __name__ == "__main__":
    main()
