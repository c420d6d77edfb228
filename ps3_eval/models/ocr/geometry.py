"""Pixel and patch geometry of the OCR reader (no model).

Reading sizes, the 14-pixel patch grid, boxes, detector tiles and cut-out regions.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "PATCH_SIZE",
    "Box",
    "area",
    "grid",
    "intersection",
    "quad_bbox",
    "reading_size",
    "resized_region",
    "tile_spans",
]

PATCH_SIZE = 14
"""Side length in pixels of one visual token (PS3 / SigLIP patch)."""

Box = tuple[float, float, float, float]
"""``(x0, y0, x1, y1)`` in pixels."""


def reading_size(width: int, height: int, resolution: int) -> tuple[int, int, float]:
    """Computes the size at which an image is read.

    The long side is resized to ``resolution``; images are never upscaled
    (upscaling adds no information but would inflate the token count), so an
    image whose long side is already ``<= resolution`` is read as is.

    Args:
        width: Original width in pixels.
        height: Original height in pixels.
        resolution: Requested long-side length in pixels.

    Returns:
        ``(read_width, read_height, scale)`` where ``scale`` is reading
        pixels per original pixel.

    Raises:
        ValueError: If ``resolution`` is not positive.
    """
    if resolution <= 0:
        raise ValueError(f"resolution must be positive, got {resolution}")
    scale = min(1.0, resolution / max(width, height))
    read_w = max(1, round(width * scale))
    read_h = max(1, round(height * scale))
    return read_w, read_h, scale


def grid(width: int, height: int) -> tuple[int, int]:
    """``(rows, cols)`` of the patch grid covering ``width`` x ``height`` pixels."""
    return math.ceil(height / PATCH_SIZE), math.ceil(width / PATCH_SIZE)


def quad_bbox(quad: np.ndarray) -> Box:
    """The axis-aligned box around a detector quad (4 x 2 points)."""
    return (
        float(quad[:, 0].min()),
        float(quad[:, 1].min()),
        float(quad[:, 0].max()),
        float(quad[:, 1].max()),
    )


def area(box: Box) -> float:
    """Area of a box (0 for an empty one)."""
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def intersection(a: Box, b: Box) -> float:
    """Area shared by two boxes."""
    return area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def tile_spans(length: int, tile: int, margin: int) -> list[tuple[int, int, int, int]]:
    """Cores ``(c0, c1)`` of about ``tile`` pixels covering ``length``, and tiles ``(t0, t1)``.

    Each tile is its core plus ``margin`` pixels of context on each side (clipped at the ends).
    Cores are multiples of 32 pixels long (the detector's stride), so with a margin that is too,
    every tile starts on the whole image's feature grid.
    """
    count = max(1, round(length / tile))
    size = math.ceil(length / count / 32) * 32
    return [
        (c0, min(length, c0 + size), max(0, c0 - margin), min(length, c0 + size + margin))
        for c0 in range(0, length, size)
    ]


def resized_region(
    rgb: np.ndarray, box: tuple[int, int, int, int], width: int, height: int
) -> np.ndarray:
    """BGR pixels of ``box`` of the image resized to ``width`` x ``height`` (area interpolation).

    The source is cut with a margin and resized at the whole image's scale, so the pixels match
    a resize of the whole image up to a sub-pixel offset at the cut.
    """
    import cv2

    src_h, src_w = rgb.shape[:2]
    fx, fy = src_w / width, src_h / height
    x0, y0, x1, y1 = box
    sx0, sy0 = max(0, math.floor(x0 * fx) - 2), max(0, math.floor(y0 * fy) - 2)
    sx1, sy1 = min(src_w, math.ceil(x1 * fx) + 2), min(src_h, math.ceil(y1 * fy) + 2)
    ox, oy = round(sx0 / fx), round(sy0 / fy)
    size = (max(1, round(sx1 / fx) - ox), max(1, round(sy1 / fy) - oy))
    if (fx, fy) == (1.0, 1.0):
        out = rgb[sy0:sy1, sx0:sx1]
    else:
        out = cv2.resize(rgb[sy0:sy1, sx0:sx1], size, interpolation=cv2.INTER_AREA)
    out = out[y0 - oy : y1 - oy, x0 - ox : x1 - ox, ::-1]
    if out.shape[:2] != (y1 - y0, x1 - x0):  # rounding at the image's far edge
        out = cv2.resize(np.ascontiguousarray(out), (x1 - x0, y1 - y0))
    return out
