"""What each provider does to an image: its published resize rule, token rule and limits.

Providers shrink large images on their side, silently. These rules let the toolkit say what the
model saw ("GPT-4o saw 1365x768 of this 4K frame") and count image tokens where a response does not
break them out. Each rule follows the provider's published documentation, named in the docstring
of the function that computes it with the date it was read; the tests check every rule against
the worked examples those pages give. When a provider changes a rule, change it here and bump the
backends' ``version``.

Sources (read 2026-12-07):

- OpenAI, "Images and vision", section "Calculating costs":
  https://platform.openai.com/docs/guides/images-vision#calculating-costs
- Anthropic, "Vision" (limits, the token formula and the table of sizes that are not resized):
  https://platform.claude.com/docs/en/build-with-claude/vision and "Coordinates and bounding
  boxes" (how Claude resizes): https://platform.claude.com/docs/en/build-with-claude/vision-coordinates
- Google, "Image understanding" and "Understand and count tokens" (Gemini 1.5 and 2.x tiles):
  https://ai.google.dev/gemini-api/docs/image-understanding,
  https://ai.google.dev/gemini-api/docs/tokens; "Media resolution" (Gemini 3):
  https://ai.google.dev/gemini-api/docs/media-resolution
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

Size = tuple[int, int]


def _fit(size: Size, box_w: float, box_h: float) -> Size:
    """Scale ``size`` down (never up) to fit in ``box_w`` x ``box_h``, keeping the aspect."""
    w, h = size
    scale = min(1.0, box_w / w, box_h / h)
    return (max(1, round(w * scale)), max(1, round(h * scale)))


def _openai_tiles_fit(size: Size, detail: str) -> Size:
    """OpenAI's tile rule: fit in 2048x2048, then bring the short side down to 768 px.

    Published as: scale to fit a 2048 px square keeping the aspect ratio, then scale so the
    shortest side is 768 px (a 1024x1024 image becomes 768x768; 2048x4096 becomes 768x1536). An
    image already under 768 px is not enlarged here. ``detail=low`` reads a 512x512 version.
    """
    if detail == "low":
        return _fit(size, 512, 512)
    w, h = _fit(size, 2048, 2048)
    short = min(w, h)
    if short > 768:
        w, h = (round(w * 768 / short), round(h * 768 / short))
    return (w, h)


def _openai_patch_fit(size: Size, cap: int = 1536, patch: int = 32) -> Size:
    """OpenAI's patch rule (gpt-4.1-mini/nano, o4-mini, gpt-5-mini/nano), as published.

    Count the 32 px patches that cover the image; over 1536, scale both sides by
    ``r = sqrt(32^2 * 1536 / (w * h))``, then shrink ``r`` once more so the side that would end
    in a partial patch ends on a whole one (the smaller of the two ratios
    ``floor(side * r / 32) / (side * r / 32)``). The published example: 1800x2400 becomes
    1056x1408, 33 x 44 = 1452 patches.
    """
    w, h = size
    if math.ceil(w / patch) * math.ceil(h / patch) <= cap:
        return size
    r = math.sqrt(patch * patch * cap / (w * h))
    r *= min(
        math.floor(w * r / patch) / (w * r / patch), math.floor(h * r / patch) / (h * r / patch)
    )
    # The tiny epsilon keeps a side that is a whole number of patches on paper (928.0) from
    # losing a pixel to floating point (927.9999...).
    return (max(1, math.floor(w * r + 1e-6)), max(1, math.floor(h * r + 1e-6)))


def _anthropic_fit(size: Size, long_edge: int, budget: int, patch: int = 28) -> Size:
    """Claude's resize: the largest aspect-preserving size within both of its limits.

    Anthropic describes the resize as finding the largest size, aspect ratio kept, whose long edge
    is within the model's limit and whose visual tokens are within its budget, a token being a
    28 px patch. For the models up to Claude Opus 4.6 the limits are a 1568 px long edge and 1568
    patches; this reproduces every row of their table of sizes that are not resized (1092x1092,
    951x1268, 896x1344, 819x1456, 784x1568), and a 16:9 frame comes out at 1456x819. Claude Opus
    4.7 and later read up to 2576 px and 4784 patches (about 3.75 megapixels).
    """
    w, h = size

    def fits(a: int, b: int) -> bool:
        return max(a, b) <= long_edge and math.ceil(a / patch) * math.ceil(b / patch) <= budget

    if fits(w, h):
        return size
    landscape = w >= h
    long, short = (w, h) if landscape else (h, w)
    lo, hi, best = 1, min(long, long_edge), 1
    while lo <= hi:  # the patch count only grows with the long side, so bisect on it
        mid = (lo + hi) // 2
        s = max(1, math.floor(short * mid / long + 0.5))
        if fits(*((mid, s) if landscape else (s, mid))):
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    s = max(1, math.floor(short * best / long + 0.5))
    return (best, s) if landscape else (s, best)


def gemini_tile_side(size: Size) -> int:
    """Gemini's crop unit: the shorter side divided by 1.5, kept within 256 and 768 px.

    Google documents this for Gemini 1.5 (each tile is then resized to 768x768 and costs 258
    tokens) and says Gemini 2.x crops and scales larger images into 768x768 tiles of 258 tokens.
    """
    return int(min(768, max(256, math.floor(min(size) / 1.5))))


GEMINI3_TOKENS: dict[str | None, int] = {
    None: 1120,
    "low": 280,
    "medium": 560,
    "high": 1120,
    "ultra_high": 2240,
}
"""Gemini 3's tokens per image by ``media_resolution`` (``None``: unspecified, the default)."""


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
    """``openai_tiles``, ``openai_patches``, ``anthropic``, ``anthropic_patches``, ``gemini``,
    ``gemini_fixed`` or ``none``."""
    max_request_bytes: int = 20 * 1024 * 1024
    """Largest total of base64-encoded images in one request (every API sends them in JSON)."""
    many_images: tuple[int, int] | None = None
    """``(n, side)``: with more than n images in a request, each may be at most side px."""
    base_tokens: int = 0
    tile_tokens: int = 0
    multiplier: float = 1.0
    long_edge: int = 0
    """Claude: the longest edge the model reads."""
    patch_budget: int = 0
    """Claude: the most 28 px patches it reads."""
    base64_limit: bool = False
    """``max_bytes`` applies to the base64 string, not the raw bytes (Anthropic's 5 MB)."""
    fixed_tokens: int | None = None
    """``gemini_fixed``: tokens per image, whatever its size (``None``: not published)."""

    def fits(self, n_bytes: int) -> bool:
        """Whether an encoded image of ``n_bytes`` is within the per-image limit."""
        return encoded_size(n_bytes, self.base64_limit) <= self.max_bytes

    def seen(self, size: Size, detail: str = "high") -> Size:
        """The resolution the model works from, by the provider's resize rule."""
        if self.kind == "openai_tiles":
            return _openai_tiles_fit(size, detail)
        if self.kind == "openai_patches":
            return _openai_patch_fit(size)
        if self.kind in ("anthropic", "anthropic_patches"):
            return _anthropic_fit(size, self.long_edge, self.patch_budget)
        if self.kind in ("gemini", "gemini_fixed"):
            return _fit(size, 3072, 3072)
        return size

    def tokens(self, size: Size, detail: str = "high") -> int | None:
        """Image tokens by the provider's published rule for an image sent at ``size``.

        ``None`` when the rule is not known (a server that resizes by its own processor, or a
        setting whose cost the provider does not publish).
        """
        w, h = self.seen(size, detail)
        if self.kind == "openai_tiles":
            if detail == "low":
                return self.base_tokens
            return self.base_tokens + self.tile_tokens * math.ceil(w / 512) * math.ceil(h / 512)
        if self.kind == "openai_patches":
            patches = min(1536, math.ceil(w / 32) * math.ceil(h / 32))
            return math.ceil(patches * self.multiplier - 1e-9)
        if self.kind == "anthropic":
            return math.ceil(w * h / 750)  # Anthropic's published estimate
        if self.kind == "anthropic_patches":
            return math.ceil(w / 28) * math.ceil(h / 28)
        if self.kind == "gemini":
            if w <= 384 and h <= 384:
                return 258
            side = gemini_tile_side((w, h))
            return 258 * math.ceil(w / side) * math.ceil(h / side)
        if self.kind == "gemini_fixed":
            return self.fixed_tokens
        return None


def encoded_size(n_bytes: int, base64: bool = True) -> int:
    """Length of ``n_bytes`` of data as the provider counts it (base64: 4 chars per 3 bytes)."""
    return 4 * math.ceil(n_bytes / 3) if base64 else n_bytes


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
    # OpenAI: 50 MB of images per request, up to 500 images.
    "openai-tiles": _rule("openai-tiles", 20 * MB, 500, None, "openai_tiles", 50, 85, 170),
    "openai-patches": _rule("openai-patches", 20 * MB, 500, None, "openai_patches", 50),
    # Anthropic up to the 4.6 models: 1568 px and 1568 patches; 5 MB per image (of base64);
    # more than 20 images in one request: each at most 2000 px; 32 MB per request.
    "anthropic": replace(
        _rule("anthropic", 5 * MB, 100, 8000, "anthropic", 32),
        long_edge=1568,
        patch_budget=1568,
        many_images=(20, 2000),
        base64_limit=True,
    ),
    # Claude Opus 4.7 and later: 2576 px and 4784 patches.
    "anthropic-patches": replace(
        _rule("anthropic-patches", 5 * MB, 100, 8000, "anthropic_patches", 32),
        long_edge=2576,
        patch_budget=4784,
        many_images=(20, 2000),
        base64_limit=True,
    ),
    # Gemini 1.5-2.x: fit 3072x3072; 258 tokens up to 384 px, else 258 per crop unit; 20 MB of
    # inline data per request.
    "gemini": _rule("gemini", 20 * MB, 3000, None, "gemini", 20),
    "none": _rule("none", 64 * MB, 1000, None, "none", 256),
}
"""The named rules. ``none``: a server that resizes nothing the toolkit can know (a local vLLM
server's own processor decides), so its image tokens are unknown."""

_OPENAI_PATCH_MULTIPLIERS = {
    "gpt-5-mini": 1.62,
    "gpt-5-nano": 2.46,
    "gpt-4.1-mini": 1.62,
    "gpt-4.1-nano": 2.46,
    "o4-mini": 1.72,
}
"""OpenAI's published multipliers of the patch count, by model-name prefix."""

_OPENAI_TILE_TOKENS = {
    "gpt-5": (70, 140),
    "gpt-4o": (85, 170),
    "gpt-4.1": (85, 170),
    "gpt-4.5": (85, 170),
    "gpt-4o-mini": (2833, 5667),
    "o1": (75, 150),
    "o3": (75, 150),
    "computer-use-preview": (65, 129),
}
"""OpenAI's published base and per-tile tokens of the tile rule, by model-name prefix."""


def _longest_prefix(name: str, table: dict[str, object]) -> str | None:
    return max((k for k in table if name.startswith(k)), key=len, default=None)


def openai_rule(model: str) -> VisionRule:
    """The rule for an OpenAI model name: the patch rule and its multiplier, or the tile rule.

    The longest matching prefix decides, so ``gpt-5-mini`` takes the patch rule while
    ``gpt-5-chat-latest`` takes gpt-5's tiles. A name matching nothing gets GPT-4o's tiles.
    """
    name = model.lower()
    patch = _longest_prefix(name, dict(_OPENAI_PATCH_MULTIPLIERS))
    tile = _longest_prefix(name, dict(_OPENAI_TILE_TOKENS))
    if patch is not None and len(patch) >= len(tile or ""):
        m = _OPENAI_PATCH_MULTIPLIERS[patch]
        return replace(RULES["openai-patches"], name=f"openai-patches x{m}", multiplier=m)
    if tile is None:
        return RULES["openai-tiles"]
    base, per_tile = _OPENAI_TILE_TOKENS[tile]
    return replace(
        RULES["openai-tiles"],
        name=f"openai-tiles {base}+{per_tile}",
        base_tokens=base,
        tile_tokens=per_tile,
    )


def anthropic_rule(model: str) -> VisionRule:
    """Claude Opus 4.7 and later read larger images than the models before them."""
    name = model.lower()
    if name.startswith(("claude-opus-4-7", "claude-opus-4-8", "claude-opus-5", "claude-sonnet-5")):
        return RULES["anthropic-patches"]
    return RULES["anthropic"]


def gemini_generation(model: str) -> int | None:
    """The major version in a Gemini model name (``gemini-2.5-flash``: 2), if it has one."""
    match = re.match(r"gemini-(\d+)", model.lower())
    return int(match.group(1)) if match else None


def gemini_rule(model: str, media_resolution: str | None = None) -> VisionRule:
    """Gemini 3 and later: a fixed number of tokens per image, set by ``media_resolution``.

    Gemini 1.5 and 2.x: the tile rule. Google publishes no token count for a ``media_resolution``
    set on those models, so the count is then unknown.
    """
    generation = gemini_generation(model)
    if generation is not None and generation >= 3:
        tokens = GEMINI3_TOKENS[media_resolution]
        return replace(
            RULES["gemini"], name=f"gemini-3 {media_resolution or 'default'}",
            kind="gemini_fixed", fixed_tokens=tokens,
        )  # fmt: skip
    if media_resolution is None:
        return RULES["gemini"]
    return replace(
        RULES["gemini"], name=f"gemini {media_resolution}", kind="gemini_fixed", fixed_tokens=None
    )
