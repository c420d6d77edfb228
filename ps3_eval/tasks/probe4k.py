"""Probe4K: a deterministic, synthetic stand-in for the 4KPro benchmark.

4KPro (PS3 / VILA-HD, "Scaling Vision Pre-Training to 4K Resolution") asks
4-option multiple-choice questions about 3840x2160 images whose answer is a
small detail that only becomes legible at high resolution. It is unpublished,
so this module draws comparable scenes itself: autonomous-vehicle street
views, household interiors, game HUDs and desktop UIs, each cluttered with
shapes and readable distractor text, and asks about ONE small text detail.

Each item's *minimum recognizable resolution* (MRR) is designed through the
cap height of the detail text at 4K: ``"1K"`` details are legible when the
image is read with its long side at 756 px, ``"2K"`` ones at 1512 px but not
756, and ``"4K"`` ones only at 3780 px. The heights in :data:`TEXT_HEIGHTS`
were calibrated with the CPU OCR reader (PP-OCRv4 via rapidocr-onnxruntime,
see ``ps3_eval.models.ocr_engine``).

The answer options are near misses of one another (character swaps, visually
similar substitutions such as 0/8/B or 5/S, transpositions). They are built
around a hidden "centre" string so that every option, the true one included,
is one edit away from it: the correct option is not the one closest to all the
others, so the choices alone give nothing away. No option appears anywhere
else in the image.

Generation is deterministic in ``(seed, index)``; images and a JSONL manifest
are cached under ``cache_dir / f"probe4k-v{VERSION}-s{seed}-n{n}"``.

This module is self-contained: it imports nothing else from ``ps3_eval``.
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "CATEGORIES",
    "IMAGE_SIZE",
    "MRR_BUCKETS",
    "READ_RESOLUTIONS",
    "TEXT_HEIGHTS",
    "VERSION",
    "Probe4kItem",
    "default_cache_dir",
    "generate",
    "render_item",
    "text_height_for",
]

VERSION = 2
"""Bump whenever the drawn images or questions change; it is part of the cache key."""

CATEGORIES: tuple[str, ...] = ("autonomous_vehicle", "household", "gaming", "ui")
"""The four 4KPro scene categories."""

MRR_BUCKETS: tuple[str, ...] = ("1K", "2K", "4K")
"""Minimum recognizable resolution buckets, lowest first."""

READ_RESOLUTIONS: dict[str, int] = {"1K": 756, "2K": 1512, "4K": 3780}
"""Long side (px) at which each bucket's detail is designed to become legible."""

TEXT_HEIGHTS: dict[str, int] = {"1K": 40, "2K": 18, "4K": 9}
"""Designed cap height (px at 3840x2160) of the detail text per MRR bucket.

Calibrated with PP-OCRv4 (``ps3_eval.models.ocr_engine.OcrEngine.read_full``
plus ``match_option``; 24 items per point). Accuracy of picking the right
option: at 3780 px, 6-10 px heights read ~100% (5 px: 38%); at 1512 px, 9 px
reads 0%, 10 px 25%, 16-18 px 96%; at 756 px, 16 px reads 4%, 18 px 12%
(0% outside HUD counters, see ``_HEIGHT_OVERRIDES``), 20 px 25%, 28+ px 100%.
So the reader needs ~6 px of cap height after resizing, and each bucket's
height is ~1.4x above its threshold and ~1.3x below the next level's.
"""

IMAGE_SIZE: tuple[int, int] = (3840, 2160)
"""Width and height of every image."""

_MANIFEST = "manifest.jsonl"
_LETTERS = "ABCDEFGHJKMNPRSTUVWXYZ"  # no I/L/O/Q: they are ambiguous with 1/1/0/0 in print
# No zero in letter/digit codes: PP-OCR reads "0" between letters as "O" at any
# resolution (a font/OCR quirk, not a resolution effect), which broke items.
_DIGITS = "123456789"
# Visually similar substitutions. Every value stays inside _LETTERS/_DIGITS or
# the lower-case pseudo-word alphabet, so a near miss never introduces I/L/O.
_CONFUSABLE: dict[str, str] = {
    "0": "8D", "1": "7", "2": "Z7", "3": "8", "4": "A9", "5": "S6", "6": "G5", "7": "1",
    "8": "B30", "9": "4", "A": "4", "B": "8E", "C": "G", "D": "0B", "E": "F", "F": "E",
    "G": "6C", "H": "N", "K": "X", "M": "N", "N": "MH", "P": "R", "R": "P", "S": "5",
    "T": "Y", "U": "V", "V": "UY", "W": "V", "X": "K", "Y": "V", "Z": "2",
    "a": "oe", "e": "ca", "c": "e", "o": "ae", "n": "hmr", "m": "n", "h": "nb", "b": "hd",
    "d": "b", "r": "n", "u": "vn", "v": "u", "t": "f", "f": "t", "k": "x", "x": "k",
    "s": "z", "z": "s", "g": "q", "q": "g", "p": "q", "w": "v",
}  # fmt: skip
_SYLLABLES = (
    "ka", "ve", "dor", "ran", "mu", "tes", "bra", "gon", "pe", "sun", "tar", "vo", "nex",
    "ha", "zer", "cu", "mon", "det", "bu", "fen", "gra", "wo", "ret", "sa", "kor", "pu",
)  # fmt: skip
_NAMED_COLORS: dict[str, tuple[int, int, int]] = {
    "red": (196, 30, 36), "blue": (30, 70, 200), "green": (30, 140, 60),
    "yellow": (235, 200, 30), "white": (236, 236, 232), "black": (28, 28, 30),
    "orange": (235, 120, 20), "purple": (120, 50, 160), "silver": (160, 165, 170),
}  # fmt: skip

Box = tuple[int, int, int, int]


# ---------------------------------------------------------------------------
# Public data model
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe4kItem:
    """One Probe4K question.

    Attributes:
        id: Stable identifier, ``"probe4k-s{seed}-{index:05d}"``.
        image: Path of the 3840x2160 image.
        question: Question about one small text detail.
        choices: The four answer options, in A-D order.
        answer: Letter of the correct option (``"A"``-``"D"``).
        category: One of :data:`CATEGORIES`.
        mrr: Designed minimum recognizable resolution, one of :data:`MRR_BUCKETS`.
        bbox: ``[x0, y0, x1, y1]`` of the detail text in image pixels.
        text_height_px: Cap height of the detail text in image pixels.
        metadata: Template name and scene details (JSON-serialisable).
    """

    id: str
    image: Path
    question: str
    choices: tuple[str, str, str, str]
    answer: str
    category: str
    mrr: str
    bbox: tuple[int, int, int, int]
    text_height_px: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def answer_text(self) -> str:
        """The correct option's string."""
        return self.choices["ABCD".index(self.answer)]

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-serialisable dict (``image`` as a string, lists for tuples)."""
        d = asdict(self)
        d["image"] = str(self.image)
        d["choices"] = list(self.choices)
        d["bbox"] = list(self.bbox)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], root: Path | None = None) -> Probe4kItem:
        """Builds an item from :meth:`to_dict` output.

        Args:
            d: The dict.
            root: If given, a relative ``image`` path is resolved against it.

        Returns:
            The item.
        """
        image = Path(d["image"])
        if root is not None and not image.is_absolute():
            image = root / image
        c = d["choices"]
        b = d["bbox"]
        return cls(
            id=str(d["id"]),
            image=image,
            question=str(d["question"]),
            choices=(str(c[0]), str(c[1]), str(c[2]), str(c[3])),
            answer=str(d["answer"]),
            category=str(d["category"]),
            mrr=str(d["mrr"]),
            bbox=(int(b[0]), int(b[1]), int(b[2]), int(b[3])),
            text_height_px=int(d["text_height_px"]),
            metadata=dict(d.get("metadata") or {}),
        )


def text_height_for(mrr: str) -> int:
    """Designed cap height (px at 4K) of the detail text for an MRR bucket.

    A template may deviate (HUD counters use 14 px for "2K"); each item records
    its own ``text_height_px`` and ``metadata["designed_text_height"]``.

    Args:
        mrr: One of :data:`MRR_BUCKETS`.

    Returns:
        The cap height in pixels.

    Raises:
        ValueError: On an unknown bucket.
    """
    if mrr not in TEXT_HEIGHTS:
        raise ValueError(f"unknown MRR bucket {mrr!r}; valid: {', '.join(MRR_BUCKETS)}")
    return TEXT_HEIGHTS[mrr]


def default_cache_dir() -> Path:
    """The package's cache root (:func:`ps3_eval.paths.cache_root`)."""
    from ps3_eval.paths import cache_root

    return cache_root()


# ---------------------------------------------------------------------------
# Fonts and text
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _font(size: int) -> ImageFont.FreeTypeFont:
    # Pillow's built-in scalable font (Aileron Regular, needs FreeType, which
    # every PyPI wheel has): no system font is required, so CI renders the same.
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):  # pragma: no cover - FreeType-less Pillow
        raise RuntimeError("Probe4K needs Pillow built with FreeType (ImageFont.load_default)")
    return font


def _cap_height(size: int) -> int:
    box = _font(size).getbbox("H")
    return int(box[3] - box[1])


@functools.lru_cache(maxsize=256)
def _font_size_for_cap(cap: int) -> int:
    """Smallest font size whose rendered 'H' is closest to ``cap`` pixels tall."""
    guess = max(4, round(cap / 0.7))
    best = min(range(max(4, guess - 4), guess + 5), key=lambda s: (abs(_cap_height(s) - cap), s))
    return best


def _cap_font(cap: int) -> ImageFont.FreeTypeFont:
    return _font(_font_size_for_cap(cap))


def _text_wh(text: str, cap: int) -> tuple[int, int]:
    box = _cap_font(cap).getbbox(text, anchor="ls")
    return int(box[2] - box[0]), int(box[3] - box[1])


def _norm(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


# ---------------------------------------------------------------------------
# Random strings and near misses
# ---------------------------------------------------------------------------


def _code(rng: random.Random, pattern: str) -> str:
    """Random string: 'A' letter, '9' digit, '*' letter or digit, others literal."""
    out = []
    for ch in pattern:
        if ch == "A":
            out.append(rng.choice(_LETTERS))
        elif ch == "9":
            out.append(rng.choice(_DIGITS))
        elif ch == "*":
            out.append(rng.choice(_LETTERS + _DIGITS))
        else:
            out.append(ch)
    return "".join(out)


def _word(rng: random.Random, syllables: tuple[int, int] = (2, 3)) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(*syllables))).capitalize()


def _same_class(a: str, b: str) -> bool:
    return a.isdigit() == b.isdigit()


def _one_edit_variants(s: str, keep_class: bool) -> dict[str, int]:
    """All strings one substitution or adjacent transposition away, keyed to the edit position."""
    out: dict[str, int] = {}
    has_letters = any(c.isalpha() for c in s)
    for i, ch in enumerate(s):
        for sub in _CONFUSABLE.get(ch, ""):
            if keep_class and not _same_class(ch, sub):
                continue
            if sub == "0" and has_letters:
                continue  # see _DIGITS
            if i == 0 and ch.isupper() != sub.isupper() and s[:1].isalpha():
                continue  # keep a capitalised word capitalised
            out.setdefault(s[:i] + sub + s[i + 1 :], i)
        if i + 1 < len(s) and s[i + 1] != ch and ch.isalnum() and s[i + 1].isalnum():
            if i == 0 and ch.isupper() != s[1].isupper():
                continue
            out.setdefault(s[:i] + s[i + 1] + ch + s[i + 2 :], i)
    return out


def _near_misses(
    rng: random.Random, make: Callable[[random.Random], str], keep_class: bool = False
) -> tuple[str, list[str]]:
    """Draws a truth and three near misses, symmetric around a hidden centre.

    All four strings are single edits of one random centre string, spread over
    different character positions where possible, and pairwise distinct even
    after case and punctuation are dropped.

    Returns:
        ``(truth, [truth, miss1, miss2, miss3])``.
    """
    for _ in range(200):
        centre = make(rng)
        variants = _one_edit_variants(centre, keep_class)
        by_pos: dict[int, list[str]] = {}
        for v, pos in sorted(variants.items()):
            if _norm(v) != _norm(centre):
                by_pos.setdefault(pos, []).append(v)
        positions = sorted(by_pos)
        rng.shuffle(positions)
        picked: list[str] = []
        # One option per edit position first, then fill up from any position.
        pool = [rng.choice(by_pos[p]) for p in positions]
        pool += [v for p in positions for v in by_pos[p]]
        for v in pool:
            if all(_norm(v) != _norm(w) for w in picked):
                picked.append(v)
            if len(picked) == 4:
                break
        if len(picked) == 4:
            rng.shuffle(picked)
            return picked[0], picked
    raise RuntimeError("could not build near-miss options")  # pragma: no cover


# ---------------------------------------------------------------------------
# Drawing helpers
# ---------------------------------------------------------------------------


class _Canvas:
    """A 4K image plus bookkeeping: reserved areas and every string drawn."""

    def __init__(self, image: Image.Image, rng: random.Random, options: Sequence[str]) -> None:
        self.image = image
        self.draw = ImageDraw.Draw(image)
        self.rng = rng
        self.reserved: list[Box] = []
        self.options = [_norm(o) for o in options]
        self.texts: list[str] = []

    def clashes(self, text: str) -> bool:
        """True if ``text`` contains (or is contained in) an answer option."""
        t = _norm(text)
        return any(o in t or (t and t in o and len(t) >= 3) for o in self.options)

    def free(self, box: Box, pad: int = 0) -> bool:
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
        fill: tuple[int, int, int],
        anchor: str = "ls",
    ) -> Box:
        font = _cap_font(cap)
        self.draw.text(xy, text, font=font, fill=fill, anchor=anchor)
        self.texts.append(text)
        b = self.draw.textbbox(xy, text, font=font, anchor=anchor)
        return (int(b[0]), int(b[1]), int(b[2]), int(b[3]))

    def safe(self, make: Callable[[], str]) -> str:
        """A distractor string from ``make`` that does not contain any option."""
        for _ in range(100):
            s = make()
            if not self.clashes(s):
                return s
        raise RuntimeError("could not draw a non-clashing distractor")  # pragma: no cover


def _background(
    np_rng: np.random.Generator,
    top: tuple[int, int, int],
    bottom: tuple[int, int, int],
    noise: int = 6,
) -> Image.Image:
    w, h = IMAGE_SIZE
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    col = (1 - t) * np.asarray(top, np.float32) + t * np.asarray(bottom, np.float32)  # (h, 3)
    # Low-resolution noise upsampled 4x: textured like sensor noise/dither but
    # ~16x cheaper to draw and far kinder to the compressed file size.
    small = np_rng.integers(-noise, noise + 1, size=(h // 4, w // 4), dtype=np.int16)
    grain = np.repeat(np.repeat(small, 4, axis=0), 4, axis=1)
    arr = col[:, None, :] + grain[:, :, None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def _rand_color(rng: random.Random, lo: int = 30, hi: int = 230) -> tuple[int, int, int]:
    return (rng.randint(lo, hi), rng.randint(lo, hi), rng.randint(lo, hi))


def _contrast(c: tuple[int, int, int]) -> tuple[int, int, int]:
    return (20, 20, 24) if sum(c) > 380 else (240, 240, 236)


def _shapes(cv: _Canvas, count: int, region: Box) -> None:
    """Random rectangles, ellipses and lines: visual clutter without text."""
    rng, d = cv.rng, cv.draw
    for _ in range(count):
        w, h = rng.randint(30, 400), rng.randint(30, 300)
        x, y = rng.randint(region[0], region[2] - w), rng.randint(region[1], region[3] - h)
        box = (x, y, x + w, y + h)
        if not cv.free(box, pad=8):
            continue
        kind = rng.random()
        color = _rand_color(rng)
        if kind < 0.4:
            d.rectangle(box, fill=color)
        elif kind < 0.75:
            d.ellipse(box, fill=color)
        else:
            d.line((x, y, x + w, y + h), fill=color, width=rng.randint(2, 12))


def _distractor_texts(
    cv: _Canvas, count: int, region: Box, make: Callable[[], str], caps: Sequence[int]
) -> None:
    """Readable text that is never an answer option, at assorted sizes."""
    rng = cv.rng
    for _ in range(count):
        s = cv.safe(make)
        cap = rng.choice(list(caps))
        tw, th = _text_wh(s, cap)
        pad = max(4, cap // 3)
        for _ in range(12):
            x = rng.randint(region[0], max(region[0], region[2] - tw - 2 * pad))
            y = rng.randint(region[1], max(region[1], region[3] - th - 2 * pad))
            box = (x, y, x + tw + 2 * pad, y + th + 2 * pad)
            if cv.free(box, pad=6):
                bg = _rand_color(rng) if rng.random() < 0.5 else None
                if bg is not None:
                    cv.draw.rectangle(box, fill=bg)
                fg = _contrast(bg) if bg is not None else _rand_color(rng, 0, 255)
                cv.text((x + pad, y + pad + th), s, cap, fg, anchor="ls")
                cv.reserved.append(box)
                break


def _mixed_text(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.35:
        return _word(rng)
    if r < 0.6:
        return f"{_word(rng)} {_word(rng, (1, 2))}"
    if r < 0.85:
        return _code(rng, rng.choice(["AA99", "9A9A9", "A-999", "99:99", "AAA 99"]))
    return str(rng.randint(1, 99999))


def _detail_caps(cap: int) -> list[int]:
    # Distractor sizes straddle every bucket, so tiny text is not a give-away.
    return sorted({max(8, cap), 10, 14, 22, 32, 48, 70, 100})


# ---------------------------------------------------------------------------
# Scene templates
# ---------------------------------------------------------------------------


@dataclass
class _Spec:
    """What a template produced: the question, options and detail geometry."""

    template: str
    question: str
    truth: str
    options: list[str]
    bbox: Box
    extra: dict[str, Any] = field(default_factory=dict)


def _place(cv: _Canvas, w: int, h: int, region: Box, pad: int = 20) -> tuple[int, int]:
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


def _car(
    cv: _Canvas, x: int, y: int, plate_cap: int, color: tuple[int, int, int], plate: str
) -> Box:
    """Draws a rear view of a car with its plate; returns the plate text bbox."""
    d = cv.draw
    tw, _ = _text_wh(plate, plate_cap)
    pw, ph = tw + plate_cap * 2, int(plate_cap * 2.0)
    cw = max(int(pw * 3.6), 60)
    ch = int(cw * 0.62)
    d.rounded_rectangle((x, y + ch // 3, x + cw, y + ch), radius=cw // 12, fill=color)
    d.rounded_rectangle(
        (x + cw // 8, y, x + cw - cw // 8, y + ch // 3 + cw // 20), radius=cw // 14, fill=color
    )
    d.rectangle((x + cw // 6, y + cw // 30, x + cw - cw // 6, y + ch // 3), fill=(60, 75, 90))
    for lx in (x + cw // 14, x + cw - cw // 14 - cw // 7):  # tail lights
        d.rectangle((lx, y + ch // 2, lx + cw // 7, y + ch // 2 + ch // 9), fill=(200, 20, 20))
    for wx in (x + cw // 12, x + cw - cw // 12 - cw // 6):
        d.rectangle((wx, y + ch, wx + cw // 6, y + ch + ch // 8), fill=(15, 15, 15))
    px, py = x + (cw - pw) // 2, y + int(ch * 0.68)
    d.rectangle((px, py, px + pw, py + ph), fill=(250, 250, 245), outline=(20, 20, 20))
    cv.reserved.append((x, y, x + cw, y + ch + ch // 8))
    return cv.text((px + pw // 2, py + ph // 2), plate, plate_cap, (15, 15, 20), anchor="mm")


def _scene_plate(cv: _Canvas, np_rng: np.random.Generator, cap: int, truth: str) -> _Spec:
    rng, d = cv.rng, cv.draw
    horizon = rng.randint(700, 900)
    d.rectangle((0, horizon, IMAGE_SIZE[0], IMAGE_SIZE[1]), fill=(92, 94, 98))
    for lane in range(1, 4):  # perspective lane markings
        x_far = 1920 + (lane - 2) * 160
        x_near = 1920 + (lane - 2) * 1500
        d.line((x_far, horizon, x_near, IMAGE_SIZE[1]), fill=(230, 230, 220), width=10)
    for _ in range(rng.randint(5, 9)):  # buildings on the horizon
        bw, bh = rng.randint(150, 500), rng.randint(200, 600)
        bx = rng.randint(0, IMAGE_SIZE[0] - bw)
        d.rectangle((bx, horizon - bh, bx + bw, horizon), fill=_rand_color(rng, 60, 160))
    colors = list(_NAMED_COLORS)
    rng.shuffle(colors)
    target_color = colors[0]
    # The target car first so it always finds room; others are bigger or smaller.
    tw, _ = _text_wh(truth, cap)
    cw = int((tw + cap * 2) * 3.6)
    x, y = _place(cv, cw, int(cw * 0.75), (80, horizon + 60, IMAGE_SIZE[0] - 80, 2080))
    bbox = _car(cv, x, y, cap, _NAMED_COLORS[target_color], truth)
    for color in colors[1 : rng.randint(4, 7)]:
        pcap = rng.choice(_detail_caps(cap)[:6])
        plate = cv.safe(lambda: _code(rng, "AA99 AAA"))
        pw, _ = _text_wh(plate, pcap)
        ocw = int((pw + pcap * 2) * 3.6)
        if ocw > 1500:
            continue
        ox, oy = _place(cv, ocw, int(ocw * 0.75), (40, horizon + 40, IMAGE_SIZE[0] - 40, 2120))
        if cv.free((ox, oy, ox + ocw, oy + int(ocw * 0.75)), pad=10):
            _car(cv, ox, oy, pcap, _NAMED_COLORS[color], plate)
    _shapes(cv, 12, (0, horizon, IMAGE_SIZE[0], IMAGE_SIZE[1]))
    _distractor_texts(
        cv, 14, (0, 0, IMAGE_SIZE[0], horizon), lambda: _mixed_text(rng), [14, 22, 32, 48, 70]
    )
    _distractor_texts(
        cv,
        8,
        (0, horizon, IMAGE_SIZE[0], IMAGE_SIZE[1]),
        lambda: _mixed_text(rng),
        _detail_caps(cap),
    )
    return _Spec(
        "licence_plate",
        f"What is the licence plate of the {target_color} car?",
        truth,
        [],
        bbox,
        {"target_color": target_color},
    )


def _scene_gantry(cv: _Canvas, np_rng: np.random.Generator, cap: int, truth: str) -> _Spec:
    rng, d = cv.rng, cv.draw
    d.rectangle((0, 1300, IMAGE_SIZE[0], IMAGE_SIZE[1]), fill=(88, 90, 94))
    beam_y = rng.randint(250, 450)
    d.rectangle((0, beam_y - 30, IMAGE_SIZE[0], beam_y), fill=(120, 120, 125))
    for px in (200, IMAGE_SIZE[0] - 260):
        d.rectangle((px, beam_y, px + 60, 1500), fill=(120, 120, 125))
    n_panels = rng.randint(2, 4)
    slot = (IMAGE_SIZE[0] - 600) // n_panels
    target = rng.randrange(n_panels)
    dests: list[str] = []
    bbox: Box = (0, 0, 0, 0)
    for k in range(n_panels):
        x0 = 320 + k * slot + 30
        x1 = x0 + slot - 60
        y0 = beam_y + 10
        y1 = y0 + rng.randint(420, 640)
        d.rectangle((x0, y0, x1, y1), fill=(20, 110, 60), outline=(240, 240, 240), width=6)
        dest = cv.safe(lambda: _word(rng))
        while dest in dests:
            dest = cv.safe(lambda: _word(rng))
        dests.append(dest)
        cv.text((x0 + 40, y0 + 110), dest, 70, (245, 245, 245))
        cv.text((x0 + 40, y0 + 200), cv.safe(lambda: _word(rng)), 40, (245, 245, 245))
        cv.reserved.append((x0, y0, x1, y1))
        ecap = cap if k == target else rng.choice([10, 16, 24, 40])
        label = truth if k == target else cv.safe(lambda: _code(rng, "99A"))
        tw, th = _text_wh(label, ecap)
        tx0, ty0 = x1 - tw - 2 * ecap - 20, y1 - th - 2 * ecap - 20
        d.rectangle((tx0, ty0, x1 - 20, y1 - 20), fill=(240, 240, 240))
        b = cv.text(((tx0 + x1 - 20) // 2, (ty0 + y1 - 20) // 2), label, ecap, (10, 60, 30), "mm")
        if k == target:
            bbox = b
        ex = max(x0 + 40, tx0 - _text_wh("EXIT", ecap)[0] - ecap)
        cv.text((ex, (ty0 + y1 - 20) // 2), "EXIT", ecap, (245, 245, 245), "lm")
    _shapes(cv, 10, (0, 1300, IMAGE_SIZE[0], IMAGE_SIZE[1]))
    _distractor_texts(
        cv, 16, (0, 1100, IMAGE_SIZE[0], IMAGE_SIZE[1]), lambda: _mixed_text(rng), _detail_caps(cap)
    )
    return _Spec(
        "gantry_exit",
        f"What exit number is shown on the overhead gantry sign for {dests[target]}?",
        truth,
        [],
        bbox,
        {"destination": dests[target], "panels": n_panels},
    )


def _scene_appliance(cv: _Canvas, np_rng: np.random.Generator, cap: int, truth: str) -> _Spec:
    rng, d = cv.rng, cv.draw
    d.rectangle((0, 1500, IMAGE_SIZE[0], IMAGE_SIZE[1]), fill=(150, 120, 90))  # floor
    names = ["fridge", "washing machine", "microwave", "oven", "dishwasher", "dryer"]
    rng.shuffle(names)
    n = rng.randint(3, 4)
    target = rng.randrange(n)
    slot = IMAGE_SIZE[0] // n
    bbox: Box = (0, 0, 0, 0)
    for k in range(n):
        w = rng.randint(slot // 2, slot - 120)
        h = rng.randint(700, 1300) if names[k] != "microwave" else rng.randint(400, 600)
        x0 = k * slot + (slot - w) // 2
        y0 = 1600 - h
        body = _rand_color(rng, 170, 245)
        d.rectangle((x0, y0, x0 + w, 1600), fill=body, outline=(60, 60, 60), width=5)
        d.rectangle((x0 + 30, y0 + 30, x0 + w - 30, y0 + h // 3), outline=(90, 90, 90), width=4)
        d.ellipse(
            (x0 + w // 2 - 60, y0 + h // 2 - 60, x0 + w // 2 + 60, y0 + h // 2 + 60),
            fill=_rand_color(rng),
        )
        cv.text((x0 + 50, y0 + 110), cv.safe(lambda: _word(rng)).upper(), 48, (40, 40, 50))
        cv.reserved.append((x0, y0, x0 + w, 1600))
        lcap = cap if k == target else rng.choice([10, 14, 22, 34])
        code = truth if k == target else cv.safe(lambda: _code(rng, "AA-9A99"))
        tw, _ = _text_wh(code, lcap)
        lw, lh = tw + 3 * lcap, 5 * lcap
        lx, ly = x0 + w - lw - 40, 1600 - lh - 60
        d.rectangle((lx, ly, lx + lw, ly + lh), fill=(250, 250, 250), outline=(30, 30, 30))
        cv.text((lx + lcap, ly + int(1.5 * lcap)), "MODEL", max(6, lcap * 2 // 3), (30, 30, 30))
        b = cv.text((lx + int(1.5 * lcap), ly + int(3.8 * lcap)), code, lcap, (10, 10, 10))
        if k == target:
            bbox = b
    _shapes(cv, 14, (0, 1600, IMAGE_SIZE[0], IMAGE_SIZE[1]))
    _distractor_texts(
        cv, 18, (0, 0, IMAGE_SIZE[0], IMAGE_SIZE[1]), lambda: _mixed_text(rng), _detail_caps(cap)
    )
    return _Spec(
        "appliance_label",
        f"What is the model number on the label of the {names[target]}?",
        truth,
        [],
        bbox,
        {"appliance": names[target]},
    )


def _scene_package(cv: _Canvas, np_rng: np.random.Generator, cap: int, truth: str) -> _Spec:
    rng, d = cv.rng, cv.draw
    shelves = [700, 1400, 2100]
    for sy in shelves:
        d.rectangle((0, sy, IMAGE_SIZE[0], sy + 40), fill=(110, 80, 50))
    colors = list(_NAMED_COLORS)
    rng.shuffle(colors)
    target_color = colors[0]
    bbox: Box = (0, 0, 0, 0)
    slots = [(row, col) for row in range(3) for col in range(6)]
    rng.shuffle(slots)
    for k, (row, col) in enumerate(slots[: rng.randint(6, 9)]):
        target = k == 0
        color = colors[k % len(colors)] if target or k < len(colors) else rng.choice(colors[1:])
        if not target and color == target_color:
            continue
        w, h = rng.randint(380, 600), rng.randint(400, 620)
        x0 = col * 640 + (640 - w) // 2
        y0 = shelves[row] - h
        fill = _NAMED_COLORS[color]
        d.rectangle((x0, y0, x0 + w, shelves[row]), fill=fill, outline=(30, 30, 30), width=4)
        cv.text((x0 + 30, y0 + 90), cv.safe(lambda: _word(rng)), 56, _contrast(fill))
        cv.reserved.append((x0, y0, x0 + w, shelves[row]))
        pcap = cap if target else rng.choice([10, 14, 22, 34])
        lot = truth if target else cv.safe(lambda: _code(rng, "9A99A"))
        tw, th = _text_wh("LOT:" + lot, pcap)
        tw += 2 * pcap  # label-value gap, see _scene_statusbar
        px, py = x0 + w - tw - 2 * pcap - 20, shelves[row] - 2 * pcap - 20
        d.rectangle((px - pcap, py - th - pcap, px + tw + pcap, py + pcap), fill=(250, 250, 250))
        cv.text((px, py), "LOT:", pcap, (10, 10, 10))
        b = cv.text((px + _text_wh("LOT:", pcap)[0] + 2 * pcap, py), lot, pcap, (10, 10, 10))
        if target:
            bbox = b
    _shapes(cv, 8, (0, 0, IMAGE_SIZE[0], IMAGE_SIZE[1]))
    _distractor_texts(
        cv, 18, (0, 0, IMAGE_SIZE[0], IMAGE_SIZE[1]), lambda: _mixed_text(rng), _detail_caps(cap)
    )
    return _Spec(
        "package_lot",
        f"What lot code is printed on the {target_color} box?",
        truth,
        [],
        bbox,
        {"target_color": target_color},
    )


def _scene_hud(cv: _Canvas, np_rng: np.random.Generator, cap: int, truth: str) -> _Spec:
    rng, d = cv.rng, cv.draw
    for _ in range(6):  # hills
        cx, r = rng.randint(0, IMAGE_SIZE[0]), rng.randint(400, 1200)
        d.ellipse((cx - r, 1300 - r // 3, cx + r, 1300 + r), fill=_rand_color(rng, 40, 140))
    _shapes(cv, 25, (0, 300, IMAGE_SIZE[0], IMAGE_SIZE[1]))
    counters = ["AMMO", "GOLD", "SCORE", "KILLS", "ARROWS"]
    rng.shuffle(counters)
    target = counters[0]
    corners = [(60, 60), (IMAGE_SIZE[0] - 60, 60), (60, 2100), (IMAGE_SIZE[0] - 60, 2100)]
    rng.shuffle(corners)
    bbox: Box = (0, 0, 0, 0)
    for k, (name, (cx, cy)) in enumerate(zip(counters[:4], corners, strict=True)):
        hcap = cap if k == 0 else rng.choice([10, 16, 24, 40, 60])
        value = (
            truth if k == 0 else cv.safe(lambda: f"{rng.randint(10, 999)}/{rng.randint(100, 999)}")
        )
        label = name
        lw_, th = _text_wh(label, hcap)
        lw_ += 2 * hcap  # label-value gap, see _scene_statusbar
        vw, _ = _text_wh(value, hcap)
        w, h = lw_ + vw + 2 * hcap, th + 2 * hcap
        x0 = cx if cx < 1920 else cx - w
        y0 = cy if cy < 1080 else cy - h
        d.rectangle((x0, y0, x0 + w, y0 + h), fill=(20, 20, 30))
        cv.text((x0 + hcap, y0 + hcap + th), label, hcap, (200, 200, 120))
        b = cv.text((x0 + hcap + lw_, y0 + hcap + th), value, hcap, (250, 250, 250))
        cv.reserved.append((x0, y0, x0 + w, y0 + h))
        if k == 0:
            bbox = b
    d.ellipse(
        (1700, 1800, 2140, 2140), fill=(30, 40, 30), outline=(200, 200, 200), width=6
    )  # minimap
    cv.reserved.append((1700, 1800, 2140, 2140))
    _distractor_texts(
        cv, 22, (0, 0, IMAGE_SIZE[0], IMAGE_SIZE[1]), lambda: _mixed_text(rng), _detail_caps(cap)
    )
    return _Spec(
        "hud_counter",
        f"What does the {target} counter in the HUD show?",
        truth,
        [],
        bbox,
        {"counter": target},
    )


def _scene_inventory(cv: _Canvas, np_rng: np.random.Generator, cap: int, truth: str) -> _Spec:
    rng, d = cv.rng, cv.draw
    _shapes(cv, 20, (0, 0, IMAGE_SIZE[0], IMAGE_SIZE[1]))
    cols, rows = rng.randint(4, 6), rng.randint(2, 3)
    cell = 420
    gx0 = (IMAGE_SIZE[0] - cols * cell) // 2
    gy0 = rng.randint(300, 2160 - rows * cell - 100)
    d.rectangle(
        (gx0 - 40, gy0 - 40, gx0 + cols * cell + 40, gy0 + rows * cell + 40), fill=(25, 22, 30)
    )
    cv.reserved.append((gx0 - 40, gy0 - 120, gx0 + cols * cell + 40, gy0 + rows * cell + 40))
    cv.text((gx0, gy0 - 60), "INVENTORY", 48, (230, 210, 150))
    target = (rng.randrange(rows), rng.randrange(cols))
    bbox: Box = (0, 0, 0, 0)
    for r in range(rows):
        for c in range(cols):
            x0, y0 = gx0 + c * cell + 15, gy0 + r * cell + 15
            is_t = (r, c) == target
            d.rectangle(
                (x0, y0, x0 + cell - 30, y0 + cell - 30),
                fill=(55, 50, 65),
                outline=(255, 210, 0) if is_t else (90, 90, 100),
                width=14 if is_t else 4,
            )
            d.ellipse((x0 + 110, y0 + 50, x0 + 280, y0 + 220), fill=_rand_color(rng, 60, 255))
            icap = cap if is_t else rng.choice([10, 14, 22, 30])
            name = truth if is_t else cv.safe(lambda: _word(rng))
            b = cv.text((x0 + (cell - 30) // 2, y0 + cell - 70), name, icap, (240, 240, 240), "ms")
            if is_t:
                bbox = b
    _distractor_texts(
        cv, 18, (0, 0, IMAGE_SIZE[0], IMAGE_SIZE[1]), lambda: _mixed_text(rng), _detail_caps(cap)
    )
    return _Spec(
        "inventory_item",
        "What is the name of the item in the highlighted inventory slot?",
        truth,
        [],
        bbox,
        {"slot": list(target)},
    )


def _scene_menu(cv: _Canvas, np_rng: np.random.Generator, cap: int, truth: str) -> _Spec:
    rng, d = cv.rng, cv.draw
    wx0, wy0 = rng.randint(40, 400), rng.randint(40, 200)
    wx1, wy1 = IMAGE_SIZE[0] - rng.randint(40, 400), IMAGE_SIZE[1] - rng.randint(40, 200)
    d.rectangle((wx0, wy0, wx1, wy1), fill=(246, 246, 248), outline=(120, 120, 130), width=3)
    d.rectangle((wx0, wy0, wx1, wy0 + 60), fill=(52, 58, 70))
    cv.text((wx0 + 30, wy0 + 42), cv.safe(lambda: _word(rng)) + " - Editor", 26, (240, 240, 240))
    bar_h = max(40, 3 * cap)
    d.rectangle((wx0, wy0 + 60, wx1, wy0 + 60 + bar_h), fill=(228, 228, 232))
    headers = [cv.safe(lambda: _word(rng, (2, 2))) for _ in range(rng.randint(4, 6))]
    open_k = rng.randrange(len(headers))
    hx = wx0 + 30
    entries = [cv.safe(lambda: _word(rng)) for _ in range(rng.randint(4, 7))]
    t_idx = rng.randrange(1, len(entries))
    entries[t_idx] = truth
    menu_x = hx
    for k, head in enumerate(headers):
        if k == open_k:
            menu_x = hx
        cv.text((hx, wy0 + 60 + bar_h // 2), head, cap, (20, 20, 30), "lm")
        hx += _text_wh(head, cap)[0] + 3 * cap
    # The open drop-down menu below the header.
    ew = max(_text_wh(e, cap)[0] for e in entries) + 4 * cap
    row = int(cap * 2.4)
    my0 = wy0 + 60 + bar_h
    d.rectangle(
        (menu_x - cap, my0, menu_x - cap + ew, my0 + row * len(entries) + cap),
        fill=(255, 255, 255),
        outline=(100, 100, 110),
        width=2,
    )
    cv.reserved.append((wx0, wy0, wx1, my0 + row * len(entries) + cap + 20))
    bbox: Box = (0, 0, 0, 0)
    for k, e in enumerate(entries):
        b = cv.text((menu_x, my0 + row * k + row // 2 + cap // 2), e, cap, (20, 20, 30), "lm")
        if k == t_idx:
            bbox = b
    # Sidebar and document body: plenty of readable text of other sizes.
    _distractor_texts(
        cv,
        28,
        (wx0 + 20, my0 + row * len(entries) + 60, wx1 - 20, wy1 - 80),
        lambda: _mixed_text(rng),
        _detail_caps(cap),
    )
    _distractor_texts(
        cv, 10, (wx0 + 20, wy0 + 80, wx1 - 20, wy1 - 80), lambda: _mixed_text(rng), [14, 22, 32]
    )
    _shapes(cv, 8, (wx0 + 20, wy0 + 80, wx1 - 20, wy1 - 80))
    return _Spec(
        "menu_entry",
        f"In the open '{headers[open_k]}' menu, which entry comes directly below "
        f"'{entries[t_idx - 1]}'?",
        truth,
        [],
        bbox,
        {"menu": headers[open_k], "above": entries[t_idx - 1]},
    )


def _scene_statusbar(cv: _Canvas, np_rng: np.random.Generator, cap: int, truth: str) -> _Spec:
    rng, d = cv.rng, cv.draw
    bar_h = max(44, int(cap * 2.6))
    at_top = rng.random() < 0.5
    by0 = 0 if at_top else IMAGE_SIZE[1] - bar_h
    d.rectangle((0, by0, IMAGE_SIZE[0], by0 + bar_h), fill=(30, 90, 160))
    cv.reserved.append((0, by0, IMAGE_SIZE[0], by0 + bar_h))
    fields = [
        f"Ln {rng.randint(1, 999)}, Col {rng.randint(1, 99)}",
        "UTF-8",
        f"{rng.randint(10, 23)}:{rng.randint(10, 59)}",
        f"{rng.randint(10, 99)}%",
        cv.safe(lambda: _word(rng, (2, 2))),
    ]
    fields = [f for f in fields if not cv.clashes(f)]
    fields.insert(rng.randint(0, len(fields)), "BUILD")
    x = 40
    bbox: Box = (0, 0, 0, 0)
    for f in fields:
        fcap = cap if rng.random() < 0.7 else max(8, int(cap * 1.3))
        if f == "BUILD":
            cv.text((x, by0 + bar_h // 2), "Build:", cap, (240, 240, 240), "lm")
            # Colon plus a 2-cap gap: with a plain space (even a 1-cap gap) the
            # OCR returns one word ("Build7E88V") and whole-word matching fails.
            x += _text_wh("Build:", cap)[0] + 2 * cap
            bbox = cv.text((x, by0 + bar_h // 2), truth, cap, (240, 240, 240), "lm")
            x += _text_wh(truth, cap)[0] + 4 * cap
        else:
            cv.text((x, by0 + bar_h // 2), f, fcap, (240, 240, 240), "lm")
            x += _text_wh(f, fcap)[0] + 4 * fcap
    region = (
        (0, bar_h + 20, IMAGE_SIZE[0], IMAGE_SIZE[1]) if at_top else (0, 0, IMAGE_SIZE[0], by0 - 20)
    )
    for _ in range(rng.randint(3, 5)):  # windows
        w, h = rng.randint(700, 1500), rng.randint(500, 1000)
        x0, y0 = _place(cv, w, h, region, pad=10)
        d.rectangle((x0, y0, x0 + w, y0 + h), fill=(250, 250, 250), outline=(90, 90, 90), width=3)
        d.rectangle((x0, y0, x0 + w, y0 + 50), fill=_rand_color(rng, 60, 200))
    _distractor_texts(cv, 30, region, lambda: _mixed_text(rng), _detail_caps(cap))
    return _Spec(
        "status_bar_build",
        "What build number is shown in the status bar?",
        truth,
        [],
        bbox,
        {"bar": "top" if at_top else "bottom"},
    )


# Per-template exceptions to TEXT_HEIGHTS. Digit-only HUD counters (light on a
# dark panel) are easier to read: at the nominal 18 px "2K" height the OCR still
# read 3 of 4 of them at 756 px; at 14 px it read 0 of 12 at 756 and 12 of 12
# at 1512. (Shrinking their "4K" height too would hurt: 7 px read 9/12 at 3780.)
_HEIGHT_OVERRIDES: dict[str, dict[str, int]] = {"_scene_hud": {"2K": 14}}

_Scene = Callable[[_Canvas, np.random.Generator, int, str], _Spec]

# Per template: scene function, background colours, truth generator, keep digit class.
_TEMPLATES: dict[
    str,
    list[
        tuple[
            _Scene, tuple[int, int, int], tuple[int, int, int], Callable[[random.Random], str], bool
        ]
    ],
] = {
    "autonomous_vehicle": [
        (_scene_plate, (150, 190, 235), (210, 225, 240), lambda r: _code(r, "AA99 AAA"), False),
        (
            _scene_gantry,
            (120, 170, 230),
            (200, 215, 235),
            lambda r: _code(r, r.choice(["99A", "999"])),
            False,
        ),
    ],
    "household": [
        (_scene_appliance, (225, 220, 205), (190, 180, 165), lambda r: _code(r, "AA-9A99"), False),
        (_scene_package, (235, 232, 225), (205, 200, 190), lambda r: _code(r, "9A99A"), False),
    ],
    "gaming": [
        (
            _scene_hud,
            (70, 120, 200),
            (40, 70, 40),
            lambda r: f"{r.randint(10, 999)}/{r.randint(100, 999)}",
            True,
        ),
        (_scene_inventory, (30, 30, 50), (60, 40, 60), lambda r: _word(r, (2, 3)), False),
    ],
    "ui": [
        (_scene_menu, (40, 70, 110), (90, 120, 150), lambda r: _word(r, (2, 3)), False),
        (_scene_statusbar, (60, 100, 140), (140, 170, 190), lambda r: _code(r, "9A99A"), False),
    ],
}


# ---------------------------------------------------------------------------
# Item assignment and rendering
# ---------------------------------------------------------------------------


def _assignment(index: int, categories: Sequence[str], seed: int) -> tuple[str, str, int]:
    """Category, MRR bucket and answer position of item ``index``.

    Categories cycle with period C and buckets with period 3, with a shift
    every lcm(C, 3) items, so every (category, bucket) pair occurs once per
    3C items and every prefix is balanced within one item on both margins.
    Answer positions are a seeded permutation of A-D per block of four items.
    """
    c = len(categories)
    period = c * 3 // math.gcd(c, 3)
    category = categories[index % c]
    mrr = MRR_BUCKETS[(index + index // period) % 3]
    perm = random.Random(f"probe4k-answers|{seed}|{index // 4}").sample(range(4), 4)
    return category, mrr, perm[index % 4]


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
        category: One of :data:`CATEGORIES`.
        mrr: One of :data:`MRR_BUCKETS`.
        answer_pos: 0-3, the position of the correct option.
        text_height: Override the detail cap height, in px, exactly (for
            calibration sweeps; per-template exceptions are not applied).

    Returns:
        ``(image, fields)`` where ``fields`` holds every :class:`Probe4kItem`
        field except ``id`` and ``image``.
    """
    for attempt in range(20):
        suffix = f"|retry{attempt}" if attempt else ""
        rng = random.Random(f"probe4k-v{VERSION}|{seed}|{index}{suffix}")
        np_rng = np.random.default_rng([VERSION, seed, index, attempt])
        templates = _TEMPLATES[category]
        scene, top, bottom, make_truth, keep_class = templates[rng.randrange(len(templates))]
        designed = _HEIGHT_OVERRIDES.get(scene.__name__, {}).get(mrr, text_height_for(mrr))
        cap = text_height if text_height is not None else designed
        truth, options = _near_misses(rng, make_truth, keep_class)
        # Put the truth at answer_pos; the misses keep their random order.
        misses = [o for o in options if o != truth]
        choices = [*misses[:answer_pos], truth, *misses[answer_pos:]]
        image = _background(np_rng, top, bottom)
        cv = _Canvas(image, rng, choices)
        spec = scene(cv, np_rng, cap, truth)
        # Final guarantee (fixed labels such as "EXIT" bypass _Canvas.safe): the
        # truth is drawn exactly once and no option occurs in other text or the question.
        others = list(cv.texts)
        if truth in others:
            others.remove(truth)
        if truth not in cv.texts or not any(cv.clashes(t) for t in [*others, spec.question]):
            break
    else:  # pragma: no cover - never observed
        raise RuntimeError(f"could not draw item {index} without option clashes")
    x0, y0, x1, y1 = spec.bbox
    return image, {
        "question": spec.question,
        "choices": (choices[0], choices[1], choices[2], choices[3]),
        "answer": "ABCD"[answer_pos],
        "category": category,
        "mrr": mrr,
        "bbox": (x0, y0, x1, y1),
        "text_height_px": _cap_height(_font_size_for_cap(cap)),
        "metadata": {
            "template": spec.template,
            "font": "Pillow default (Aileron Regular)",
            "font_size": _font_size_for_cap(cap),
            "designed_resolution": READ_RESOLUTIONS[mrr],
            "designed_text_height": designed,
            **spec.extra,
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
    manifest = folder / _MANIFEST
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

    Items cycle through the categories and MRR buckets so both are balanced
    (within one item, exactly when ``n`` is a multiple of 3 x #categories);
    answer letters are exactly balanced when ``n`` is a multiple of 4. Item
    ``i`` depends only on ``(seed, i, categories)``, so images are
    byte-identical across calls and machines with the same Pillow/zlib.

    Images are 3840x2160 lossless PNGs (~0.4-0.9 MB each) written under
    ``cache_dir / f"probe4k-v{VERSION}-s{seed}-n{n}"`` (plus a category suffix
    for a subset) together with ``manifest.jsonl``; the manifest is written
    last and atomically, so a complete manifest means a complete set and a
    second call just reads it.

    Args:
        n: Number of items (> 0).
        seed: Dataset seed.
        categories: Subset of :data:`CATEGORIES` (default: all four).
        cache_dir: Cache root; default :func:`default_cache_dir`.

    Returns:
        The items, in index order.

    Raises:
        ValueError: If ``n`` is not a positive integer or a category is unknown.
    """
    cats = _validate(n, categories)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
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
    for i in range(n):
        category, mrr, pos = _assignment(i, cats, seed)
        image, fields = render_item(seed, i, category, mrr, pos)
        item_id = f"probe4k-s{seed}-{i:05d}"
        filename = f"{item_id}.png"
        _atomic_write(folder / filename, functools.partial(_save_png, image))
        item = Probe4kItem(id=item_id, image=folder / filename, **fields)
        items.append(item)
        rows.append({**item.to_dict(), "image": filename})
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)

    def write_manifest(p: Path) -> None:
        p.write_text(text, "utf-8")

    _atomic_write(folder / _MANIFEST, write_manifest)
    return items
