"""The ``ps3`` backend on a tiny PS3 built from configs (random weights, loaded by path)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from ps3_eval import evaluate, load_run
from ps3_eval.errors import ModelError, UsageError

if not os.environ.get("CI"):
    pytest.importorskip("ps3", reason="needs the ps3 extra (ps3-torch)")

LOW = (378 // 14) ** 2  # the low-resolution grid: 27 x 27
GRIDS = [(54, 54), (108, 108)]  # 756 and 1512, squashed square
PER_PASS = [51, 204]  # max_select_num 256 split by pixels, 1:4


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_models import tiny_ps3

    return tiny_ps3(tmp_path_factory.mktemp("tiny-ps3"))


def _results(checkpoint: Path, out: Path, **args: Any) -> list[Any]:
    s = evaluate("probe4k", "ps3", model_args={"model": str(checkpoint), **args},
                 task_args={"n": 3}, output_dir=out)  # fmt: skip
    return load_run(out / s.run_id).results


@pytest.mark.parametrize(
    ("args", "selected"),
    [
        ({"num_token_look_close": 0}, [0, 0]),
        ({"num_token_look_close": 100}, [20, 80]),
        ({"num_token_look_close": 300}, [60, 240]),
        ({"num_look_close": 2}, [2 * PER_PASS[0], 2 * PER_PASS[1]]),
        ({"num_look_close": 2, "num_token_look_close": 100}, [20, 80]),  # tokens win
        ({"num_look_close": "all"}, [h * w for h, w in GRIDS]),
    ],
)
def test_token_counts_follow_the_controls(
    checkpoint: Path, tmp_path: Path, args: dict[str, Any], selected: list[int]
) -> None:
    for r in _results(checkpoint, tmp_path, **args):
        assert r.error is None
        o = r.output
        assert o.extra["selected_per_scale"] == selected
        assert o.extra["grid_per_scale"] == [list(g) for g in GRIDS]
        assert o.usage.visual_tokens == LOW + sum(selected)  # low-res grid + selected patches
        assert o.extra["llm_tokens"] == sum(selected) // 4
        total = sum(h * w for h, w in GRIDS)
        sel = o.selection
        assert sel is not None and sel.total_patches == total
        assert sel.selected_patches == sum(selected)
        assert o.extra["selection_ratio"] == pytest.approx(sum(selected) / total)
        assert sel.mode == ("full" if sum(selected) == total else "bottom_up")
        mask = sel.mask()
        assert mask is not None and mask.shape == GRIDS[-1]
        assert int(mask.sum()) == selected[-1]  # the 1512 scale's own selection
        assert o.timing.vision_encoder is not None and o.timing.vision_encoder > 0
        # the runner's box recall, from the squashed grid back to the 3840x2160 image
        assert r.bbox is not None and sel.recall == pytest.approx(_recall(mask, r.bbox))
        if sel.mode == "full":
            assert sel.recall == 1.0


def _recall(mask: Any, box: list[float]) -> float:
    import math

    px, py = 3840 / 108, 2160 / 108
    c0, r0 = int(box[0] / px), int(box[1] / py)
    c1, r1 = max(c0 + 1, math.ceil(box[2] / px)), max(r0 + 1, math.ceil(box[3] / py))
    return float(mask[r0:r1, c0:c1].mean())


def test_float16_on_a_gpu_and_float32_on_the_cpu_by_default(checkpoint: Path) -> None:
    from ps3_eval.models import build_model
    from ps3_eval.models.ps3_encoder import default_dtype

    assert default_dtype("cuda:0") == "float16" and default_dtype("cpu") == "float32"
    model = build_model("ps3", {"model": str(checkpoint), "device": "cpu"})
    assert {p.dtype for p in model.vision.parameters()} == {model.torch.float32}
    # the identity holds the dtype that ran, so a GPU run and a CPU run stay apart
    assert model.args_dict()["dtype"] == "float32"
    explicit = build_model("ps3", {"model": str(checkpoint), "device": "cpu", "dtype": "float32"})
    assert model.fingerprint() == explicit.fingerprint()


def test_top_down_follows_the_question(checkpoint: Path, tmp_path: Path) -> None:
    bottom = _results(checkpoint, tmp_path / "b", num_token_look_close=300)
    top = _results(checkpoint, tmp_path / "t", num_token_look_close=300,
                   look_close_mode="after_prompt", maps_dir=str(tmp_path / "maps"))  # fmt: skip
    assert {r.output.selection.mode for r in top} == {"top_down"}
    assert [r.output.extra["selected_per_scale"] for r in top] == [[60, 240]] * 3
    # the same budget goes to other patches when the question steers it
    assert any(
        t.output.selection.mask_runs != b.output.selection.mask_runs
        for t, b in zip(top, bottom, strict=True)
    )
    from PIL import Image

    for r in top:  # one overlay per high-res scale, over the image
        assert [Path(p).name.rsplit("_", 1)[1] for p in r.output.extra["maps"]] == [
            "756.png",
            "1512.png",
        ]
        with Image.open(r.output.extra["maps"][0]) as im:
            assert im.size == (1024, 576)


def test_two_backends_keep_their_own_settings(checkpoint: Path) -> None:
    from PIL import Image

    from ps3_eval.models import build_model
    from ps3_eval.records import ImagePart, Message, Request, TextPart

    a = build_model("ps3", {"model": str(checkpoint), "select_num_each_scale": "10+30",
                            "num_look_close": 1})  # fmt: skip
    b = build_model("ps3", {"model": str(checkpoint), "num_token_look_close": 100})
    image = Image.new("RGB", (640, 480), (40, 90, 200))
    part = ImagePart(image=image, width=640, height=480, digest="d")
    req = Request(sample_id="x", messages=[Message(content=[part, TextPart(text="where?")])])

    async def go() -> list[list[int]]:
        outs = []
        for model in (a, b, a, b):  # interleaved in one process
            outs.append((await model.generate(req)).extra["selected_per_scale"])
        return outs

    assert asyncio.run(go()) == [[10, 30], [20, 80], [10, 30], [20, 80]]
    with pytest.raises(UsageError, match="gives 3 numbers; this PS3 has 2 high-res scales"):
        build_model("ps3", {"model": str(checkpoint), "select_num_each_scale": "1+2+3"})
    # 256 = one pass of 255 and one of a single patch, which ps3-torch cannot split over scales
    odd = build_model("ps3", {"model": str(checkpoint), "num_token_look_close": 256})
    with pytest.raises(ModelError, match=r"last pass of 256 mod 255 patches is too few"):
        asyncio.run(odd.generate(req))


def test_encoder_study_from_the_cli(checkpoint: Path, tmp_path: Path) -> None:
    import csv
    import subprocess
    import sys

    from tests.test_cli import ROOT

    # the tiny ViT lives in this process's timm registry: register it, then run the CLI
    boot = "import sys; from tests.tiny_models import register_tiny_vit; register_tiny_vit(); " \
           "from ps3_eval.cli import main; sys.argv[0] = 'ps3-eval'; main()"  # fmt: skip
    res = subprocess.run(
        [sys.executable, "-c", boot, "encoder-study", "-m", f"ps3:model={checkpoint}",
         "--budgets", "0,100,all", "--modes", "after_image,after_prompt", "--task-arg", "n=2",
         "--output-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "study"), "-q"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader((tmp_path / "study" / "encoder_study.csv").open()))
    assert [(r["mode"], r["selector"], r["budget"]) for r in rows] == [
        (m, s, b)
        for m, s in (("bottom-up", "PS3 saliency"), ("top-down", "PS3 text tower on the prompt"))
        for b in ("0", "100", "all")
    ]
    full = sum(h * w for h, w in GRIDS)
    for r in rows:
        selected = {"0": 0, "100": 100, "all": full}[r["budget"]]
        assert float(r["selected"]) == selected and float(r["tokens"]) == LOW + selected
        assert float(r["ratio"]) == pytest.approx(selected / full)
        assert r["n"] == "2" and r["errors"] == "0" and float(r["encoder_s"]) > 0
        if r["budget"] == "all":
            assert float(r["recall"]) == 1.0
        if r["budget"] == "0":
            assert float(r["recall"]) == 0.0
    assert "| top-down | PS3 text tower on the prompt | all |" in res.stdout
    for name in ("encoder_latency.html", "encoder_latency.png", "recall.png"):
        assert (tmp_path / "study" / name).is_file()
    bad = subprocess.run(
        [sys.executable, "-c", boot, "encoder-study", "-m", "ocr-reader", "--budgets", "0"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "encoder-study runs the ps3 or vila-hd backend" in bad.stderr
