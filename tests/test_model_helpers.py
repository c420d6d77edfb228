"""Pure helpers of the torch backends: they run without the extras, so they are never skipped."""

from __future__ import annotations

from ps3_eval.models.hf import cap_pixels
from ps3_eval.records import Selection


def test_cap_pixels_keeps_the_aspect_ratio() -> None:
    assert cap_pixels((3840, 2160), None) == (3840, 2160)
    assert cap_pixels((3840, 2160), 4_000_000) == (2666, 1500)  # 3,999,000 pixels
    for size, cap in (((3840, 2160), 4_000_000), ((1000, 10), 999), ((7, 5000), 784)):
        w, h = cap_pixels(size, cap)
        assert w * h <= cap and abs(w / h - size[0] / size[1]) / (size[0] / size[1]) < 0.2


def test_recall_of_a_squashed_grid() -> None:
    import numpy as np

    mask = np.zeros((4, 8), dtype=bool)
    mask[1, 2:4] = True
    sel = Selection(
        mode="bottom_up", selected_patches=2, total_patches=32, grid=(4, 8), patch_px=10.0,
        patch_px_y=50.0, mask_runs=Selection.encode_mask(mask),
    )  # fmt: skip
    assert sel.recall_of([20, 50, 40, 100]) == 1.0  # columns 2-3 of row 1
    assert sel.recall_of([20, 50, 40, 150]) == 0.5  # rows 1-2
    square = sel.model_copy(update={"patch_px_y": None})
    assert square.recall_of([20, 10, 40, 20]) == 1.0  # row 1 when patches are 10 x 10
