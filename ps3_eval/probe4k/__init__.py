"""Probe4K: a deterministic, synthetic stand-in for the 4KPro benchmark.

4KPro (PS3 / VILA-HD, "Scaling Vision Pre-Training to 4K Resolution") asks 4-option
multiple-choice questions about 3840x2160 images whose answer is a small detail that only
becomes legible at high resolution. It is unpublished, so this package draws comparable scenes
itself: autonomous-vehicle street views, household interiors, game HUDs and desktop UIs, each
cluttered with shapes and readable distractor text, and asks about ONE small text detail.

Each item's *minimum recognizable resolution* (MRR) is designed through the cap height of the
detail text at 4K: ``"1K"`` details are legible when the image is read with its long side at
756 px, ``"2K"`` ones at 1512 px but not 756, and ``"4K"`` ones only at 3780 px
(:data:`TEXT_HEIGHTS`, calibrated with the ``ocr-reader``'s PP-OCRv4 models). The answer options
are near misses of one another, and no option appears anywhere else in the image.

The parts: :mod:`~ps3_eval.probe4k.item` (the item record and its constants),
:mod:`~ps3_eval.probe4k.strings` (random strings and near-miss options),
:mod:`~ps3_eval.probe4k.drawing` (fonts, canvas, background and clutter),
:mod:`~ps3_eval.probe4k.painter` (what a scene is made of, and the one painter of every scene),
:mod:`~ps3_eval.probe4k.scenes` (the eight templates: data, and each one's own layout) and
:mod:`~ps3_eval.probe4k.generate` (assignment, drawing one item, the cached set). :func:`rows` is
the loader the ``probe4k`` card names.
"""

from __future__ import annotations

from typing import Any

from pydantic import validate_call

from ps3_eval.fourkpro import CATEGORIES, MRR_BUCKETS, READ_RESOLUTIONS
from ps3_eval.probe4k.generate import Assignment, assignment, generate, render_item
from ps3_eval.probe4k.item import IMAGE_SIZE, TEXT_HEIGHTS, VERSION, Probe4kItem, text_height_for
from ps3_eval.probe4k.painter import Clutter, Scene
from ps3_eval.probe4k.scenes import SCENES

__all__ = [
    "CATEGORIES",
    "IMAGE_SIZE",
    "MRR_BUCKETS",
    "READ_RESOLUTIONS",
    "SCENES",
    "TEXT_HEIGHTS",
    "VERSION",
    "Assignment",
    "Clutter",
    "Probe4kItem",
    "Scene",
    "assignment",
    "generate",
    "render_item",
    "rows",
    "text_height_for",
]


@validate_call
def rows(n: int = 48, seed: int = 0, categories: str | None = None) -> list[dict[str, Any]]:
    """Rows of the synthetic 4K probe, generated (or read from the cache) for ``(seed, n)``.

    The loader the ``probe4k`` card names (``benchmarks/probe4k.yaml``).

    Args:
        n: Number of items.
        seed: Generator seed.
        categories: Comma-separated subset of the four categories (default: all).
    """
    cats = [c.strip() for c in categories.split(",") if c.strip()] if categories else None
    return [item.to_dict() for item in generate(n, seed=seed, categories=cats)]
