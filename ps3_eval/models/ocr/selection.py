"""The PS3-style selection policy: which high-resolution patches the reader reads.

It scores the high-resolution patch grid from a low-resolution pass, chooses the best patches
in whole cells, and groups them into rectangles to read.

Everything here works on the arrays a low-resolution pass produced (:class:`LowPass`); running
the models is :mod:`ps3_eval.models.ocr.engine`'s part.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ps3_eval.models.ocr.geometry import PATCH_SIZE, grid, quad_bbox
from ps3_eval.models.ocr.text import compact, text_similarity

__all__ = ["LowPass", "Mode", "Policy", "mask_rects", "merge_rects", "score_grid", "select_cells"]

Mode = Literal["bottom_up", "top_down"]
Rect = tuple[int, int, int, int]
"""``(r0, c0, r1, c1)`` on the patch grid, ends exclusive."""


@dataclass
class LowPass:
    """The low-resolution view and what one detector pass over it found.

    Attributes:
        low: The low-resolution view (BGR).
        big_width: Width of the enlarged copy of ``low`` the detector ran on.
        prob: The detector's text-probability map of the enlarged copy.
        quads: Text quads found on it (enlarged copy's pixels).
        recs: Lines recognised in those quads ``(text, score, quad)``, if they were read.
    """

    low: np.ndarray
    big_width: int
    prob: np.ndarray
    quads: list[np.ndarray]
    recs: list[tuple[str, float, np.ndarray]]


@dataclass(frozen=True)
class Policy:
    """How patch scores are shaped (see :class:`~ps3_eval.models.ocr.engine.OcrEngine`)."""

    smooth: float = 1.5
    legible: float = 0.9
    legible_far: float = 0.6
    suppress: float = 2.0


def score_grid(
    low: LowPass,
    read_size: tuple[int, int],
    mode: Mode,
    queries: list[str] | None,
    anchors: list[str] | None,
    policy: Policy,
) -> np.ndarray:
    """Scores of the high-resolution patch grid (the reading is ``read_size``) from a low pass.

    The text-probability map is max-pooled onto the grid, patches under detected text get +1 and
    a small local-contrast term (< 0.1) orders the rest. Top-down adds ``3 * similarity`` under
    lines resembling a query (similarity >= 0.4), +2 around lines resembling an anchor, and
    ``-suppress`` under lines read with confidence that resemble no query. The scores are blended
    50/50 with a Gaussian-smoothed copy so selections form compact blobs.
    """
    import cv2

    rw, rh = read_size
    rows, cols = grid(rw, rh)
    gw, gh = cols * PATCH_SIZE, rows * PATCH_SIZE

    def pool(m: np.ndarray) -> np.ndarray:
        """Low-res pixel map -> high-res patch grid (max over each patch)."""
        up = cv2.resize(m, (rw, rh), interpolation=cv2.INTER_LINEAR)
        up = cv2.copyMakeBorder(up, 0, gh - rh, 0, gw - rw, cv2.BORDER_CONSTANT, value=0)
        return np.asarray(
            up.reshape(rows, PATCH_SIZE, cols, PATCH_SIZE).max(axis=(1, 3)),
            dtype=np.float32,
        )

    gray = cv2.cvtColor(low.low, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
    mean = cv2.blur(gray, (5, 5))
    contrast = np.sqrt(np.maximum(cv2.blur(gray * gray, (5, 5)) - mean * mean, 0.0))
    scores = pool(low.prob) + 0.09 * np.clip(pool(contrast) / 0.5, 0.0, 1.0)

    to_grid = rw / low.big_width / PATCH_SIZE

    def paint(quad: np.ndarray, value: float, pad: float) -> None:
        x0, y0, x1, y1 = quad_bbox(quad)
        p = pad * (y1 - y0)
        c0 = max(0, math.floor((x0 - p) * to_grid))
        r0 = max(0, math.floor((y0 - p) * to_grid))
        c1 = min(cols, math.ceil((x1 + p) * to_grid))
        r1 = min(rows, math.ceil((y1 + p) * to_grid))
        region = scores[r0:r1, c0:c1]
        region += value

    for quad in low.quads:
        paint(quad, 1.0, 0.0)
    usable = [q for q in (queries or []) if compact(q)]
    marks = [a for a in (anchors or []) if len(compact(a)) >= 3]
    if mode == "top_down" and usable:
        for text, score, quad in low.recs:
            sim = max(text_similarity(q, text) for q in usable)
            near = max((text_similarity(a, text) for a in marks), default=0.0)
            if sim >= 0.4:
                paint(quad, 3.0 * sim, 0.5)
            elif near >= 0.7:
                # The question names this text: what it asks about lies around it.
                paint(quad, 2.0, 2.0)
            elif len(compact(text)) >= 3 and (
                score >= policy.legible or (score >= policy.legible_far and sim < 0.2)
            ):
                # Read with confidence at low resolution and unlike every option: the high
                # resolution adds nothing here, so its patches go to what could not be read.
                paint(quad, -policy.suppress, 0.0)
    smooth = cv2.GaussianBlur(scores, (0, 0), sigmaX=policy.smooth, sigmaY=policy.smooth)
    return np.asarray(0.5 * scores + 0.5 * smooth, dtype=np.float32)


def select_cells(scores: np.ndarray, k: int, cell: tuple[int, int]) -> np.ndarray:
    """The ``k`` best patches of ``scores``, chosen in whole ``cell`` (rows, cols) units.

    Cells are ranked by their mean score; whole cells are taken while they fit in ``k``, and the
    last cell is filled patch by patch, so exactly ``k`` patches are selected. Selecting whole
    cells keeps the selection in dense blocks that pack tightly for the detector.
    """
    rows, cols = scores.shape
    ch, cw = cell
    pr, pc = (-rows) % ch, (-cols) % cw
    padded = np.pad(scores, ((0, pr), (0, pc)), constant_values=-np.inf)
    blocks = padded.reshape((rows + pr) // ch, ch, (cols + pc) // cw, cw)
    inside = np.isfinite(blocks)
    means = np.where(inside, blocks, 0.0).sum(axis=(1, 3)) / np.maximum(inside.sum(axis=(1, 3)), 1)
    order = np.argsort(-means.ravel(), kind="stable")
    mask = np.zeros((rows + pr, cols + pc), dtype=bool)
    left = k
    n_cols = (cols + pc) // cw
    for index in order:
        if left <= 0:
            break
        br, bc = divmod(int(index), n_cols)
        r0, c0 = br * ch, bc * cw
        r1, c1 = min(rows, r0 + ch), min(cols, c0 + cw)
        size = (r1 - r0) * (c1 - c0)
        if size <= left:
            mask[r0:r1, c0:c1] = True
            left -= size
        else:
            sub = scores[r0:r1, c0:c1]
            best = np.argsort(-sub.ravel(), kind="stable")[:left]
            part = np.zeros(sub.size, dtype=bool)
            part[best] = True
            mask[r0:r1, c0:c1] = part.reshape(sub.shape)
            left = 0
    return mask[:rows, :cols]


def mask_rects(mask: np.ndarray, block: int) -> list[Rect]:
    """Tight grid rectangles ``(r0, c0, r1, c1)`` covering ``mask``.

    One rectangle per ``block`` x ``block`` block that has selected cells.
    """
    rects = []
    rows, cols = mask.shape
    for br in range(0, rows, block):
        for bc in range(0, cols, block):
            sub = mask[br : br + block, bc : bc + block]
            if not sub.any():
                continue
            rr = np.flatnonzero(sub.any(axis=1))
            cc = np.flatnonzero(sub.any(axis=0))
            rects.append(
                (br + int(rr[0]), bc + int(cc[0]), br + int(rr[-1]) + 1, bc + int(cc[-1]) + 1)
            )
    return rects


def merge_rects(rects: list[Rect], gap: int, waste: float) -> list[Rect]:
    """Greedily merges grid rectangles ``(r0, c0, r1, c1)`` (exclusive ends).

    Two rectangles are merged when they overlap, or lie within ``gap`` cells
    of each other and their joint bounding box is at most ``waste`` times the
    area of the input rectangles it would contain. Tracking the original
    area (not the grown boxes) prevents a chain of merges from collapsing a
    sparse selection into one huge, mostly empty crop.
    """

    def size(r: Rect) -> int:
        return (r[2] - r[0]) * (r[3] - r[1])

    out = [(r, size(r)) for r in rects]
    merged = True
    while merged:
        merged = False
        i = 0
        while i < len(out):
            j = i + 1
            while j < len(out):
                (a, ca), (b, cb) = out[i], out[j]
                if (
                    a[0] <= b[2] + gap
                    and b[0] <= a[2] + gap
                    and a[1] <= b[3] + gap
                    and b[1] <= a[3] + gap
                ):
                    u = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    overlap = a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
                    if overlap or size(u) <= waste * (ca + cb):
                        # The grown rectangle is compared again with everything after it; a
                        # later pass catches the ones before it.
                        out[i] = (u, ca + cb)
                        del out[j]
                        merged = True
                        j = i + 1
                        continue
                j += 1
            i += 1
    return [r for r, _ in out]
