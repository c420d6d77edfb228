"""Image decoding and normalisation (runs in worker threads, never on the event loop)."""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ps3_eval.errors import DataError
from ps3_eval.records import ImageSource

MAX_PIXELS_ENV = "PS3_EVAL_MAX_IMAGE_PIXELS"
"""Raise Pillow's decompression-bomb limit (pixels) for trusted data; ``0`` disables the guard."""


_PILLOW_DEFAULT_LIMIT = Image.MAX_IMAGE_PIXELS


def _configure_limit() -> None:
    value = os.environ.get(MAX_PIXELS_ENV)
    if value is None:
        Image.MAX_IMAGE_PIXELS = _PILLOW_DEFAULT_LIMIT
        return
    try:
        limit = int(value)
    except ValueError:
        raise DataError(f"{MAX_PIXELS_ENV}={value!r} is not a whole number of pixels.") from None
    Image.MAX_IMAGE_PIXELS = limit if limit > 0 else None


def read_bytes(source: ImageSource) -> bytes:
    """The encoded bytes of an image source."""
    if source.data is not None:
        return source.data
    if not source.path:
        raise DataError("image source has neither bytes nor a path")
    try:
        return Path(source.path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"image {source.path} does not exist") from None
    except OSError as exc:
        raise DataError(f"cannot read image {source.path}: {exc.strerror}") from None


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in {"I;16", "I;16B", "I;16L", "I", "F"}:
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") else max(float(arr.max()), 1.0)
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr).convert("RGB")
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
        rgba = img.convert("RGBA")
        # Flatten transparency onto white, the way documents and screenshots are usually viewed.
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return img.convert("RGB")


def decode(source: ImageSource) -> tuple[Image.Image, str]:
    """Decode one image to RGB with EXIF orientation applied.

    Returns:
        The image and a content digest of its encoded bytes.

    Raises:
        DataError: for missing, empty, truncated or unreadable files and decompression bombs.
    """
    _configure_limit()
    raw = read_bytes(source)
    name = source.describe()
    if not raw:
        raise DataError(f"image {name} is empty (0 bytes)")
    digest = hashlib.blake2b(raw, digest_size=16).hexdigest()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(raw))
            opened.load()
        img: Image.Image = ImageOps.exif_transpose(opened) or opened
        return _to_rgb(img), digest
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        limit = Image.MAX_IMAGE_PIXELS
        raise DataError(
            f"image {name} is larger than the decompression-bomb limit of {limit} pixels "
            f"({str(exc).split('(')[0].strip()}); if the data is trusted, set "
            f"{MAX_PIXELS_ENV} to a larger pixel count (0 disables the check)"
        ) from None
    except UnidentifiedImageError:
        raise DataError(f"{name} is not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"image {name} is damaged or truncated ({exc})") from None
