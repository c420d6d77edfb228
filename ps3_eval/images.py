"""The package's one image reader: decode, EXIF orientation, content hash, size limits.

Everything that reads an image file or image bytes comes here (the runner, the API backends'
payloads, the report's gallery, the lmms-eval bridge, curation, MRR studies and the web tiles), so
every image is decoded, oriented, converted to RGB and size-checked the same way. The runner calls
it from worker threads, never on the event loop.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ps3_eval.errors import DataError
from ps3_eval.records import ImageSource

MAX_PIXELS_ENV = "PS3_EVAL_MAX_IMAGE_PIXELS"
"""Raise Pillow's decompression-bomb limit (pixels) for trusted data; ``0`` disables the guard."""

_PILLOW_DEFAULT_LIMIT = Image.MAX_IMAGE_PIXELS
_LIFT_LOCK = threading.Lock()


def pixel_limit() -> int | None:
    """The largest image (in pixels) the toolkit decodes; ``None`` when the check is off.

    Read from ``PS3_EVAL_MAX_IMAGE_PIXELS`` (default: Pillow's own limit when this module loaded).
    """
    value = os.environ.get(MAX_PIXELS_ENV)
    if value is None:
        return _PILLOW_DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        raise DataError(f"{MAX_PIXELS_ENV}={value!r} is not a whole number of pixels.") from None
    return limit if limit > 0 else None


def _lift_pillow_limit(limit: int | None) -> None:
    """Let Pillow open images up to ``limit`` so that the toolkit's own check decides.

    The toolkit checks every image's size itself, so it never toggles Pillow's process-wide
    setting per decode (that raced between decode threads). It only raises it, once, when the user
    asked for a larger limit than Pillow's, and never lowers it under other code in the process.
    """
    current = Image.MAX_IMAGE_PIXELS
    if current is None or (limit is not None and limit <= current):
        return
    with _LIFT_LOCK:
        current = Image.MAX_IMAGE_PIXELS
        if current is not None and (limit is None or limit > current):
            Image.MAX_IMAGE_PIXELS = limit


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
    if mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        # Fixed scales by type, never by an image's own range, so one value always maps to one
        # grey: 16-bit data (and 32-bit "I", which Pillow uses for 16-bit and integer TIFFs)
        # spans 0..65535, floats span 0..1.
        arr = np.asarray(img, dtype=np.float64)
        top = 1.0 if mode == "F" else 65535.0
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


def _upright(img: Image.Image) -> Image.Image:
    """EXIF orientation applied; the image itself when upright (exif_transpose would copy it)."""
    if int(img.getexif().get(0x0112, 1) or 1) == 1:
        return img
    return ImageOps.exif_transpose(img) or img


@contextmanager
def _opened(source: ImageSource) -> Iterator[tuple[bytes, str, Image.Image]]:
    """The source's bytes, their digest and the image opened on its header (size checked).

    Raises:
        DataError: for missing, empty, truncated or unreadable files and decompression bombs.
    """
    limit = pixel_limit()
    _lift_pillow_limit(limit)
    raw = read_bytes(source)
    name = source.describe()
    if not raw:
        raise DataError(f"image {name} is empty (0 bytes)")
    digest = hashlib.blake2b(raw, digest_size=16).hexdigest()
    try:
        opened = Image.open(io.BytesIO(raw))  # reads the header only
        width, height = opened.size
        if limit is not None and width * height > limit:
            raise DataError(
                f"image {name} is larger than the decompression-bomb limit of {limit} pixels "
                f"({width}x{height}); if the data is trusted, set {MAX_PIXELS_ENV} to a larger "
                f"pixel count (0 disables the check)"
            )
        yield raw, digest, opened
    except Image.DecompressionBombError as exc:  # Pillow's own check, should it fire first
        raise DataError(
            f"image {name} is larger than the decompression-bomb limit of {limit} pixels "
            f"({str(exc).split('(')[0].strip()}); if the data is trusted, set {MAX_PIXELS_ENV} "
            f"to a larger pixel count (0 disables the check)"
        ) from None
    except UnidentifiedImageError:
        raise DataError(f"{name} is not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"image {name} is damaged or truncated ({exc})") from None


def decode(source: ImageSource) -> tuple[Image.Image, str]:
    """Decode one image to RGB with EXIF orientation applied.

    Returns:
        The image and a content digest of its encoded bytes.

    Raises:
        DataError: for missing, empty, truncated or unreadable files and decompression bombs.
    """
    with _opened(source) as (_, digest, opened):
        opened.load()
        return _to_rgb(_upright(opened)), digest


def probe(source: ImageSource) -> tuple[bytes, int, int, str, str, int]:
    """Read an image's encoded bytes and header without decoding its pixels.

    For backends that send images on as files (API backends): they decode only when they must
    resize or re-encode. The same checks as :func:`decode` apply to the header.

    Returns:
        ``(raw, width, height, digest, format, orientation)``: width and height as displayed
        (EXIF orientation applied), the Pillow format name and the EXIF orientation tag (1 when
        the pixels are stored upright, 0 when a non-JPEG file carries EXIF: not known without
        decoding, so the file is never passed on as it is).
    """
    with _opened(source) as (raw, digest, opened):
        width, height = opened.size
        fmt = str(opened.format or "")
        # JPEG keeps EXIF in its header; for other formats read only what the header holds
        # (getexif() on a PNG can scan the whole file).
        if fmt == "JPEG":
            orientation = int(opened.getexif().get(0x0112, 1) or 1)
        else:
            orientation = 1 if "exif" not in opened.info else 0
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return raw, width, height, digest, fmt, orientation


def decode_bytes(raw: bytes, draft: tuple[int, int] | None = None) -> Image.Image:
    """Decode encoded bytes to RGB with EXIF orientation applied.

    ``draft`` lets a JPEG decode straight at a reduced scale no smaller than that size (much
    faster when the image is about to be shrunk anyway).
    """
    opened = Image.open(io.BytesIO(raw))
    if draft is not None and opened.format == "JPEG":
        opened.draft("RGB", draft)
    opened.load()
    return _to_rgb(_upright(opened))


def upright_rgb(img: Image.Image) -> Image.Image:
    """An image some other library decoded, normalised as :func:`decode` normalises its own.

    EXIF orientation applied (a no-op on an image already turned upright) and converted to RGB by
    the same rules (alpha flattened onto white, deep images by fixed scales).
    """
    return _to_rgb(_upright(img))


def shrink_to_side(img: Image.Image, side: int) -> Image.Image:
    """``img`` downsampled so its long side is at most ``side`` (Lanczos, aspect kept).

    An image already within ``side`` is returned as it is: a resolution ladder never upsamples.
    """
    width, height = img.size
    if max(width, height) <= side:
        return img
    scale = side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # reducing_gap resamples in two steps (a box reduction, then Lanczos): the same result to the
    # eye at a fraction of the time on 4K frames.
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def encode_png(img: Image.Image) -> bytes:
    """``img`` as PNG bytes (lossless, for backends that take encoded images)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
