"""Pure helpers of the OCR reader's selective path: cell selection, rectangle merging, region
resizing and the question's anchors (no model)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ps3_eval.models.ocr import question_anchors
from ps3_eval.models.ocr.geometry import resized_region
from ps3_eval.models.ocr.selection import merge_rects, select_cells


def test_cells_are_taken_whole_and_exactly_k_patches_are_selected() -> None:
    scores = np.zeros((8, 16), dtype=np.float32)
    scores[0:4, 8:16] = 5.0  # best cell
    scores[4:8, 0:8] = 3.0  # second cell
    scores[4, 8] = 9.0  # one very good patch inside a poor cell
    mask = select_cells(scores, 40, (4, 8))
    assert int(mask.sum()) == 40
    assert mask[0:4, 8:16].all()  # 32 patches: the best cell whole
    # The last 8 patches are the best ones of the next cell, not a whole cell.
    assert int(mask[4:8, 0:8].sum()) == 8 and not mask[4:8, 8:16].any()


def test_cells_at_the_grid_edge_are_clipped() -> None:
    scores = np.zeros((5, 10), dtype=np.float32)
    scores[4, 8:10] = 1.0  # a partial cell at the corner
    mask = select_cells(scores, 2, (4, 8))
    assert mask.shape == (5, 10) and int(mask.sum()) == 2 and mask[4, 8:10].all()
    assert int(select_cells(scores, 50, (4, 8)).sum()) == 50


def test_rectangles_merge_only_without_waste() -> None:
    # Side by side: their union is exactly the two, so they merge at waste 1.0.
    assert merge_rects([(0, 0, 4, 8), (0, 8, 4, 16)], 0, 1.0) == [(0, 0, 4, 16)]
    # Diagonal neighbours: the union would be half empty.
    assert sorted(merge_rects([(0, 0, 4, 8), (4, 8, 8, 16)], 0, 1.0)) == [
        (0, 0, 4, 8),
        (4, 8, 8, 16),
    ]
    assert merge_rects([(0, 0, 4, 8), (4, 8, 8, 16)], 0, 2.0) == [(0, 0, 8, 16)]
    # A row of cells in any order collapses into one strip; overlapping ones always merge.
    row = [(0, c, 4, c + 8) for c in (24, 0, 16, 8)]
    assert merge_rects(row, 0, 1.0) == [(0, 0, 4, 32)]
    assert merge_rects([(0, 0, 4, 4), (2, 2, 9, 9)], 0, 1.0) == [(0, 0, 9, 9)]


@pytest.mark.parametrize("box", [(0, 0, 112, 56), (3668, 2070, 3780, 2126), (1400, 700, 1624, 812)])
def test_a_resized_region_matches_the_resized_image(box: tuple[int, int, int, int]) -> None:
    rng = np.random.default_rng(0)
    rgb = cv2.GaussianBlur(rng.integers(0, 256, (2160, 3840, 3), dtype=np.uint8), (0, 0), 3)
    whole = cv2.resize(rgb, (3780, 2126), interpolation=cv2.INTER_AREA)[:, :, ::-1]
    x0, y0, x1, y1 = box
    part = resized_region(rgb, box, 3780, 2126)
    assert part.shape == (y1 - y0, x1 - x0, 3)
    assert float(np.abs(part.astype(int) - whole[y0:y1, x0:x1]).mean()) < 1.0


def test_a_region_at_full_scale_is_copied() -> None:
    rgb = np.arange(40 * 60 * 3, dtype=np.uint8).reshape(40, 60, 3)
    assert np.array_equal(resized_region(rgb, (10, 5, 30, 25), 60, 40), rgb[5:25, 10:30, ::-1])


def test_question_anchors() -> None:
    prompt = (
        "In the open 'Brasa' menu, which entry comes directly below \u2018Zerdor\u2019?\n"
        "A. Fendef\nB. Fendct\nC. Eendet\nD. Fenedt\n"
        "Answer with the option's letter from the given choices directly."
    )
    # Quoted names, then capitalised words inside the question; never the options or the
    # instruction, never a sentence's first word.
    assert question_anchors(prompt) == ["Brasa", "Zerdor"]
    sign = "What exit number is shown on the overhead gantry sign for Save?\nA. 85C\nB. 856"
    assert question_anchors(sign) == ["Save"]
    assert question_anchors("What lot code is printed on the silver box?\nA. 1N16U") == []
    assert question_anchors("Is it OK? Read the sign.\nA. x") == []
