"""What only a GPU with the real checkpoints can decide, in one command and one table.

    python perf/gpu_check.py            # a GPU machine with VILA installed and the checkpoints
                                        # cached (HF_HUB_OFFLINE=1 works); about 8 min on an H100

Checks, each a row of the table printed at the end (the exit code is 1 when any row is not ok):

1. ``vila-hd`` against VILA's own path on 20 probe4k 4K frames with VILA-HD-4K at
   ``num_look_close=6`` (Table 1's 18% row): the same answers, word for word, as ``llava.load`` +
   VILA's ``configure_ps3_and_context_length`` (from ``NUM_LOOK_CLOSE=6``) + ``generate_content``
   with VILA's default generation config; float16 weights with the rotary ``inv_freq`` in
   float32; the stop tokens as eos ids; and the visual tokens fed to the LLM against Table 1's
   #Token, 4036.
2. The PS3 encoder's latency shape against Table 9's ViT column (1.5K: 50% and 25% of the
   patches against all of them; 4K: 20% against all), in float16 (the default on a GPU, as VILA
   runs it) and float32, where float16 must be the faster.
3. Qwen2-VL-7B's visual tokens for a 3840x2160 frame: the processor's own default (Table 1's
   Qwen2-VL row: up to 16,384 tokens) and with ``max_pixels=4000000``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

Row = tuple[str, str, str, bool]
"""(check, expected, measured, ok)."""


def qwen2_vl_tokens(width: int, height: int, max_pixels: int = 12_845_056) -> int:
    """Qwen2-VL's visual tokens for an image, by its processor's resize rule.

    ``smart_resize`` (transformers' Qwen2-VL image processor): each side rounded to a multiple
    of 28, shrunk by a common factor (sides floored to 28) when over ``max_pixels``; one token per
    28x28 (a 2x2 merge of 14-pixel patches).
    """
    h, w = round(height / 28) * 28, round(width / 28) * 28
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h, w = math.floor(height / beta / 28) * 28, math.floor(width / beta / 28) * 28
    return (h // 28) * (w // 28)


def _run(task: str, model: Any, out: Path, **kw: Any) -> Any:
    from ps3_eval import evaluate, load_run

    summary = evaluate(task, model, output_dir=out, **kw)
    return load_run(out / summary.run_id).results


def check_vila(ckpt: str, n: int, out: Path) -> list[Row]:
    import torch
    from PIL import Image

    from ps3_eval.models import build_model

    rows: list[Row] = []
    backend = build_model("vila-hd", {"model": ckpt, "num_look_close": 6})
    model = backend.model
    dtypes = {
        "llm": {p.dtype for p in model.llm.parameters()},
        "tower": {p.dtype for p in model.get_vision_tower().parameters()},
        "projector": {p.dtype for p in model.get_mm_projector().parameters()},
    }
    inv = model.llm.model.rotary_emb.inv_freq.dtype
    ok = all(d == {torch.float16} for d in dtypes.values()) and inv == torch.float32
    seen = ", ".join(f"{k} {'/'.join(sorted(map(str, v)))}" for k, v in dtypes.items())
    rows.append(("vila-hd dtypes", "fp16 weights, fp32 inv_freq", f"{seen}, inv_freq {inv}", ok))
    results = _run("probe4k", backend, out / "vila", task_args={"n": n})
    errors = [r.error for r in results if r.error]
    config = backend.generation_config(_request_like(results[0]))
    stops = list(model.tokenizer.stop_token_ids)
    rows.append(("vila-hd eos ids", f"tokenizer.stop_token_ids {stops}",
                 str(config.eos_token_id), config.eos_token_id == stops))  # fmt: skip
    tokens = sorted({r.output.usage.visual_tokens for r in results if not r.error})
    rows.append(("#Token at num_look_close=6", "4036 (Table 1, 4K 18%)", f"{tokens} "
                 f"(per-scale split {ps3_split(model)})", tokens == [4036]))  # fmt: skip

    # VILA's own path, as its scripts run it: llava.load, the controls from the environment
    import llava
    from llava import conversation as clib
    from llava.cli.infer import configure_ps3_and_context_length

    del backend, model
    torch.cuda.empty_cache()
    reference = llava.load(ckpt)
    os.environ["NUM_LOOK_CLOSE"] = "6"
    try:
        configure_ps3_and_context_length(reference)
    finally:
        os.environ.pop("NUM_LOOK_CLOSE")
    clib.default_conversation = clib.conv_templates["auto"].copy()
    same = 0
    for r in results:
        generation = reference.default_generation_config
        generation.update(max_new_tokens=16, do_sample=False)
        with Image.open(r.images[0].path) as im:
            answer = reference.generate_content([im.convert("RGB"), r.prompt or ""],
                                                generation_config=generation)  # fmt: skip
        same += answer == r.prediction
    n_all = len(results)
    measured = f"{same} the same, {len(errors)} errors"
    rows.append(("vila-hd answers vs llava.load", f"{n_all} of {n_all} the same", measured,
                 same == n_all and not errors))  # fmt: skip
    return rows


def ps3_split(model: Any) -> str:
    encoder = model.get_vision_tower().vision_tower.vision_model
    return "+".join(map(str, encoder.max_select_num_each_scale))


def _request_like(result: Any) -> Any:
    from ps3_eval.records import GenerationConfig, Message, Request, TextPart

    return Request(sample_id=result.sample_id, generation=GenerationConfig(max_tokens=16),
                   messages=[Message(content=[TextPart(text=result.prompt or "")])])  # fmt: skip


def encoder_seconds(ckpt: str, budget: Any, dtype: str, n: int, out: Path) -> float:
    results = _run("probe4k", "ps3", out / f"ps3-{dtype}-{budget}",
                   model_args={"model": ckpt, "num_token_look_close": budget, "dtype": dtype},
                   task_args={"n": n})  # fmt: skip
    times = [r.output.timing.vision_encoder for r in results if r.error is None]
    if len(times) != len(results):
        raise RuntimeError(f"PS3 {ckpt} at {budget} in {dtype}: {results[0].error}")
    return statistics.median(t for t in times if t is not None)


def check_ps3(ckpt15: str, ckpt4k: str, n: int, out: Path) -> list[Row]:
    from ps3_eval.paper import load_table

    t9 = load_table("table9")
    rows: list[Row] = []
    for ckpt, res, total, fractions in ((ckpt15, 1512, 14580, (0.5, 0.25)),
                                        (ckpt4k, 3780, 87480, (0.2,))):  # fmt: skip
        full = t9.value("Full", "vit_latency", res=res, select=1.0)
        seconds: dict[str, dict[float, float]] = {}
        for dtype in ("float16", "float32"):
            seconds[dtype] = {1.0: encoder_seconds(ckpt, "all", dtype, n, out)}
            for f in fractions:
                seconds[dtype][f] = encoder_seconds(ckpt, int(total * f), dtype, n, out)
        for f in fractions:
            paper = t9.value("PS3", "vit_latency", res=res, select=f) / full
            got = seconds["float16"][f] / seconds["float16"][1.0]
            rows.append((f"PS3 {res} ViT latency {f:.0%}/100% (fp16)", f"{paper:.2f} +- 0.15",
                         f"{got:.2f} ({seconds['float16'][f]:.3f}s / "
                         f"{seconds['float16'][1.0]:.3f}s)", abs(got - paper) <= 0.15))  # fmt: skip
        fp16, fp32 = seconds["float16"][1.0], seconds["float32"][1.0]
        rows.append((f"PS3 {res} all patches fp16 vs fp32", "fp16 faster",
                     f"{fp16:.3f}s vs {fp32:.3f}s (paper fp16: {full}s)", fp16 < fp32))  # fmt: skip
    return rows


def check_qwen(ckpt: str, out: Path) -> list[Row]:
    rows: list[Row] = []
    for max_pixels in (None, 4_000_000):
        args: dict[str, Any] = {"model": ckpt, "dtype": "bfloat16"}
        if max_pixels:
            args["max_pixels"] = max_pixels
        results = _run("probe4k", "hf", out / f"qwen-{max_pixels}", model_args=args,
                       task_args={"n": 2}, max_tokens=1)  # fmt: skip
        expected = qwen2_vl_tokens(3840, 2160, max_pixels or 12_845_056)
        got = sorted({r.output.usage.visual_tokens for r in results if r.error is None})
        label = f"max_pixels={max_pixels}" if max_pixels else "processor default"
        rows.append(
            (f"Qwen2-VL visual tokens, {label}", str(expected), str(got), got == [expected])
        )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--vila-4k", default="nvidia/VILA-HD-8B-PS3-4K-SigLIP")
    ap.add_argument("--ps3-15k", default="nvidia/PS3-1.5K-SigLIP")
    ap.add_argument("--ps3-4k", default="nvidia/PS3-4K-SigLIP")
    ap.add_argument("--qwen", default="Qwen/Qwen2-VL-7B-Instruct")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--out", help="keep the runs here (default: a temporary folder)")
    a = ap.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("gpu_check: no GPU here; it decides what only a GPU can (see its docstring).")
        return 2
    tmp = tempfile.TemporaryDirectory()
    out = Path(a.out or tmp.name)
    rows: list[Row] = []
    start = time.perf_counter()
    for name, check in (
        ("vila-hd", lambda: check_vila(a.vila_4k, a.frames, out)),
        ("ps3", lambda: check_ps3(a.ps3_15k, a.ps3_4k, a.frames, out)),
        ("qwen2-vl", lambda: check_qwen(a.qwen, out)),
    ):
        try:
            rows += check()
        except Exception as exc:  # a missing checkpoint or package is a failed check, not a crash
            rows.append(
                (f"{name} (did not run)", "runs", f"{type(exc).__name__}: {exc}"[:160], False)
            )
        torch.cuda.empty_cache()
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    print(f"gpu_check on {torch.cuda.get_device_name(0)}, {time.perf_counter() - start:.0f} s")
    header = ("check", "expected", "measured")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "  ok")
    for r in rows:
        cells = "  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True))
        print(f"{cells}  {'ok' if r[3] else 'MISMATCH'}")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
