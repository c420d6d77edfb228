"""Packing selected high-resolution regions into one mosaic, so the detector runs once.

A PS3-style reader looks only at the regions it selected. Running the text detector once per
region costs a model call each; packing the regions side by side (with blank gaps, so text never
runs from one region into the next) costs one call over about the selected area. Everything here
is plain geometry on numpy arrays, with no model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Rect = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)`` in pixels, ends exclusive."""


@dataclass(frozen=True)
class Placement:
    """Where one region of the source image sits on the mosaic."""

    src: Rect
    """The region in source-image pixels."""
    x: int
    """Left edge on the mosaic."""
    y: int
    """Top edge on the mosaic."""

    @property
    def dst(self) -> Rect:
        """The region's rectangle on the mosaic."""
        x0, y0, x1, y1 = self.src
        return self.x, self.y, self.x + x1 - x0, self.y + y1 - y0

    def to_source(self, points: np.ndarray) -> np.ndarray:
        """Map mosaic points ``(..., 2)`` back to source-image pixels (clipped to the region)."""
        x0, y0, x1, y1 = self.src
        out = np.asarray(points, dtype=np.float32) + np.array(
            [x0 - self.x, y0 - self.y], dtype=np.float32
        )
        out[..., 0] = np.clip(out[..., 0], x0, x1)
        out[..., 1] = np.clip(out[..., 1], y0, y1)
        return out


def split(rect: Rect, limit: int, overlap: int) -> list[Rect]:
    """Cut a rectangle into pieces at most ``limit`` pixels on a side.

    Neighbouring pieces overlap by ``overlap`` pixels, so that text cut at one piece's edge is
    whole in its neighbour (when it is shorter than that).
    """
    x0, y0, x1, y1 = rect
    step = max(1, limit - overlap)

    def starts(a: int, b: int) -> list[int]:
        if b - a <= limit:
            return [a]
        out = list(range(a, b - limit, step))
        return [*out, b - limit]

    return [
        (x, y, min(x + limit, x1), min(y + limit, y1))
        for y in starts(y0, y1)
        for x in starts(x0, x1)
    ]


def pack(rects: list[Rect], page: int, gap: int, overlap: int = 48) -> list[list[Placement]]:
    """Pack rectangles onto square pages of ``page`` pixels, ``gap`` blank pixels apart.

    Every page has the same width, and its height is cut by :func:`page_height`, so the detector
    meets few input shapes (a new shape costs it a slow first call) and its cost follows the
    packed area.
    Shelves, tallest first, first page with room; a rectangle larger than a page is split (see
    :func:`split`).

    Returns:
        The placements of each page.
    """
    limit = page - 2 * gap
    if limit <= 0:
        raise ValueError(f"page ({page}) must be larger than twice the gap ({gap})")
    pieces = [piece for r in rects for piece in split(r, limit, overlap)]
    pieces.sort(key=lambda r: (-(r[3] - r[1]), -(r[2] - r[0]), r))
    pages: list[list[Placement]] = []
    shelves: list[list[list[int]]] = []  # per page: [shelf y, shelf height, next x]
    for piece in pieces:
        w, h = piece[2] - piece[0], piece[3] - piece[1]
        placed = False
        for placements, page_shelves in zip(pages, shelves, strict=True):
            for shelf in page_shelves:
                y, height, x = shelf
                if h <= height and x + w + gap <= page:
                    placements.append(Placement(piece, x, y))
                    shelf[2] = x + w + gap
                    placed = True
                    break
            if placed:
                break
            top = page_shelves[-1][0] + page_shelves[-1][1] + gap
            if top + h + gap <= page:
                placements.append(Placement(piece, gap, top))
                page_shelves.append([top, h, gap + w + gap])
                placed = True
                break
        if not placed:
            pages.append([Placement(piece, gap, gap)])
            shelves.append([[gap, h, gap + w + gap]])
    return pages


def page_height(placements: list[Placement], page: int, gap: int, step: int = 128) -> int:
    """Height of a page cut below its last shelf, in ``step``-pixel steps, at most ``page``.

    Blank rows cost the detector as much as text; whole steps keep its input shapes few.
    """
    used = max((p.dst[3] for p in placements), default=0) + gap
    return min(page, max(step, math.ceil(used / step) * step))


def compose(
    image: np.ndarray, placements: list[Placement], width: int, height: int, fill: np.ndarray
) -> np.ndarray:
    """Copy each placed region of ``image`` (H, W, C) onto a ``fill``-coloured mosaic."""
    canvas = np.empty((height, width, image.shape[2]), dtype=image.dtype)
    canvas[:] = fill
    for p in placements:
        x0, y0, x1, y1 = p.src
        dx0, dy0, dx1, dy1 = p.dst
        canvas[dy0:dy1, dx0:dx1] = image[y0:y1, x0:x1]
    return canvas


def owner(placements: list[Placement], point: tuple[float, float]) -> Placement | None:
    """The placement whose mosaic rectangle holds ``point``, else the nearest one.

    Text boxes can reach a pixel or two into a gap. ``None`` when there are no placements.
    """
    best, best_d = None, math.inf
    px, py = point
    for p in placements:
        x0, y0, x1, y1 = p.dst
        dx = max(x0 - px, 0.0, px - x1)
        dy = max(y0 - py, 0.0, py - y1)
        d = dx * dx + dy * dy
        if d < best_d:
            best, best_d = p, d
            if d == 0:
                break
    return best
