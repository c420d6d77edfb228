"""What each provider does to an image: its published resize rule, token rule and limits.

Providers shrink large images on their side, silently. These rules let the toolkit say what the
model saw ("GPT-4o saw 1365x768 of this 4K frame") and count image tokens where a response does not
break them out. Each rule follows the provider's documentation (see the README's table and
``docs`` in each entry); when a provider changes a rule, change it here and bump the backends'
``version``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

Size = tuple[int, int]


def _fit(size: Size, box_w: float, box_h: float) -> Size:
    """Scale ``size`` down (never up) to fit in ``box_w`` x ``box_h``, keeping the aspect."""
    w, h = size
    scale = min(1.0, box_w / w, box_h / h)
    return (max(1, round(w * scale)), max(1, round(h * scale)))


def _scale_to_pixels(size: Size, max_pixels: float) -> Size:
    w, h = size
    if w * h <= max_pixels:
        return size
    scale = math.sqrt(max_pixels / (w * h))
    return (max(1, math.floor(w * scale)), max(1, math.floor(h * scale)))


@dataclass(frozen=True)
class VisionRule:
    """One provider's (or model family's) handling of input images."""

    name: str
    """The rule's name, recorded with the run."""
    formats: tuple[str, ...]
    """Encodings the provider accepts (Pillow format names)."""
    max_bytes: int
    """Largest encoded image the API accepts."""
    max_images: int
    """Most images in one request."""
    max_side: int | None
    """Longest side the API accepts at all (larger is an error, not a resize)."""
    kind: str
    """``openai_tiles``, ``openai_patches``, ``anthropic``, ``anthropic_patches``, ``gemini``."""
    max_request_bytes: int = 20 * 1024 * 1024
    """Largest total of encoded image bytes in one request."""
    many_images: tuple[int, int] | None = None
    """``(n, side)``: with more than n images in a request, each may be at most side px."""
    base_tokens: int = 0
    tile_tokens: int = 0
    multiplier: float = 1.0

    def seen(self, size: Size, detail: str = "high") -> Size:
        """The resolution the model works from, by the provider's resize rule."""
        if self.kind == "openai_tiles":
            if detail == "low":
                return _fit(size, 512, 512)
            w, h = _fit(size, 2048, 2048)
            short = min(w, h)
            if short > 768:
                w, h = (round(w * 768 / short), round(h * 768 / short))
            return (w, h)
        if self.kind == "openai_patches":
            return _patch_fit(size, 1536)
        if self.kind == "anthropic":
            # The largest published unresized size is 784x1568; 1092x1092 and the rest fit too.
            return _scale_to_pixels(_fit(size, 1568, 1568), 784 * 1568)
        if self.kind == "anthropic_patches":
            return _scale_to_pixels(_fit(size, 2576, 2576), 3_750_000)
        if self.kind == "gemini":
            return _fit(size, 3072, 3072)
        return size

    def tokens(self, size: Size, detail: str = "high") -> int:
        """Image tokens by the provider's published rule, for an image sent at ``size``."""
        w, h = self.seen(size, detail)
        if self.kind == "openai_tiles":
            if detail == "low":
                return self.base_tokens
            return self.base_tokens + self.tile_tokens * math.ceil(w / 512) * math.ceil(h / 512)
        if self.kind == "openai_patches":
            return math.ceil(math.ceil(w / 32) * math.ceil(h / 32) * self.multiplier)
        if self.kind == "anthropic":
            return math.ceil(w * h / 750)
        if self.kind == "anthropic_patches":
            return math.ceil(w / 28) * math.ceil(h / 28)
        if self.kind == "gemini":
            if w <= 384 and h <= 384:
                return 258
            return 258 * math.ceil(w / 768) * math.ceil(h / 768)
        return 0


def _patch_fit(size: Size, cap: int) -> Size:
    """OpenAI's patch rule: shrink until at most ``cap`` 32 px patches cover the image."""
    w, h = size
    if math.ceil(w / 32) * math.ceil(h / 32) <= cap:
        return size
    scale = math.sqrt(32 * 32 * cap / (w * h))
    sw, sh = w * scale, h * scale
    # Then make the width a whole number of patches, shrinking the height with it.
    width_patches = math.floor(sw / 32)
    adjust = width_patches * 32 / sw
    sw, sh = sw * adjust, sh * adjust
    return (max(1, math.floor(sw)), max(1, math.floor(sh)))


MB = 1024 * 1024


def _rule(
    name: str,
    max_bytes: int,
    max_images: int,
    max_side: int | None,
    kind: str,
    request_mb: int,
    base: int = 0,
    tile: int = 0,
    multiplier: float = 1.0,
) -> VisionRule:
    return VisionRule(
        name,
        ("JPEG", "PNG", "WEBP"),
        max_bytes,
        max_images,
        max_side,
        kind,
        request_mb * MB,
        base_tokens=base,
        tile_tokens=tile,
        multiplier=multiplier,
    )


RULES: dict[str, VisionRule] = {
    # OpenAI: fit 2048x2048, then a 768 px short side (never enlarged here); 512 px tiles.
    "openai-tiles": _rule("openai-tiles", 20 * MB, 500, None, "openai_tiles", 50, 85, 170),
    "openai-tiles-mini": _rule(
        "openai-tiles-mini", 20 * MB, 500, None, "openai_tiles", 50, 2833, 5667
    ),
    "openai-patches": _rule("openai-patches", 20 * MB, 500, None, "openai_patches", 50),
    # Anthropic up to the 4.6 models: long edge 1568 px and about 1.15 MP; 5 MB per image.
    # More than 20 images in one request: each at most 2000 px.
    "anthropic": replace(
        _rule("anthropic", 5 * MB, 100, 8000, "anthropic", 32), many_images=(20, 2000)
    ),
    # Claude Opus 4.7 and later: long edge 2576 px, about 3.75 MP, 28 px patches.
    "anthropic-patches": replace(
        _rule("anthropic-patches", 5 * MB, 100, 8000, "anthropic_patches", 32),
        many_images=(20, 2000),
    ),
    # Gemini 1.5-2.5: scaled to fit 3072x3072; 258 tokens per 768 px tile (258 when <= 384 px).
    "gemini": _rule("gemini", 20 * MB, 3000, None, "gemini", 20),
    "none": _rule("none", 64 * MB, 1000, None, "none", 256),
}
"""The known rules. ``none``: a server that resizes nothing the toolkit can know (a local vLLM
server's own processor decides)."""

_PATCH_MULTIPLIERS = {"gpt-4.1-mini": 1.62, "gpt-4.1-nano": 2.46, "o4-mini": 1.72}


def openai_rule(model: str) -> VisionRule:
    """The rule for an OpenAI model name (tile rule for the GPT-4o family, patches for minis)."""
    name = model.lower()
    for prefix, multiplier in _PATCH_MULTIPLIERS.items():
        if name.startswith(prefix):
            kind = "openai_patches"
            return _rule(f"openai-patches x{multiplier}", 20 * MB, 500, None, kind, 50,
                         multiplier=multiplier)  # fmt: skip
    if name.startswith("gpt-4o-mini"):
        return RULES["openai-tiles-mini"]
    return RULES["openai-tiles"]


def anthropic_rule(model: str) -> VisionRule:
    """Claude Opus 4.7 and later read larger images than the models before them."""
    name = model.lower()
    if name.startswith(("claude-opus-4-7", "claude-opus-5", "claude-sonnet-5")):
        return RULES["anthropic-patches"]
    return RULES["anthropic"]
