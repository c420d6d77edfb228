"""Spine performance checks; each prints a ratio measured in this one run.

    python perf/spine.py [--images 200] [--big 20000] [--only decode,latency,scale,memory]

1. decode:  scripted model at zero latency over N generated 3840x2160 JPEGs, harness throughput
            over plain single-threaded Pillow decode of the same files (target >= 0.90).
2. latency: scripted latency 0.5 s, concurrency 32, 200 (and 256) text-only samples,
            throughput over the ideal 64 samples/s (target >= 0.90), and over the best possible
            in whole waves of 32 (ceil(n/32) * 0.5 s).
3. scale:   20,000 text-only samples; seconds per sample of the last tenth over the first tenth
            (target <= 1.10), then a resume of the finished run (cost of reading the records).
4. memory:  peak RSS of a run over 50 vs 200 4K images, in fresh processes (target ~1.0).
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

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ps3_eval import evaluate  # noqa: E402


def make_images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, size=(2160 // 8, 3840 // 8, 3), dtype=np.uint8)
    paths = []
    for i in range(n):
        p = folder / f"{i:04d}.jpg"
        if not p.exists():
            # Upsampled noise plus a per-image shift: photo-like JPEG sizes without 200 x 25 MB of
            # random bytes to generate.
            img = Image.fromarray(np.roll(base, i * 7, axis=1)).resize((3840, 2160), Image.BILINEAR)
            img.save(p, quality=90)
        paths.append(p)
    return paths


def write_card(folder: Path, rows: list[dict[str, object]], with_images: bool) -> Path:
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    card = folder / "card.yaml"
    card.write_text(
        "name: perf\nsource:\n  path: data.jsonl\nfields:\n  id: id\n"
        f"  image: {'image' if with_images else 'null'}\n  question: question\n"
        "  choices: options\n  answer: answer\n"
    )
    return card


def rows_for(n: int, images: list[Path] | None = None) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i in range(n):
        row: dict[str, object] = {
            "id": f"s{i:06d}",
            "question": f"question {i}",
            "options": ["a", "b", "c", "d"],
            "answer": "ABCD"[i % 4],
        }
        if images is not None:
            row["image"] = str(images[i % len(images)])
        rows.append(row)
    return rows


def check_decode(tmp: Path, n: int) -> None:
    paths = make_images(tmp / "img4k", n)
    card = write_card(tmp / "img4k", rows_for(n, paths), with_images=True)
    start = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            im.convert("RGB").load()
    plain = n / (time.perf_counter() - start)
    s = evaluate(str(card), "scripted", output_dir=tmp / "runs-decode", concurrency=8)
    harness = s.throughput or 0.0
    print(
        f"decode: {n} 4K JPEGs  plain Pillow {plain:.2f} img/s  harness {harness:.2f} img/s  "
        f"ratio {harness / plain:.3f}  (target >= 0.90)"
    )


def check_latency(tmp: Path) -> None:
    # 200 is the figure; 256 (8 whole waves of 32) shows the harness without the tail.
    for n in (200, 256):
        folder = tmp / f"text{n}"
        folder.mkdir(parents=True, exist_ok=True)
        card = write_card(folder, rows_for(n), with_images=False)
        s = evaluate(
            str(card),
            "scripted",
            model_args={"latency": 0.5},
            concurrency=32,
            output_dir=tmp / "runs-latency",
        )
        thr = s.throughput or 0.0
        bound = n / (np.ceil(n / 32) * 0.5)
        print(
            f"latency: {n} samples x 0.5 s at concurrency 32  {thr:.2f} samples/s  "
            f"ratio to 64/s {thr / 64:.3f} (target >= 0.90)  ratio to the whole-wave bound "
            f"{bound:.2f}/s {thr / bound:.3f}"
        )


def check_scale(tmp: Path, n: int) -> None:
    (tmp / "big").mkdir(parents=True, exist_ok=True)
    card = write_card(tmp / "big", rows_for(n), with_images=False)
    stamps: list[float] = []
    evaluate(
        str(card),
        "scripted",
        concurrency=8,
        output_dir=tmp / "runs-big",
        on_progress=lambda p: stamps.append(time.perf_counter()),
    )
    tenth = n // 10
    first = (stamps[tenth - 1] - stamps[0]) / (tenth - 1)
    last = (stamps[-1] - stamps[-tenth]) / (tenth - 1)
    print(
        f"scale: {n} text samples  first tenth {first * 1e3:.3f} ms/sample  last tenth "
        f"{last * 1e3:.3f} ms/sample  ratio {last / first:.3f} (target <= 1.10)"
    )
    start = time.perf_counter()
    s = evaluate(str(card), "scripted", concurrency=8, output_dir=tmp / "runs-big")
    print(f"scale: resuming the finished {s.n}-sample run took {time.perf_counter() - start:.2f} s")


def _peak_child(card: Path, out: Path) -> float:
    code = (
        f"import resource, sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from ps3_eval import evaluate\n"
        f"evaluate({str(card)!r}, 'scripted', output_dir={str(out)!r}, concurrency=8)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(res.stdout.strip().splitlines()[-1]) / 1024


def check_memory(tmp: Path, n: int) -> None:
    paths = make_images(tmp / "img4k", n)
    peaks = {}
    for k in (max(1, n // 4), n):
        folder = tmp / f"mem{k}"
        folder.mkdir(parents=True, exist_ok=True)
        card = write_card(folder, rows_for(k, paths), with_images=True)
        peaks[k] = _peak_child(card, tmp / f"runs-mem{k}")
    small, big = sorted(peaks)
    print(
        f"memory: peak RSS {peaks[small]:.0f} MiB for {small} 4K images, {peaks[big]:.0f} MiB "
        f"for {big}  ratio {peaks[big] / peaks[small]:.3f} (target ~1.0)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--big", type=int, default=20_000)
    ap.add_argument("--only", default="decode,latency,scale,memory")
    ap.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: temp)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as t:
        tmp = a.keep or Path(t)
        only = set(a.only.split(","))
        if "decode" in only:
            check_decode(tmp, a.images)
        if "latency" in only:
            check_latency(tmp)
        if "scale" in only:
            check_scale(tmp, a.big)
        if "memory" in only:
            check_memory(tmp, a.images)
    print(
        f"perf/spine.py peak RSS of this process: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
