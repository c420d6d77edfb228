"""Which item gets which category, bucket and answer; drawing one item; the cached set.

Generation is deterministic in ``(seed, index)``; images and a JSONL manifest are cached under
``cache_dir / f"probe4k-v{VERSION}-s{seed}-n{n}"``.
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
import tempfile
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from ps3_eval.fourkpro import CATEGORIES, MRR_BUCKETS, READ_RESOLUTIONS
from ps3_eval.paths import cache_root
from ps3_eval.probe4k.drawing import Canvas, background, cap_height, font_size_for_cap
from ps3_eval.probe4k.item import VERSION, Probe4kItem, text_height_for
from ps3_eval.probe4k.painter import paint, question
from ps3_eval.probe4k.scenes import scenes_of
from ps3_eval.probe4k.strings import near_misses

MANIFEST = "manifest.jsonl"


class Assignment(NamedTuple):
    """What item ``index`` of a set is about."""

    category: str
    mrr: str
    answer_pos: int
    """0-3: the position of the correct option."""


def assignment(index: int, categories: Sequence[str], seed: int) -> Assignment:
    """Category, MRR bucket and answer position of item ``index``.

    Categories cycle with period C and buckets with period 3, with a shift every lcm(C, 3)
    items, so every (category, bucket) pair occurs once per 3C items and every prefix is
    balanced within one item on both margins. Answer positions are a seeded permutation of A-D
    per block of four items.
    """
    c = len(categories)
    period = c * 3 // math.gcd(c, 3)
    category = categories[index % c]
    mrr = MRR_BUCKETS[(index + index // period) % 3]
    perm = random.Random(f"probe4k-answers|{seed}|{index // 4}").sample(range(4), 4)
    return Assignment(category, mrr, perm[index % 4])


def render_item(
    seed: int,
    index: int,
    category: str,
    mrr: str,
    answer_pos: int,
    text_height: int | None = None,
) -> tuple[Image.Image, dict[str, Any]]:
    """Draws one item (no caching, no file I/O).

    Args:
        seed: Dataset seed.
        index: Item index.
        category: One of :data:`ps3_eval.fourkpro.CATEGORIES`.
        mrr: One of :data:`ps3_eval.fourkpro.MRR_BUCKETS`.
        answer_pos: 0-3, the position of the correct option.
        text_height: Override the detail cap height, in px, exactly (for calibration sweeps;
            a scene's own heights are not applied).

    Returns:
        ``(image, fields)`` where ``fields`` holds every :class:`Probe4kItem` field except
        ``id`` and ``image``.
    """
    for attempt in range(20):
        suffix = f"|retry{attempt}" if attempt else ""
        rng = random.Random(f"probe4k-v{VERSION}|{seed}|{index}{suffix}")
        np_rng = np.random.default_rng([VERSION, seed, index, attempt])
        templates = scenes_of(category)
        scene = templates[rng.randrange(len(templates))]
        designed = scene.heights.get(mrr, text_height_for(mrr))
        cap = text_height if text_height is not None else designed
        truth, options = near_misses(rng, scene.truth, scene.keep_class)
        # Put the truth at answer_pos; the misses keep their random order.
        misses = [o for o in options if o != truth]
        choices = [*misses[:answer_pos], truth, *misses[answer_pos:]]
        image = background(np_rng, scene.sky, scene.ground)
        cv = Canvas(image, rng, choices)
        drawing = paint(scene, cv, cap, truth)
        asked = question(drawing)
        # Final guarantee (fixed labels such as "EXIT" bypass Canvas.safe): the truth is drawn
        # exactly once and no option occurs in other text or the question.
        others = list(cv.texts)
        if truth in others:
            others.remove(truth)
        if truth not in cv.texts or not any(cv.clashes(t) for t in [*others, asked]):
            break
    else:  # pragma: no cover - never observed
        raise RuntimeError(f"could not draw item {index} without option clashes")
    x0, y0, x1, y1 = drawing.bbox
    return image, {
        "question": asked,
        "choices": (choices[0], choices[1], choices[2], choices[3]),
        "answer": "ABCD"[answer_pos],
        "category": category,
        "mrr": mrr,
        "bbox": (x0, y0, x1, y1),
        "text_height_px": cap_height(font_size_for_cap(cap)),
        "metadata": {
            "template": scene.template,
            "font": "Pillow default (Aileron Regular)",
            "font_size": font_size_for_cap(cap),
            "designed_resolution": READ_RESOLUTIONS[mrr],
            "designed_text_height": designed,
            **drawing.facts,
        },
    }


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; cached data should be shareable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save_png(image: Image.Image, path: Path) -> None:
    # Lossless, so the OCR calibration done on in-memory frames holds exactly.
    # The flat shapes and blocky grain compress well: PNG is ~0.4-0.8 MB here,
    # about half a q95 JPEG; level 4 is ~level 6 size at lower cost.
    image.save(path, format="PNG", compress_level=4)


def _read_manifest(folder: Path, n: int) -> list[Probe4kItem] | None:
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return None
    try:
        rows = [json.loads(line) for line in manifest.read_text("utf-8").splitlines() if line]
        items = [Probe4kItem.from_dict(r, root=folder) for r in rows]
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    if len(items) != n or not all(it.image.is_file() for it in items):
        return None
    return items


def _validate(n: int, categories: Sequence[str] | None) -> tuple[str, ...]:
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if n <= 0:
        raise ValueError(f"n must be a positive integer, got {n}")
    if categories is None:
        return CATEGORIES
    if isinstance(categories, str):
        categories = [categories]
    cats = tuple(dict.fromkeys(categories))
    if not cats:
        raise ValueError(f"categories must not be empty; valid: {', '.join(CATEGORIES)}")
    bad = [c for c in cats if c not in CATEGORIES]
    if bad:
        raise ValueError(
            f"unknown Probe4K categor{'ies' if len(bad) > 1 else 'y'} "
            f"{', '.join(map(repr, bad))}; valid: {', '.join(CATEGORIES)}"
        )
    return cats


def generate(
    n: int,
    seed: int = 0,
    categories: Sequence[str] | None = None,
    cache_dir: Path | None = None,
) -> list[Probe4kItem]:
    """Generates (or loads from cache) ``n`` Probe4K items.

    Items cycle through the categories and MRR buckets so both are balanced (within one item,
    exactly when ``n`` is a multiple of 3 x #categories); answer letters are exactly balanced
    when ``n`` is a multiple of 4. Item ``i`` depends only on ``(seed, i, categories)``, so
    images are pixel-identical across calls and machines with the same Pillow.

    Images are 3840x2160 lossless PNGs (~0.4-0.9 MB each) written under
    ``cache_dir / f"probe4k-v{VERSION}-s{seed}-n{n}"`` (plus a category suffix for a subset)
    together with ``manifest.jsonl``; the manifest is written last and atomically, so a
    complete manifest means a complete set and a second call just reads it.

    Args:
        n: Number of items (> 0).
        seed: Dataset seed.
        categories: Subset of :data:`ps3_eval.fourkpro.CATEGORIES` (default: all four).
        cache_dir: Cache root; default :func:`ps3_eval.paths.cache_root`.

    Returns:
        The items, in index order.

    Raises:
        ValueError: If ``n`` is not a positive integer or a category is unknown.
    """
    cats = _validate(n, categories)
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    name = f"probe4k-v{VERSION}-s{seed}-n{n}"
    if cats != CATEGORIES:
        name += "-" + "+".join(cats)
    folder = root / name
    cached = _read_manifest(folder, n)
    if cached is not None:
        return cached
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    items: list[Probe4kItem] = []
    # Encoding a PNG takes longer than drawing the scene and releases the GIL: two writer
    # threads encode while the next scenes are drawn (at most two images wait in memory).
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="probe4k-png") as writers:
        pending: deque[Future[None]] = deque()
        for i in range(n):
            image, fields = render_item(seed, i, *assignment(i, cats, seed))
            item_id = f"probe4k-s{seed}-{i:05d}"
            filename = f"{item_id}.png"
            if len(pending) >= 2:
                pending.popleft().result()
            write = functools.partial(_save_png, image)
            pending.append(writers.submit(_atomic_write, folder / filename, write))
            item = Probe4kItem(id=item_id, image=folder / filename, **fields)
            items.append(item)
            rows.append({**item.to_dict(), "image": filename})
        for future in pending:
            future.result()
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)

    def write_manifest(p: Path) -> None:
        p.write_text(text, "utf-8")

    _atomic_write(folder / MANIFEST, write_manifest)
    return items
