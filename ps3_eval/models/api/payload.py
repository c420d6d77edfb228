"""The image policy of API backends: what is sent, at which size, and what the provider saw.

By default an image is shrunk locally to the size the provider's published rule would shrink it
to (the model sees the same pixels, the request is smaller, and the record says exactly what was
seen). ``resize="none"`` sends the image as large as the API accepts and leaves the shrinking to
the provider. ``tiles=N`` adds N crops of the original in a grid, each shrunk only as far as the
provider's rule shrinks it, so 4K detail reaches the model (an AnyRes-style view).

A source file is sent as its own bytes, untouched, when it already meets the policy (accepted
format, upright, size and bytes within the limits); otherwise it is decoded once, resized and
encoded. Every part is recorded as a ``SentImage``.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, replace
from typing import Literal

from PIL import Image

from ps3_eval.errors import DataError
from ps3_eval.images import decode_bytes
from ps3_eval.models.api.vision import Size, VisionRule, _fit, encoded_size
from ps3_eval.records import ImagePart, SentImage

MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True)
class ImagePolicy:
    """How images are sent (the backend arguments of the same names)."""

    resize: Literal["provider", "none"] = "provider"
    max_side: int | None = None
    detail: Literal["high", "low", "auto"] = "high"
    image_format: Literal["jpeg", "png", "webp"] = "jpeg"
    quality: int = 90
    tiles: int = 0


@dataclass
class Prepared:
    """One image part ready for a request."""

    data: bytes
    mime: str
    record: SentImage


def grid(size: Size, n: int) -> tuple[int, int]:
    """``(cols, rows)`` with ``cols * rows == n`` whose cells are closest to square."""
    w, h = size
    best: tuple[float, tuple[int, int]] | None = None
    for rows in range(1, n + 1):
        if n % rows:
            continue
        cols = n // rows
        cost = abs(math.log((w / cols) / (h / rows)))
        if best is None or cost < best[0]:
            best = (cost, (cols, rows))
    assert best is not None
    return best[1]


def _target(size: Size, rule: VisionRule, policy: ImagePolicy) -> Size:
    target = rule.seen(size, policy.detail) if policy.resize == "provider" else size
    if policy.max_side:
        target = _fit(target, policy.max_side, policy.max_side)
    if rule.max_side:
        target = _fit(target, rule.max_side, rule.max_side)
    return target


def _encode(img: Image.Image, fmt: str, quality: int, rule: VisionRule) -> tuple[bytes, str]:
    """The encoded image and its format (a PNG over the byte limit is retried as JPEG)."""
    for q in (quality, 80, 70, 55, 40):
        buf = io.BytesIO()
        if fmt == "JPEG":
            img.save(buf, format="JPEG", quality=q, optimize=False)
        elif fmt == "WEBP":
            img.save(buf, format="WEBP", quality=q, method=0)
        else:
            img.save(buf, format="PNG", compress_level=1)
        data = buf.getvalue()
        if rule.fits(len(data)):
            return data, fmt
        if fmt == "PNG":
            fmt = "JPEG"
    of = " of base64" if rule.base64_limit else ""
    raise DataError(
        f"image still exceeds the provider's {rule.max_bytes // (1024 * 1024)} MB{of} limit at "
        f"JPEG quality 40; lower max_side"
    )


def _part(
    img: Image.Image,
    crop: tuple[int, int, int, int] | None,
    index: int,
    rule: VisionRule,
    policy: ImagePolicy,
    fmt: str,
) -> Prepared:
    region = img.crop(crop) if crop is not None else img
    target = _target(region.size, rule, policy)
    if target != region.size:
        # A box reduction by a whole factor first (fast), then bicubic to the exact size.
        factor = min(region.width // target[0], region.height // target[1])
        if factor >= 2:
            region = region.reduce(factor)
        region = region.resize(target, Image.Resampling.BICUBIC)
    data, sent_format = _encode(region, fmt, policy.quality, rule)
    record = SentImage(
        source_index=index,
        crop=crop,
        sent=target,
        bytes=len(data),
        format=sent_format,
        seen=rule.seen(target, policy.detail),
        tokens=rule.tokens(target, policy.detail),
    )
    return Prepared(data, MIME[sent_format], record)


def prepare(part: ImagePart, index: int, rule: VisionRule, policy: ImagePolicy) -> list[Prepared]:
    """The parts one image becomes: the whole image, then ``policy.tiles`` crops."""
    size = (part.width, part.height)
    target = _target(size, rule, policy)
    fmt = policy.image_format.upper()
    out: list[Prepared] = []
    passthrough = (
        part.data is not None
        and target == size
        and part.format in rule.formats
        and part.orientation == 1
        and rule.fits(len(part.data))
    )
    img: Image.Image | None = part.image
    if passthrough:
        assert part.data is not None
        source_format = str(part.format)
        record = SentImage(
            source_index=index,
            sent=size,
            bytes=len(part.data),
            format=source_format,
            passthrough=True,
            seen=rule.seen(size, policy.detail),
            tokens=rule.tokens(size, policy.detail),
        )
        out.append(Prepared(part.data, MIME[source_format], record))
    else:
        if img is None:
            if part.data is None:
                raise DataError("image part has neither pixels nor bytes")
            # Crops need full resolution; a whole-image send can decode at reduced scale.
            img = decode_bytes(part.data, draft=None if policy.tiles else target)
        out.append(_part(img, None, index, rule, policy, fmt))
    if policy.tiles:
        if img is None:
            assert part.data is not None
            img = decode_bytes(part.data)
        cols, rows = grid(size, policy.tiles)
        w, h = img.size
        for r in range(rows):
            for c in range(cols):
                box = (c * w // cols, r * h // rows, (c + 1) * w // cols, (r + 1) * h // rows)
                out.append(_part(img, box, index, rule, policy, fmt))
    return out


def prepare_all(parts: list[ImagePart], rule: VisionRule, policy: ImagePolicy) -> list[Prepared]:
    """Every image of a request, checked against the provider's image count limit."""
    if rule.many_images and len(parts) * (1 + policy.tiles) > rule.many_images[0]:
        side = rule.many_images[1]
        policy = replace(policy, max_side=min(policy.max_side or side, side))
    out = [p for i, part in enumerate(parts) for p in prepare(part, i, rule, policy)]
    total = sum(encoded_size(len(p.data)) for p in out)  # as base64, the way they are sent
    if total > rule.max_request_bytes:
        raise DataError(
            f"the images come to {total / 1e6:.1f} MB as base64, over the provider's "
            f"{rule.max_request_bytes // (1024 * 1024)} MB per request; lower tiles or max_side"
        )
    if len(out) > rule.max_images:
        raise DataError(
            f"{len(out)} image parts exceed the provider's limit of {rule.max_images} per request; "
            f"lower tiles"
        )
    return out
