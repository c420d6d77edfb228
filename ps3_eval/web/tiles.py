"""Deep-zoom tiles and resolution previews, made on the server from the original image.

Images are named by a key (a frame id), never by a path from a request: the caller's
``resolve(key)`` says where the file is. Decoded images and their pyramid levels are kept in a
small LRU cache, so a viewer panning over one 4K frame decodes it once.

The tile layout is Deep Zoom's (DZI): level ``L`` is the image scaled by ``2 ** (L - max)``,
where ``max = ceil(log2(long side))``, cut into ``tile_size`` squares that overlap their
neighbours by ``overlap`` pixels. OpenSeadragon reads it as it is.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ps3_eval.errors import UsageError
from ps3_eval.images import decode, encode_png  # lossless and quick: a tile is sent once
from ps3_eval.records import ImageSource

TILE_SIZE = 254
OVERLAP = 1


@dataclass
class _Pyramid:
    full: Image.Image
    levels: dict[int, Image.Image]
    lock: threading.Lock


def max_level(width: int, height: int) -> int:
    """The deepest DZI level of an image (its full resolution)."""
    return max(0, math.ceil(math.log2(max(width, height, 1))))


def dzi_xml(width: int, height: int, tile_size: int = TILE_SIZE, overlap: int = OVERLAP) -> str:
    """The ``.dzi`` descriptor of an image of this size (PNG tiles)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" Format="png" '
        f'Overlap="{overlap}" TileSize="{tile_size}"><Size Width="{width}" Height="{height}"/>'
        "</Image>\n"
    )


class ImageTiles:
    """Tiles and previews of the images a tool serves, by key."""

    def __init__(
        self,
        resolve: Callable[[Hashable], Path],
        *,
        shown_size: Callable[[Hashable], tuple[int, int]] | None = None,
        cache_images: int = 4,
        tile_size: int = TILE_SIZE,
        overlap: int = OVERLAP,
    ) -> None:
        """Tiles of the images ``resolve(key)`` names.

        Args:
            resolve: where an image's file is (a key is never a path from a request).
            shown_size: when given, the size to show an image at: a smaller file (an image
                downsampled to a lower resolution) is enlarged to it with nearest-neighbour, so
                its pyramid has the same geometry as the original's and each of its pixels stays
                visible. Viewers of several resolutions of one image then line up exactly and
                nothing in the tiles' layout tells them apart.
            cache_images: decoded images (with their pyramids) kept in memory.
            tile_size: DZI tile side in pixels.
            overlap: DZI tile overlap in pixels.
        """
        self.resolve = resolve
        self.shown_size = shown_size
        self.tile_size = tile_size
        self.overlap = overlap
        self._cache: OrderedDict[Hashable, _Pyramid] = OrderedDict()
        self._cache_size = cache_images
        self._lock = threading.Lock()
        self._loading: dict[Hashable, threading.Lock] = {}

    def _pyramid(self, key: Hashable) -> _Pyramid:
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # one decode per image, however many tiles ask at once
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    return hit
            img, _ = decode(ImageSource(path=str(self.resolve(key))))
            if self.shown_size is not None:
                w, h = self.shown_size(key)
                if img.width < w or img.height < h:
                    img = img.resize((w, h), Image.Resampling.NEAREST)
            pyramid = _Pyramid(img, {}, threading.Lock())
            with self._lock:
                self._cache[key] = pyramid
                self._loading.pop(key, None)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return pyramid

    def size(self, key: Hashable) -> tuple[int, int]:
        """``(width, height)`` of an image."""
        return self._pyramid(key).full.size

    def dzi(self, key: Hashable) -> str:
        """The DZI descriptor of an image."""
        w, h = self.size(key)
        return dzi_xml(w, h, self.tile_size, self.overlap)

    def level_image(self, key: Hashable, level: int) -> Image.Image:
        """The image at a DZI level (halved step by step from the full image, then cached)."""
        pyramid = self._pyramid(key)
        top = max_level(*pyramid.full.size)
        if not 0 <= level <= top:
            raise UsageError(f"level {level} is outside 0..{top}")
        if level == top:
            return pyramid.full
        with pyramid.lock:
            got = pyramid.levels.get(level)
            if got is None:
                # Halving keeps each level one box filter away from the next; a 4K frame's whole
                # pyramid costs about a third of one decode.
                below = level + 1
                while below < top and below not in pyramid.levels:
                    below += 1
                img = pyramid.full if below == top else pyramid.levels[below]
                for lv in range(below - 1, level - 1, -1):
                    w, h = img.size
                    img = (
                        img.reduce(2)
                        if w > 1 and h > 1
                        else img.resize((max(1, math.ceil(w / 2)), max(1, math.ceil(h / 2))))
                    )
                    pyramid.levels[lv] = img
                got = pyramid.levels[level]
        return got

    def tile(self, key: Hashable, level: int, col: int, row: int) -> bytes:
        """One PNG tile.

        Raises:
            UsageError: the level, column or row is outside the image.
        """
        img = self.level_image(key, level)
        w, h = img.size
        ts, ov = self.tile_size, self.overlap
        cols, rows = math.ceil(w / ts), math.ceil(h / ts)
        if not (0 <= col < cols and 0 <= row < rows):
            raise UsageError(f"tile {col}_{row} is outside level {level} ({cols}x{rows} tiles)")
        x0 = col * ts - (ov if col > 0 else 0)
        y0 = row * ts - (ov if row > 0 else 0)
        x1 = min(w, (col + 1) * ts + ov)
        y1 = min(h, (row + 1) * ts + ov)
        return encode_png(img.crop((x0, y0, x1, y1)))

    def thumbnail(self, key: Hashable, side: int = 320) -> bytes:
        """The whole image at most ``side`` pixels on its long side (from the pyramid)."""
        full = self._pyramid(key).full
        top = max_level(*full.size)
        level = max(0, min(top, math.ceil(math.log2(max(1, side))) + 1))
        img = self.level_image(key, level).copy()
        img.thumbnail((side, side), Image.Resampling.LANCZOS)
        return encode_png(img)

    def preview(
        self, key: Hashable, box: tuple[float, float, float, float], side: int, display: int = 320
    ) -> bytes:
        """The region ``box`` (original pixels) as the image looks at ``side`` on its long side.

        The region is resampled straight from the original with the filter
        ``ps3_eval.images.shrink_to_side`` uses for the whole image (Lanczos), so it
        shows what a model given the image at that resolution would see there; an image already
        within ``side`` is shown as it is (never upsampled). It is then enlarged to ``display``
        pixels on its long side with nearest-neighbour, which keeps each remaining pixel
        visible, so three previews side by side compare fairly.
        """
        full = self._pyramid(key).full
        w, h = full.size
        x0, y0, x1, y1 = box
        x0, x1 = sorted((max(0.0, min(w, x0)), max(0.0, min(w, x1))))
        y0, y1 = sorted((max(0.0, min(h, y0)), max(0.0, min(h, y1))))
        if x1 - x0 < 1 or y1 - y0 < 1:
            raise UsageError(f"box {box} does not cover a pixel of the {w}x{h} image")
        scale = min(1.0, side / max(w, h))
        if scale >= 1.0:
            region = full.crop((math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1)))
        else:
            size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
            region = full.resize(size, Image.Resampling.LANCZOS, box=(x0, y0, x1, y1))
        rw, rh = region.size
        factor = display / max(rw, rh)
        shown = region.resize(
            (max(1, round(rw * factor)), max(1, round(rh * factor))), Image.Resampling.NEAREST
        )
        return encode_png(shown)
