"""Drawing on a 4K canvas: fonts sized by cap height, the background, clutter and distractor text.

Every string drawn is kept on the canvas, and every area taken is reserved, so that distractors
never cover the detail and never repeat an answer option.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ps3_eval.probe4k.item import IMAGE_SIZE, Box
from ps3_eval.probe4k.strings import norm

Color = tuple[int, int, int]


@functools.lru_cache(maxsize=256)
def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's built-in scalable font at ``size``.

    Aileron Regular needs FreeType, which every PyPI wheel has: no system font is required, so
    CI renders the same.
    """
    loaded = ImageFont.load_default(size=size)
    if not isinstance(loaded, ImageFont.FreeTypeFont):  # pragma: no cover - FreeType-less Pillow
        raise RuntimeError("Probe4K needs Pillow built with FreeType (ImageFont.load_default)")
    return loaded


def cap_height(size: int) -> int:
    """Height in pixels of a capital 'H' at font size ``size``."""
    box = font(size).getbbox("H")
    return int(box[3] - box[1])


@functools.lru_cache(maxsize=256)
def font_size_for_cap(cap: int) -> int:
    """Smallest font size whose rendered 'H' is closest to ``cap`` pixels tall."""
    guess = max(4, round(cap / 0.7))
    best = min(range(max(4, guess - 4), guess + 5), key=lambda s: (abs(cap_height(s) - cap), s))
    return best


def cap_font(cap: int) -> ImageFont.FreeTypeFont:
    """The font whose capitals are ``cap`` pixels tall."""
    return font(font_size_for_cap(cap))


def text_wh(text: str, cap: int) -> tuple[int, int]:
    """Width and height of ``text`` drawn with capitals ``cap`` pixels tall."""
    box = cap_font(cap).getbbox(text, anchor="ls")
    return int(box[2] - box[0]), int(box[3] - box[1])


class Canvas:
    """A 4K image plus bookkeeping: reserved areas and every string drawn."""

    def __init__(self, image: Image.Image, rng: random.Random, options: Sequence[str]) -> None:
        self.image = image
        self.draw = ImageDraw.Draw(image)
        self.rng = rng
        self.reserved: list[Box] = []
        self.options = [norm(o) for o in options]
        self.texts: list[str] = []

    def clashes(self, text: str) -> bool:
        """True if ``text`` contains (or is contained in) an answer option."""
        t = norm(text)
        return any(o in t or (t and t in o and len(t) >= 3) for o in self.options)

    def free(self, box: Box, pad: int = 0) -> bool:
        """True if ``box`` lies inside the image, ``pad`` pixels clear of every reserved area."""
        x0, y0, x1, y1 = box
        if x0 < 0 or y0 < 0 or x1 > IMAGE_SIZE[0] or y1 > IMAGE_SIZE[1]:
            return False
        return all(
            x1 + pad <= r[0] or r[2] + pad <= x0 or y1 + pad <= r[1] or r[3] + pad <= y0
            for r in self.reserved
        )

    def text(
        self,
        xy: tuple[float, float],
        text: str,
        cap: int,
        fill: Color,
        anchor: str = "ls",
    ) -> Box:
        """Draws ``text`` with capitals ``cap`` pixels tall; returns its box."""
        face = cap_font(cap)
        self.draw.text(xy, text, font=face, fill=fill, anchor=anchor)
        self.texts.append(text)
        b = self.draw.textbbox(xy, text, font=face, anchor=anchor)
        return (int(b[0]), int(b[1]), int(b[2]), int(b[3]))

    def safe(self, make: Callable[[], str]) -> str:
        """A distractor string from ``make`` that does not contain any option."""
        for _ in range(100):
            s = make()
            if not self.clashes(s):
                return s
        raise RuntimeError("could not draw a non-clashing distractor")  # pragma: no cover


def background(
    np_rng: np.random.Generator,
    top: Color,
    bottom: Color,
    noise: int = 6,
) -> Image.Image:
    """A vertical gradient from ``top`` to ``bottom`` with a blocky grain.

    Each pixel is its row's colour plus the grain of its 4x4 block (low-resolution noise
    upsampled: textured like sensor noise, cheap to draw and kind to the PNG's size), clipped to
    a byte. Those sums are computed once per row and grain value, in the float32 arithmetic they
    always had, and looked up per pixel: the same bytes as adding the two full-size arrays, at a
    fraction of the time (drawing the background was most of drawing a scene).
    """
    w, h = IMAGE_SIZE
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    col = (1 - t) * np.asarray(top, np.float32) + t * np.asarray(bottom, np.float32)  # (h, 3)
    small = np_rng.integers(-noise, noise + 1, size=(h // 4, w // 4), dtype=np.int16)
    grains = np.arange(-noise, noise + 1, dtype=np.int16)
    sums = np.clip(col[:, None, :] + grains[None, :, None], 0, 255).astype(np.uint8)
    # One 4-byte RGBX word per (row, grain), so that a pixel is one gathered word.
    words = np.zeros((h, len(grains), 4), dtype=np.uint8)
    words[..., :3] = sums
    table = words.reshape(-1).view(np.uint32)
    grain = np.repeat(small.astype(np.int32) + noise, 4, axis=1)  # (h // 4, w)
    rows = np.arange(h, dtype=np.int32).reshape(h // 4, 4, 1) * len(grains)
    pixels = np.take(table, (rows + grain[:, None, :]).reshape(h, w))
    return Image.frombuffer("RGBX", (w, h), pixels, "raw", "RGBX", 0, 1).convert("RGB")


def rand_color(rng: random.Random, lo: int = 30, hi: int = 230) -> Color:
    """A random colour with every channel in ``[lo, hi]``."""
    return (rng.randint(lo, hi), rng.randint(lo, hi), rng.randint(lo, hi))


def contrast(c: Color) -> Color:
    """Dark or light text, whichever reads on ``c``."""
    return (20, 20, 24) if sum(c) > 380 else (240, 240, 236)


def shapes(cv: Canvas, count: int, region: Box) -> None:
    """Random rectangles, ellipses and lines: visual clutter without text."""
    rng, d = cv.rng, cv.draw
    for _ in range(count):
        w, h = rng.randint(30, 400), rng.randint(30, 300)
        x, y = rng.randint(region[0], region[2] - w), rng.randint(region[1], region[3] - h)
        box = (x, y, x + w, y + h)
        if not cv.free(box, pad=8):
            continue
        kind = rng.random()
        color = rand_color(rng)
        if kind < 0.4:
            d.rectangle(box, fill=color)
        elif kind < 0.75:
            d.ellipse(box, fill=color)
        else:
            d.line((x, y, x + w, y + h), fill=color, width=rng.randint(2, 12))


def distractor_texts(
    cv: Canvas, count: int, region: Box, make: Callable[[], str], caps: Sequence[int]
) -> None:
    """Readable text that is never an answer option, at assorted sizes."""
    rng = cv.rng
    for _ in range(count):
        s = cv.safe(make)
        cap = rng.choice(list(caps))
        tw, th = text_wh(s, cap)
        pad = max(4, cap // 3)
        for _ in range(12):
            x = rng.randint(region[0], max(region[0], region[2] - tw - 2 * pad))
            y = rng.randint(region[1], max(region[1], region[3] - th - 2 * pad))
            box = (x, y, x + tw + 2 * pad, y + th + 2 * pad)
            if cv.free(box, pad=6):
                bg = rand_color(rng) if rng.random() < 0.5 else None
                if bg is not None:
                    cv.draw.rectangle(box, fill=bg)
                fg = contrast(bg) if bg is not None else rand_color(rng, 0, 255)
                cv.text((x + pad, y + pad + th), s, cap, fg, anchor="ls")
                cv.reserved.append(box)
                break


def detail_caps(cap: int) -> list[int]:
    """Distractor text heights around the detail's ``cap``.

    They straddle every bucket, so tiny text is not a give-away.
    """
    return sorted({max(8, cap), 10, 14, 22, 32, 48, 70, 100})


def place(cv: Canvas, w: int, h: int, region: Box, pad: int = 20) -> tuple[int, int]:
    """Top-left corner of a free ``w`` x ``h`` box inside ``region``."""
    rng = cv.rng
    for _ in range(200):
        x = rng.randint(region[0], max(region[0], region[2] - w))
        y = rng.randint(region[1], max(region[1], region[3] - h))
        if cv.free((x, y, x + w, y + h), pad=pad):
            return x, y
    x = rng.randint(region[0], max(region[0], region[2] - w))
    y = rng.randint(region[1], max(region[1], region[3] - h))
    return x, y
