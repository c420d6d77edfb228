"""ONNX Runtime's intra-op threads sleeping (ocr-reader's setting) against spinning, in one run.

    python perf/ocr_spin.py [--n 3] [--resolution 3780]

Reads probe4k images whole at ``--resolution`` with the engine's detector session and with a
spinning copy of it (same model, threads and options otherwise), taking turns image by image so
load from other tenants of a shared machine falls on both alike. Prints each one's CPU seconds
(user + system of this process) per image, the ratio sleeping / spinning, and whether the two
give the same text on every image.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ps3_eval import probe4k  # noqa: E402


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    """Run the comparison and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--resolution", type=int, default=3780)
    args = ap.parse_args()
    import onnxruntime as ort
    from PIL import Image

    from ps3_eval.models.ocr import OcrEngine

    engine = OcrEngine(threads=2)
    quiet = engine._det.infer.session
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    opts.enable_cpu_mem_arena = False
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1")
    spinning = ort.InferenceSession(
        quiet._model_path, sess_options=opts, providers=quiet.get_providers()
    )
    cpu = {"sleeping": 0.0, "spinning": 0.0}
    same = True
    with tempfile.TemporaryDirectory() as tmp:
        for item in probe4k.generate(args.n, seed=0, cache_dir=tmp):
            image = Image.open(item.image).convert("RGB")
            texts = {}
            for name, session in (("spinning", spinning), ("sleeping", quiet)):
                engine._det.infer.session = session
                c0 = _cpu()
                texts[name] = engine.read_full(image, args.resolution).text
                cpu[name] += _cpu() - c0
            same = same and texts["spinning"] == texts["sleeping"]
    print(f"images: {args.n} at {args.resolution} px (detector session swapped)")
    for name, seconds in cpu.items():
        print(f"{name}: {seconds / args.n:.2f} CPU s/image")
    print(f"ratio sleeping/spinning: {cpu['sleeping'] / cpu['spinning']:.2f}")
    print(f"same text on every image: {same}")


if __name__ == "__main__":
    main()
