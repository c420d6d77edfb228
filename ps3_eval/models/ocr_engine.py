"""CPU OCR engine that simulates reading an image at a chosen resolution.

The engine wraps the PP-OCR (v4) ONNX detector and recogniser shipped inside
the ``rapidocr-onnxruntime`` wheel, but drives them itself so that the
*reading resolution* is exactly the one requested:

* :meth:`OcrEngine.read_full` resizes the image so that its long side equals
  the requested resolution and runs the text detector on those pixels without
  any further internal resizing (RapidOCR's own pipeline would shrink anything
  larger than 2000 px and enlarge anything smaller than 736 px, which would
  silently change the effective resolution). Very large images are tiled.
* :meth:`OcrEngine.read_selective` simulates a PS3-style model: a cheap
  low-resolution pass scores the 14x14-pixel patch grid of the high-resolution
  image, the top patches are selected, and only those patches (grouped into a
  few rectangles, with everything unselected blanked out) are read at high
  resolution.

Visual-token accounting follows PS3: one token per 14x14-pixel patch.

``rapidocr_onnxruntime`` is imported lazily, so importing this module is cheap.
The module is self-contained (no imports from the rest of ``ps3_eval``).
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "PATCH_SIZE",
    "OcrEngine",
    "ReadResult",
    "TextLine",
    "match_option",
    "patch_recall",
    "reading_size",
    "text_similarity",
]

PATCH_SIZE = 14
"""Side length in pixels of one visual token (PS3 / SigLIP patch)."""

Box = tuple[float, float, float, float]
Mode = Literal["bottom_up", "top_down"]


@dataclass
class TextLine:
    """One recognised line of text.

    Attributes:
        text: The recognised string.
        score: Recogniser confidence in ``[0, 1]``.
        box: Axis-aligned bounding box ``(x0, y0, x1, y1)`` in pixel
            coordinates of the ORIGINAL image.
    """

    text: str
    score: float
    box: Box


@dataclass
class ReadResult:
    """Outcome of one simulated reading of an image.

    Attributes:
        lines: Recognised lines, sorted top-to-bottom then left-to-right.
        patches: Visual tokens spent, i.e. number of 14x14-pixel patches
            processed. For a full reading this is the size of the patch grid
            at the reading resolution; for a selective reading it is the
            low-resolution grid plus the selected high-resolution patches.
        stages: Wall-clock seconds per stage. Full readings report
            ``"detection"`` and ``"recognition"``; selective readings report
            ``"selection"`` and ``"recognition"`` (the latter covers detection
            and recognition inside the selected regions). Both add ``"total"``.
        selected_mask: Boolean array of shape ``grid_shape`` marking the
            selected high-resolution patches, or ``None`` for a full reading.
        grid_shape: ``(rows, cols)`` of the 14-pixel patch grid at the reading
            resolution.
        scale: Reading-resolution pixels per original pixel (``<= 1``).
        regions: Rectangles ``(x0, y0, x1, y1)`` in original coordinates that
            were actually cropped and read (empty for a full reading).
    """

    lines: list[TextLine]
    patches: int
    stages: dict[str, float]
    selected_mask: np.ndarray | None
    grid_shape: tuple[int, int]
    scale: float
    regions: list[Box] = field(default_factory=list)

    @property
    def text(self) -> str:
        """All recognised lines joined by newlines, in reading order."""
        return "\n".join(line.text for line in self.lines)


# ---------------------------------------------------------------------------
# Geometry helpers
# ---------------------------------------------------------------------------


def reading_size(width: int, height: int, resolution: int) -> tuple[int, int, float]:
    """Computes the size at which an image is read.

    The long side is resized to ``resolution``; images are never upscaled
    (upscaling adds no information but would inflate the token count), so an
    image whose long side is already ``<= resolution`` is read as is.

    Args:
        width: Original width in pixels.
        height: Original height in pixels.
        resolution: Requested long-side length in pixels.

    Returns:
        ``(read_width, read_height, scale)`` where ``scale`` is reading
        pixels per original pixel.

    Raises:
        ValueError: If ``resolution`` is not positive.
    """
    if resolution <= 0:
        raise ValueError(f"resolution must be positive, got {resolution}")
    scale = min(1.0, resolution / max(width, height))
    read_w = max(1, round(width * scale))
    read_h = max(1, round(height * scale))
    return read_w, read_h, scale


def _grid(width: int, height: int) -> tuple[int, int]:
    return math.ceil(height / PATCH_SIZE), math.ceil(width / PATCH_SIZE)


def _quad_bbox(quad: np.ndarray) -> Box:
    return (
        float(quad[:, 0].min()),
        float(quad[:, 1].min()),
        float(quad[:, 0].max()),
        float(quad[:, 1].max()),
    )


def _area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _intersection(a: Box, b: Box) -> float:
    return _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def _sort_lines(lines: list[TextLine]) -> list[TextLine]:
    """Sorts lines into reading order (rows by vertical centre, then x)."""
    if not lines:
        return []
    heights = sorted(line.box[3] - line.box[1] for line in lines)
    row_tol = max(1.0, 0.5 * heights[len(heights) // 2])
    ordered = sorted(lines, key=lambda ln: (ln.box[1] + ln.box[3]) / 2)
    rows: list[list[TextLine]] = []
    last_y = -math.inf
    for line in ordered:
        y = (line.box[1] + line.box[3]) / 2
        if not rows or y - last_y > row_tol:
            rows.append([])
        rows[-1].append(line)
        last_y = y
    return [ln for row in rows for ln in sorted(row, key=lambda ln: ln.box[0])]


def _tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    step = max(1, tile - overlap)
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def _merge_rects(
    rects: list[tuple[int, int, int, int]], gap: int, waste: float
) -> list[tuple[int, int, int, int]]:
    """Greedily merges grid rectangles ``(r0, c0, r1, c1)`` (exclusive ends).

    Two rectangles are merged when they overlap, or lie within ``gap`` cells
    of each other and their joint bounding box is at most ``waste`` times the
    area of the input rectangles it would contain. Tracking the original
    area (not the grown boxes) prevents a chain of merges from collapsing a
    sparse selection into one huge, mostly empty crop.
    """

    def area(r: tuple[int, int, int, int]) -> int:
        return (r[2] - r[0]) * (r[3] - r[1])

    out = [(r, area(r)) for r in rects]
    merged = True
    while merged:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                (a, ca), (b, cb) = out[i], out[j]
                if not (
                    a[0] <= b[2] + gap
                    and b[0] <= a[2] + gap
                    and a[1] <= b[3] + gap
                    and b[1] <= a[3] + gap
                ):
                    continue
                u = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                overlap = a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
                if overlap or area(u) <= waste * (ca + cb):
                    out[i] = (u, ca + cb)
                    del out[j]
                    merged = True
                    break
            if merged:
                break
    return [r for r, _ in out]


def _mask_rects(mask: np.ndarray, block: int) -> list[tuple[int, int, int, int]]:
    """Tight grid rectangles ``(r0, c0, r1, c1)`` covering ``mask``.

    One rectangle per ``block`` x ``block`` block that has selected cells.
    """
    rects = []
    rows, cols = mask.shape
    for br in range(0, rows, block):
        for bc in range(0, cols, block):
            sub = mask[br : br + block, bc : bc + block]
            if not sub.any():
                continue
            rr = np.flatnonzero(sub.any(axis=1))
            cc = np.flatnonzero(sub.any(axis=0))
            rects.append(
                (br + int(rr[0]), bc + int(cc[0]), br + int(rr[-1]) + 1, bc + int(cc[-1]) + 1)
            )
    return rects


# ---------------------------------------------------------------------------
# Text normalisation and matching
# ---------------------------------------------------------------------------


def _norm(text: str) -> str:
    """Case-folds, NFKC-normalises and collapses whitespace."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(text.split())


def _compact(text: str) -> str:
    """Keeps only letters and digits of the normalised text."""
    return "".join(ch for ch in _norm(text) if ch.isalnum())


def _token_pattern(option_norm: str) -> re.Pattern[str]:
    body = r"\s*".join(re.escape(tok) for tok in option_norm.split(" "))
    return re.compile(rf"(?<![^\W_]){body}(?![^\W_])")


def _tokens(text: str) -> list[str]:
    """Runs of letters/digits of the normalised text."""
    return re.findall(r"[^\W_]+", _norm(text))


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        prev = cur
    return prev[-1]


def _spans(tokens: list[str], max_width: int) -> list[str]:
    """All concatenations of 1..max_width consecutive tokens."""
    return [
        "".join(tokens[i : i + w])
        for i in range(len(tokens))
        for w in range(1, min(max_width, len(tokens) - i) + 1)
    ]


def text_similarity(pattern: str, text: str) -> float:
    """Fuzzy similarity of ``pattern`` to the best-matching word span of ``text``.

    Both strings are split into runs of letters/digits (case-folded); the
    pattern's runs are concatenated and compared with every concatenation of
    consecutive runs of the text (so word boundaries are respected: ``"17B"``
    inside ``"417B"`` costs an edit). The score is ``1 - d / max(len)`` for the
    best span, ``d`` being the Levenshtein distance.

    Args:
        pattern: The string searched for (e.g. an answer option).
        text: The text searched in (e.g. a recognised line).

    Returns:
        Similarity in ``[0, 1]`` (0 if either string has no letters/digits).
    """
    p = "".join(_tokens(pattern))
    if not p:
        return 0.0
    best = 0.0
    for span in _spans(_tokens(text), len(_tokens(pattern)) + 2):
        best = max(best, 1.0 - _levenshtein(p, span) / max(len(p), len(span)))
    return best


def match_option(
    lines: list[TextLine],
    options: list[str],
    *,
    min_similarity: float = 0.75,
    min_margin: float = 0.15,
) -> tuple[int | None, float]:
    """Picks the answer option best supported by the recognised text.

    Matching is tiered; the first tier that yields a unique winner decides:

    1. Exact token match: the normalised option (case-folded,
       whitespace-collapsed) occurs in a line, or in all lines joined, with
       word boundaries on both sides.
    2. Compact match: after dropping everything but letters and digits, the
       option equals a run of consecutive words of a line or of all lines
       joined (``"K7Q 482"`` or ``"K7Q482"`` for ``"K7Q-482"``).
    3. Fuzzy match: the option with the highest :func:`text_similarity` to any
       line wins, provided the similarity is at least ``min_similarity`` and
       beats the runner-up option by at least ``min_margin``.

    In tiers 1 and 2, if several options match and one contains all others
    (e.g. ``"MILK"`` and ``"MILK 2L"``), the longest wins; if unrelated options
    both match (e.g. ``"47B"`` and ``"478"`` both visible), the answer is
    ambiguous and the function abstains. It never guesses.

    Args:
        lines: Recognised text lines (only ``text`` and ``score`` are used).
        options: Candidate answer strings.
        min_similarity: Minimum fuzzy similarity accepted in tier 3.
        min_margin: Minimum similarity lead over the runner-up in tier 3.

    Returns:
        ``(index, confidence)``: the index into ``options`` of the chosen
        option, or ``None`` when no option is matched unambiguously, and a
        confidence in ``[0, 1]`` (0 when abstaining).
    """
    if not options or not lines:
        return None, 0.0
    texts = [(_norm(ln.text), float(ln.score)) for ln in lines]
    joined = " ".join(t for t, _ in texts)
    min_score = min(s for _, s in texts)
    texts.append((joined, min_score))
    opt_norm = [_norm(o) for o in options]
    opt_compact = [_compact(o) for o in options]

    def decide(hits: dict[int, float], key: list[str]) -> tuple[int | None, float] | None:
        if not hits:
            return None
        longest = max(hits, key=lambda i: len(key[i]))
        if all(key[i] in key[longest] for i in hits):
            return longest, hits[longest]
        return None, 0.0

    # Tier 1: exact, whitespace-normalised, token-bounded.
    hits: dict[int, float] = {}
    for i, opt in enumerate(opt_norm):
        if not opt:
            continue
        pat = _token_pattern(opt)
        for text, score in texts:
            if pat.search(text):
                hits[i] = max(hits.get(i, 0.0), score)
    verdict = decide(hits, opt_norm)
    if verdict is not None:
        idx, score = verdict
        return idx, (0.5 + 0.5 * score) if idx is not None else 0.0

    # Tier 2: letters and digits only, whole word spans (punctuation/spaces
    # inside the option may be missing or different in the OCR output).
    hits = {}
    for i, opt in enumerate(opt_compact):
        if not opt:
            continue
        for text, score in texts:
            if opt in _spans(_tokens(text), len(_tokens(text))):
                hits[i] = max(hits.get(i, 0.0), score)
    verdict = decide(hits, opt_compact)
    if verdict is not None:
        idx, score = verdict
        return idx, (0.45 + 0.45 * score) if idx is not None else 0.0

    # Tier 3: fuzzy, only if clearly better than the runner-up.
    sims = [max((text_similarity(opt, t) for t, _ in texts), default=0.0) for opt in options]
    order = sorted(range(len(options)), key=lambda i: sims[i], reverse=True)
    best = order[0]
    runner_up = sims[order[1]] if len(order) > 1 else 0.0
    if sims[best] < min_similarity or sims[best] - runner_up < min_margin:
        return None, 0.0
    margin_factor = min(1.0, (sims[best] - runner_up) / (2 * min_margin))
    return best, 0.8 * sims[best] * margin_factor


def patch_recall(result: ReadResult, box: Box) -> float:
    """Fraction of a ground-truth box's patches that were selected.

    This is the "recall" of PS3's patch selection (paper, Table 7): the box
    (original-image coordinates) is mapped onto the 14-pixel patch grid at the
    reading resolution, and the fraction of the patches it touches that are
    in ``result.selected_mask`` is returned.

    Args:
        result: A reading result.
        box: Ground-truth box ``(x0, y0, x1, y1)`` in original coordinates.

    Returns:
        Recall in ``[0, 1]``; 1.0 for full readings (``selected_mask`` is
        ``None``). A box lying entirely outside the image yields 0.0.
    """
    if result.selected_mask is None:
        return 1.0
    rows, cols = result.grid_shape
    s = result.scale / PATCH_SIZE
    x0, y0, x1, y1 = box
    c0 = max(0, math.floor(min(x0, x1) * s))
    r0 = max(0, math.floor(min(y0, y1) * s))
    c1 = min(cols, max(c0 + 1, math.ceil(max(x0, x1) * s)))
    r1 = min(rows, max(r0 + 1, math.ceil(max(y0, y1) * s)))
    if c0 >= cols or r0 >= rows or c1 <= c0 or r1 <= r0:
        return 0.0
    return float(result.selected_mask[r0:r1, c0:c1].mean())


# ---------------------------------------------------------------------------
# Engine
# ---------------------------------------------------------------------------


@dataclass
class _Detection:
    quads: list[np.ndarray]
    prob: np.ndarray  # (h, w) text probability map


class OcrEngine:
    """PP-OCRv4 detector + recogniser that reads images at a given resolution.

    Args:
        threads: ONNX Runtime intra-op threads per model.
        tile: Maximum side of one detector input. Larger images (or regions)
            are split into overlapping tiles; with the default, a 3780-pixel
            reading is detected in one pass (about 1.6 GB peak memory).
        overlap: Overlap in pixels between neighbouring tiles; should exceed
            the longest text line expected so lines are whole in some tile.
        text_score: Minimum recogniser confidence for a line to be reported.
        use_cls: Run the 180-degree text-orientation classifier (slower; only
            useful for upside-down text).
        selection_upsample: Factor by which the low-resolution image is
            enlarged (bicubic) before the selection pass runs the detector on
            it; adds no information but lets the saliency map respond to
            smaller text.
        smooth: Gaussian sigma, in patches, used to smooth patch scores so
            selections form compact blobs.
    """

    def __init__(
        self,
        threads: int = 2,
        tile: int = 4096,
        overlap: int = 256,
        text_score: float = 0.5,
        use_cls: bool = False,
        selection_upsample: float = 2.0,
        smooth: float = 1.5,
    ) -> None:
        if tile < 64:
            raise ValueError(f"tile must be >= 64, got {tile}")
        if not 0 <= overlap < tile:
            raise ValueError(f"overlap must be in [0, tile), got {overlap}")
        from rapidocr_onnxruntime import RapidOCR

        self.tile = tile
        self.overlap = overlap
        self.text_score = text_score
        self.use_cls = use_cls
        self.smooth = smooth
        self.selection_upsample = selection_upsample
        self._ocr: Any = RapidOCR(
            intra_op_num_threads=threads,
            inter_op_num_threads=1,
            print_verbose=False,
        )
        self._det: Any = self._ocr.text_det
        self._rec: Any = self._ocr.text_rec
        self._cls: Any = self._ocr.text_cls

    # -- low-level model calls ------------------------------------------------

    def _detect_single(self, bgr: np.ndarray) -> _Detection:
        """Runs the DB detector at the native size of ``bgr`` (padded to /32)."""
        import cv2

        h, w = bgr.shape[:2]
        ph, pw = max(32, math.ceil(h / 32) * 32), max(32, math.ceil(w / 32) * 32)
        fill = [float(v) for v in np.median(bgr.reshape(-1, 3), axis=0)]
        padded = cv2.copyMakeBorder(bgr, 0, ph - h, 0, pw - w, cv2.BORDER_CONSTANT, value=fill)
        x = (padded.astype(np.float32) / 255.0 - 0.5) / 0.5
        x = x.transpose(2, 0, 1)[None]
        pred = self._det.infer(np.ascontiguousarray(x))[0][:, :, :h, :w]
        boxes, _ = self._det.postprocess_op(pred, (h, w))
        quads: list[np.ndarray] = []
        if len(boxes):
            kept = self._det.filter_tag_det_res(boxes, (h, w))
            quads = [np.asarray(q, dtype=np.float32) for q in kept]
        return _Detection(quads=quads, prob=np.asarray(pred[0, 0], dtype=np.float32))

    def _detect(self, bgr: np.ndarray) -> list[np.ndarray]:
        """Detects text quads, tiling when the image exceeds ``self.tile``."""
        h, w = bgr.shape[:2]
        if max(h, w) <= self.tile:
            return self._detect_single(bgr).quads
        cands: list[tuple[bool, float, Box, np.ndarray]] = []
        for y in _tile_starts(h, self.tile, self.overlap):
            for x in _tile_starts(w, self.tile, self.overlap):
                th, tw = min(self.tile, h - y), min(self.tile, w - x)
                det = self._detect_single(bgr[y : y + th, x : x + tw])
                for quad in det.quads:
                    bx = _quad_bbox(quad)
                    cut = (
                        (x > 0 and bx[0] <= 2)
                        or (y > 0 and bx[1] <= 2)
                        or (x + tw < w and bx[2] >= tw - 3)
                        or (y + th < h and bx[3] >= th - 3)
                    )
                    q = quad + np.array([x, y], dtype=np.float32)
                    cands.append((cut, _area(bx), _quad_bbox(q), q))
        # Prefer lines that are whole within their tile, then larger ones.
        cands.sort(key=lambda c: (c[0], -c[1]))
        kept: list[tuple[Box, np.ndarray]] = []
        for _, area, bx, q in cands:
            if area <= 0:
                continue
            if all(_intersection(bx, kb) < 0.5 * min(area, _area(kb)) for kb, _ in kept):
                kept.append((bx, q))
        return [q for _, q in kept]

    def _recognize(
        self, bgr: np.ndarray, quads: list[np.ndarray], min_score: float
    ) -> list[tuple[str, float, np.ndarray]]:
        if not quads:
            return []
        crops = self._ocr.get_crop_img_list(bgr, [q.copy() for q in quads])
        if self.use_cls:
            crops, _, _ = self._cls(crops)
        rec, _ = self._rec(crops)
        out: list[tuple[str, float, np.ndarray]] = []
        for quad, res in zip(quads, rec, strict=True):
            text, score = str(res[0]).strip(), float(res[1])
            if text and score >= min_score:
                out.append((text, score, quad))
        return out

    # -- image helpers ----------------------------------------------------------

    @staticmethod
    def _to_bgr(image: Image.Image, width: int, height: int) -> np.ndarray:
        import cv2

        rgb = np.asarray(image.convert("RGB"))
        if (rgb.shape[1], rgb.shape[0]) != (width, height):
            rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(rgb[:, :, ::-1])

    @staticmethod
    def _lines(
        recs: list[tuple[str, float, np.ndarray]], offset: tuple[int, int], scale: float
    ) -> list[TextLine]:
        lines = []
        for text, score, quad in recs:
            x0, y0, x1, y1 = _quad_bbox(quad)
            ox, oy = offset
            box = ((x0 + ox) / scale, (y0 + oy) / scale, (x1 + ox) / scale, (y1 + oy) / scale)
            lines.append(TextLine(text=text, score=score, box=box))
        return lines

    # -- public API ----------------------------------------------------------------

    def read_full(self, image: Image.Image, resolution: int) -> ReadResult:
        """Reads all text in the image at the given resolution.

        The image is resized (area interpolation) so its long side equals
        ``resolution``, never upscaled; detection then runs on exactly those
        pixels (tiled if larger than ``tile``) and recognition on crops of
        them.

        Args:
            image: Input image (any PIL mode; converted to RGB).
            resolution: Long side of the reading resolution in pixels.

        Returns:
            The reading; ``patches`` is ``ceil(w/14) * ceil(h/14)`` of the
            resized image and ``selected_mask`` is ``None``.
        """
        t0 = time.perf_counter()
        rw, rh, scale = reading_size(image.width, image.height, resolution)
        bgr = self._to_bgr(image, rw, rh)
        quads = self._detect(bgr)
        t1 = time.perf_counter()
        recs = self._recognize(bgr, quads, self.text_score)
        t2 = time.perf_counter()
        rows, cols = _grid(rw, rh)
        return ReadResult(
            lines=_sort_lines(self._lines(recs, (0, 0), scale)),
            patches=rows * cols,
            stages={"detection": t1 - t0, "recognition": t2 - t1, "total": t2 - t0},
            selected_mask=None,
            grid_shape=(rows, cols),
            scale=scale,
        )

    def patch_scores(
        self,
        image: Image.Image,
        resolution: int,
        *,
        mode: Mode = "bottom_up",
        queries: list[str] | None = None,
        low_res: int = 756,
    ) -> tuple[np.ndarray, int]:
        """Scores the high-resolution patch grid from a low-resolution pass.

        Bottom-up: the detector's text-probability map of the ``low_res``
        image (enlarged by ``selection_upsample``) is max-pooled onto the
        high-resolution grid, patches under detected text boxes get +1, and
        a small local-contrast term (< 0.1) orders the remaining patches.
        Top-down additionally recognises the low-resolution boxes and adds
        ``3 * similarity`` (see :func:`text_similarity`) to the patches under
        lines resembling any of ``queries`` (similarity >= 0.4), padded by half
        a line height; without usable queries it degrades to bottom-up. Scores
        are finally blended 50/50 with a Gaussian-smoothed copy (sigma
        ``smooth`` patches) so selections form compact blobs.

        Args:
            image: Input image.
            resolution: High (reading) resolution whose grid is scored.
            mode: ``"bottom_up"`` or ``"top_down"``.
            queries: Strings to look for (top-down only), e.g. answer options.
            low_res: Long side of the cheap selection pass.

        Returns:
            ``(scores, low_res_patches)``: a float array of shape
            ``(rows, cols)`` of the high-resolution grid, and the number of
            14-pixel patches of the low-resolution pass.

        Raises:
            ValueError: On an unknown ``mode``.
        """
        import cv2

        if mode not in ("bottom_up", "top_down"):
            raise ValueError(f"mode must be 'bottom_up' or 'top_down', got {mode!r}")
        rw, rh, _ = reading_size(image.width, image.height, resolution)
        lw, lh, _ = reading_size(image.width, image.height, low_res)
        rows, cols = _grid(rw, rh)
        low_rows, low_cols = _grid(lw, lh)
        low = self._to_bgr(image, lw, lh)
        # The detector runs on an enlarged copy of the low-res image: no new
        # information, but it makes the saliency map sensitive to text only a
        # few low-res pixels tall (a stand-in for a trained selection head).
        up = self.selection_upsample
        big = cv2.resize(low, (round(lw * up), round(lh * up)), interpolation=cv2.INTER_CUBIC)
        det = self._detect_single(big)

        # Low-res pixel map -> high-res patch grid (max over each patch).
        gw, gh = cols * PATCH_SIZE, rows * PATCH_SIZE

        def pool(m: np.ndarray) -> np.ndarray:
            up = cv2.resize(m, (rw, rh), interpolation=cv2.INTER_LINEAR)
            up = cv2.copyMakeBorder(up, 0, gh - rh, 0, gw - rw, cv2.BORDER_CONSTANT, value=0)
            return np.asarray(
                up.reshape(rows, PATCH_SIZE, cols, PATCH_SIZE).max(axis=(1, 3)),
                dtype=np.float32,
            )

        gray = cv2.cvtColor(low, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
        mean = cv2.blur(gray, (5, 5))
        contrast = np.sqrt(np.maximum(cv2.blur(gray * gray, (5, 5)) - mean * mean, 0.0))
        scores = pool(det.prob) + 0.09 * np.clip(pool(contrast) / 0.5, 0.0, 1.0)

        to_grid = rw / big.shape[1] / PATCH_SIZE

        def paint(quad: np.ndarray, value: float, pad: float) -> None:
            x0, y0, x1, y1 = _quad_bbox(quad)
            p = pad * (y1 - y0)
            c0 = max(0, math.floor((x0 - p) * to_grid))
            r0 = max(0, math.floor((y0 - p) * to_grid))
            c1 = min(cols, math.ceil((x1 + p) * to_grid))
            r1 = min(rows, math.ceil((y1 + p) * to_grid))
            region = scores[r0:r1, c0:c1]
            region += value

        for quad in det.quads:
            paint(quad, 1.0, 0.0)
        usable = [q for q in (queries or []) if _compact(q)]
        if mode == "top_down" and usable and det.quads:
            for text, _, quad in self._recognize(big, det.quads, 0.0):
                sim = max(text_similarity(q, text) for q in usable)
                if sim >= 0.4:
                    paint(quad, 3.0 * sim, 0.5)
        # Smooth so the selection forms compact blobs (text plus its immediate
        # context) rather than scattered patches along thin clutter edges.
        smooth = cv2.GaussianBlur(scores, (0, 0), sigmaX=self.smooth, sigmaY=self.smooth)
        return 0.5 * scores + 0.5 * smooth, low_rows * low_cols

    def read_selective(
        self,
        image: Image.Image,
        resolution: int,
        *,
        select: float | None = None,
        max_patches: int | None = None,
        mode: Mode = "bottom_up",
        queries: list[str] | None = None,
        low_res: int = 756,
        block: int = 16,
        merge_gap: int = 0,
        waste: float = 1.5,
    ) -> ReadResult:
        """Reads only the most relevant patches at high resolution (PS3-style).

        Steps: score the 14-pixel patch grid at ``resolution`` with a
        low-resolution pass (:meth:`patch_scores`), keep the top patches,
        group them into rectangles (the bounding box of the selection inside
        each ``block`` x ``block``-patch block, then neighbouring rectangles
        merged while that wastes little area, so text lines crossing block
        borders are read whole), crop those
        rectangles from the high-resolution image with every unselected patch
        blanked (filled with the region's median colour) so only selected
        pixels are seen, and detect + recognise text in each crop.

        Args:
            image: Input image.
            resolution: High (reading) resolution, long side in pixels.
            select: Fraction of the high-resolution grid to select, in (0, 1].
            max_patches: Absolute number of patches to select (alternative to
                ``select``; exactly one of the two must be given).
            mode: ``"bottom_up"`` (text saliency) or ``"top_down"`` (guided by
                ``queries``, falling back to bottom-up saliency).
            queries: Strings to look for in top-down mode (answer options).
            low_res: Long side of the low-resolution selection pass.
            block: Side, in patches, of the blocks used to cut the selection
                into rectangles (see :func:`_mask_rects`).
            merge_gap: Rectangles closer than this many patches may merge.
            waste: Rectangles merge only if their joint bounding box is at most
                ``waste`` times the sum of their areas.

        Returns:
            The reading; ``patches`` = low-resolution patches + selected
            high-resolution patches; ``stages`` has ``"selection"`` and
            ``"recognition"``.

        Raises:
            ValueError: If not exactly one of ``select`` / ``max_patches`` is
                given, or if either is out of range.
        """
        if (select is None) == (max_patches is None):
            raise ValueError("give exactly one of select= or max_patches=")
        if select is not None and not 0.0 < select <= 1.0:
            raise ValueError(f"select must be in (0, 1], got {select}")
        if max_patches is not None and max_patches < 1:
            raise ValueError(f"max_patches must be >= 1, got {max_patches}")

        t0 = time.perf_counter()
        rw, rh, scale = reading_size(image.width, image.height, resolution)
        scores, low_patches = self.patch_scores(
            image, resolution, mode=mode, queries=queries, low_res=low_res
        )
        rows, cols = scores.shape
        n = rows * cols
        k = math.ceil(select * n) if select is not None else int(max_patches or 0)
        k = min(n, max(1, k))
        flat = scores.ravel()
        chosen = np.argsort(-flat, kind="stable")[:k]
        mask = np.zeros(n, dtype=bool)
        mask[chosen] = True
        mask = mask.reshape(rows, cols)

        rects = _mask_rects(mask, block)
        rects = sorted(_merge_rects(rects, merge_gap, waste))
        t1 = time.perf_counter()

        high = self._to_bgr(image, rw, rh)
        lines: list[TextLine] = []
        regions: list[Box] = []
        for r0, c0, r1, c1 in rects:
            y0, x0 = r0 * PATCH_SIZE, c0 * PATCH_SIZE
            y1, x1 = min(rh, r1 * PATCH_SIZE), min(rw, c1 * PATCH_SIZE)
            crop = high[y0:y1, x0:x1].copy()
            sub = mask[r0:r1, c0:c1]
            if not sub.all():
                fill = np.median(crop.reshape(-1, 3), axis=0).astype(crop.dtype)
                pix = np.repeat(np.repeat(sub, PATCH_SIZE, 0), PATCH_SIZE, 1)
                crop[~pix[: y1 - y0, : x1 - x0]] = fill
            quads = self._detect(crop)
            lines += self._lines(self._recognize(crop, quads, self.text_score), (x0, y0), scale)
            regions.append((x0 / scale, y0 / scale, x1 / scale, y1 / scale))
        t2 = time.perf_counter()
        return ReadResult(
            lines=_sort_lines(lines),
            patches=low_patches + k,
            stages={"selection": t1 - t0, "recognition": t2 - t1, "total": t2 - t0},
            selected_mask=mask,
            grid_shape=(rows, cols),
            scale=scale,
            regions=regions,
        )
