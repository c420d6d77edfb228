"""The demo's two selection budgets with the low-resolution pass reused, and recomputed, in one run.

    python perf/selection_reuse.py [--n 6]

Each probe4k image is read at 3780 px with 10% and then 15% of the patches selected (as the
demo's last two cells read it), by an engine that reuses low-resolution passes and by one that
runs each (``reuse_low_pass=False``), taking turns image by image so load from other tenants
of a shared machine falls on both alike. It prints the median wall seconds per image of the two
readings for each engine, their ratio, and whether both engines read the same lines and select
the same patches on every image.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ps3_eval import probe4k  # noqa: E402
from ps3_eval.models.ocr import OcrEngine, ReadResult, question_anchors  # noqa: E402


def _view(result: ReadResult) -> tuple[object, ...]:
    mask = result.selected_mask
    return tuple((ln.text, ln.box) for ln in result.lines), None if mask is None else mask.tobytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    engines = {
        "reused": OcrEngine(threads=2),
        "recomputed": OcrEngine(threads=2, reuse_low_pass=False),
    }
    secs: dict[str, list[float]] = {k: [] for k in engines}
    views: dict[str, list[tuple[object, ...]]] = {k: [] for k in engines}
    with tempfile.TemporaryDirectory() as tmp:
        items = probe4k.generate(args.n, seed=args.seed, cache_dir=Path(tmp))
        from PIL import Image

        for item in items:
            with Image.open(item.image) as im:
                image = im.convert("RGB")
            for label, engine in engines.items():
                start = time.perf_counter()
                for select in (0.10, 0.15):
                    result = engine.read_selective(
                        image,
                        3780,
                        select=select,
                        mode="top_down",
                        queries=list(item.choices),
                        anchors=question_anchors(item.question),
                    )
                    views[label].append(_view(result))
                secs[label].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in secs.items()}
    for label in engines:
        print(f"{label:>10}: {med[label]:.2f} s per image (10% then 15%), n={args.n}")
    print(f"reused / recomputed: {med['reused'] / med['recomputed']:.2f}")
    same = views["reused"] == views["recomputed"]
    print(f"same lines and selections on every reading: {same}")


if __name__ == "__main__":
    main()
