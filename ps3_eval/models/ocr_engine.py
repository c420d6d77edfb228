"""CPU OCR engine that simulates reading an image at a chosen resolution.

The engine wraps the PP-OCR (v4) ONNX detector and recogniser shipped inside
the ``rapidocr-onnxruntime`` wheel, but drives them itself so that the
*reading resolution* is exactly the one requested:

* :meth:`OcrEngine.read_full` resizes the image so that its long side equals
  the requested resolution and runs the text detector on those pixels without
  any further internal resizing (RapidOCR's own pipeline would shrink anything
  larger than 2000 px and enlarge anything smaller than 736 px, which would
  silently change the effective resolution). A large reading is detected
  tile by tile: each tile's text-probability map (with a margin of context)
  is stitched into one map of the whole image, and text boxes are found once
  on that map, so no text line is cut at a tile border.
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
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ps3_eval.models.ocr_text import compact, match_option, text_similarity

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


def _tile_spans(length: int, tile: int, margin: int) -> list[tuple[int, int, int, int]]:
    """Cores ``(c0, c1)`` of about ``tile`` pixels covering ``length``, and tiles ``(t0, t1)``.

    Each tile is its core plus ``margin`` pixels of context on each side (clipped at the ends).
    Cores are multiples of 32 pixels long (the detector's stride), so with a margin that is too,
    every tile starts on the whole image's feature grid.
    """
    count = max(1, round(length / tile))
    size = math.ceil(length / count / 32) * 32
    return [
        (c0, min(length, c0 + size), max(0, c0 - margin), min(length, c0 + size + margin))
        for c0 in range(0, length, size)
    ]


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
        i = 0
        while i < len(out):
            j = i + 1
            while j < len(out):
                (a, ca), (b, cb) = out[i], out[j]
                if (
                    a[0] <= b[2] + gap
                    and b[0] <= a[2] + gap
                    and a[1] <= b[3] + gap
                    and b[1] <= a[3] + gap
                ):
                    u = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    overlap = a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
                    if overlap or area(u) <= waste * (ca + cb):
                        # The grown rectangle is compared again with everything after it; a
                        # later pass catches the ones before it.
                        out[i] = (u, ca + cb)
                        del out[j]
                        merged = True
                        j = i + 1
                        continue
                j += 1
            i += 1
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


def _select_cells(scores: np.ndarray, k: int, cell: tuple[int, int]) -> np.ndarray:
    """The ``k`` best patches of ``scores``, chosen in whole ``cell`` (rows, cols) units.

    Cells are ranked by their mean score; whole cells are taken while they fit in ``k``, and the
    last cell is filled patch by patch, so exactly ``k`` patches are selected. Selecting whole
    cells keeps the selection in dense blocks that pack tightly for the detector.
    """
    rows, cols = scores.shape
    ch, cw = cell
    pr, pc = (-rows) % ch, (-cols) % cw
    padded = np.pad(scores, ((0, pr), (0, pc)), constant_values=-np.inf)
    blocks = padded.reshape((rows + pr) // ch, ch, (cols + pc) // cw, cw)
    inside = np.isfinite(blocks)
    means = np.where(inside, blocks, 0.0).sum(axis=(1, 3)) / np.maximum(inside.sum(axis=(1, 3)), 1)
    order = np.argsort(-means.ravel(), kind="stable")
    mask = np.zeros((rows + pr, cols + pc), dtype=bool)
    left = k
    n_cols = (cols + pc) // cw
    for index in order:
        if left <= 0:
            break
        br, bc = divmod(int(index), n_cols)
        r0, c0 = br * ch, bc * cw
        r1, c1 = min(rows, r0 + ch), min(cols, c0 + cw)
        size = (r1 - r0) * (c1 - c0)
        if size <= left:
            mask[r0:r1, c0:c1] = True
            left -= size
        else:
            sub = scores[r0:r1, c0:c1]
            best = np.argsort(-sub.ravel(), kind="stable")[:left]
            part = np.zeros(sub.size, dtype=bool)
            part[best] = True
            mask[r0:r1, c0:c1] = part.reshape(sub.shape)
            left = 0
    return mask[:rows, :cols]


def _resized_region(
    rgb: np.ndarray, box: tuple[int, int, int, int], width: int, height: int
) -> np.ndarray:
    """BGR pixels of ``box`` of the image resized to ``width`` x ``height`` (area interpolation).

    The source is cut with a margin and resized at the whole image's scale, so the pixels match
    a resize of the whole image up to a sub-pixel offset at the cut.
    """
    import cv2

    src_h, src_w = rgb.shape[:2]
    fx, fy = src_w / width, src_h / height
    x0, y0, x1, y1 = box
    sx0, sy0 = max(0, math.floor(x0 * fx) - 2), max(0, math.floor(y0 * fy) - 2)
    sx1, sy1 = min(src_w, math.ceil(x1 * fx) + 2), min(src_h, math.ceil(y1 * fy) + 2)
    ox, oy = round(sx0 / fx), round(sy0 / fy)
    size = (max(1, round(sx1 / fx) - ox), max(1, round(sy1 / fy) - oy))
    if (fx, fy) == (1.0, 1.0):
        out = rgb[sy0:sy1, sx0:sx1]
    else:
        out = cv2.resize(rgb[sy0:sy1, sx0:sx1], size, interpolation=cv2.INTER_AREA)
    out = out[y0 - oy : y1 - oy, x0 - ox : x1 - ox, ::-1]
    if out.shape[:2] != (y1 - y0, x1 - x0):  # rounding at the image's far edge
        out = cv2.resize(np.ascontiguousarray(out), (x1 - x0, y1 - y0))
    return out


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


@dataclass
class _LowPass:
    """The low-resolution view and what one pass over it found.

    Its pixels, the enlarged copy the detector ran on, the detector's output, and the recognised
    lines (in the enlarged copy's pixels).
    """

    low: np.ndarray
    big: np.ndarray
    det: _Detection
    recs: list[tuple[str, float, np.ndarray]]


class OcrEngine:
    """PP-OCRv4 detector + recogniser that reads images at a given resolution.

    Args:
        threads: ONNX Runtime intra-op threads per model.
        tile: Side, in pixels, of the cores of detector tiles for readings
            larger than ``max_pixels``. Each tile's probability map is kept
            for its core and stitched into one map of the whole reading, on
            which text boxes are found once, so text crossing a tile border
            is one line. Small tiles also run faster per pixel on a CPU: a
            3780-pixel reading peaked 1.4 GB above the process in one pass
            and 0.3 GB in tiles, in less time (``perf/full_read.py``).
        margin: Context in pixels each tile has around its core (a multiple
            of 32 keeps the tiles on the detector's grid).
        max_pixels: Readings of at most this many pixels are detected in one
            pass.
        text_score: Minimum recogniser confidence for a line to be reported.
        use_cls: Run the 180-degree text-orientation classifier (slower; only
            useful for upside-down text).
        selection_upsample: Factor by which the low-resolution image is
            enlarged (bicubic) before the selection pass runs the detector on
            it; adds no information but lets the saliency map respond to
            smaller text.
        smooth: Gaussian sigma, in patches, used to smooth patch scores so
            selections form compact blobs.
        page: Side in pixels of the mosaic pages the selected regions are
            packed onto for detection.
        cell: ``(rows, cols)`` of patches selected together (see
            :func:`_select_cells`); wide, short cells fit lines of text.
        legible: Top-down only: low-resolution lines read with at least this
            confidence and unlike every option are suppressed (their patches
            lose ``suppress``), since reading them again adds nothing.
        legible_far: The same for lines read with at least this confidence
            that are far from every option (similarity below 0.2).
        suppress: Score taken from the patches of such lines.
    """

    def __init__(
        self,
        threads: int = 2,
        tile: int = 512,
        margin: int = 32,
        max_pixels: int = 4_000_000,
        text_score: float = 0.5,
        use_cls: bool = False,
        selection_upsample: float = 1.5,
        smooth: float = 1.5,
        page: int = 1024,
        cell: tuple[int, int] = (4, 8),
        legible: float = 0.9,
        legible_far: float = 0.6,
        suppress: float = 2.0,
    ) -> None:
        if tile < 64:
            raise ValueError(f"tile must be >= 64, got {tile}")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        from rapidocr_onnxruntime import RapidOCR

        self.tile = tile
        self.margin = margin
        self.max_pixels = max_pixels
        self.text_score = text_score
        self.use_cls = use_cls
        self.smooth = smooth
        self.selection_upsample = selection_upsample
        self.page = page
        self.cell = cell
        self.legible = legible
        self.legible_far = legible_far
        self.suppress = suppress
        self._ocr: Any = RapidOCR(
            intra_op_num_threads=threads,
            inter_op_num_threads=1,
            print_verbose=False,
        )
        self._det: Any = self._ocr.text_det
        self._rec: Any = self._ocr.text_rec
        self._cls: Any = self._ocr.text_cls

    # -- low-level model calls ------------------------------------------------

    def _probability(self, bgr: np.ndarray) -> np.ndarray:
        """The DB detector's text-probability map of ``bgr``, run at its native size."""
        import cv2

        h, w = bgr.shape[:2]
        ph, pw = max(32, math.ceil(h / 32) * 32), max(32, math.ceil(w / 32) * 32)
        padded = bgr
        if (ph, pw) != (h, w):
            fill = [float(v) for v in np.median(bgr[::4, ::4].reshape(-1, 3), axis=0)]
            padded = cv2.copyMakeBorder(bgr, 0, ph - h, 0, pw - w, cv2.BORDER_CONSTANT, value=fill)
        # (pixel / 255 - 0.5) / 0.5, written straight into the planar layout the model takes.
        x = np.empty((1, 3, ph, pw), dtype=np.float32)
        for c in range(3):
            np.multiply(padded[:, :, c], 2.0 / 255.0, out=x[0, c], casting="unsafe")
        x -= 1.0
        return np.asarray(self._det.infer(x)[0][0, 0, :h, :w], dtype=np.float32)

    def _quads(self, prob: np.ndarray) -> list[np.ndarray]:
        """Text quads found on a probability map (DB post-processing)."""
        h, w = prob.shape
        boxes, _ = self._det.postprocess_op(prob[None, None], (h, w))
        if not len(boxes):
            return []
        kept = self._det.filter_tag_det_res(boxes, (h, w))
        return [np.asarray(q, dtype=np.float32) for q in kept]

    def _detect_single(self, bgr: np.ndarray) -> _Detection:
        """Runs the DB detector at the native size of ``bgr`` (padded to /32)."""
        prob = self._probability(bgr)
        return _Detection(quads=self._quads(prob), prob=prob)

    def _detect(self, bgr: np.ndarray) -> list[np.ndarray]:
        """Detects text quads; a reading larger than ``max_pixels`` is run tile by tile.

        The tiles' probability maps are stitched (each tile keeps its core) and the boxes found
        once on the whole map, as a single pass would find them: a line crossing a tile border
        is one line. The detector's squeeze-and-excitation blocks pool over their whole input,
        so a tile's map is close to, not equal to, the single pass's.
        """
        h, w = bgr.shape[:2]
        if h * w <= self.max_pixels:
            return self._detect_single(bgr).quads
        prob = np.empty((h, w), dtype=np.float32)
        for cy0, cy1, ty0, ty1 in _tile_spans(h, self.tile, self.margin):
            for cx0, cx1, tx0, tx1 in _tile_spans(w, self.tile, self.margin):
                part = self._probability(np.ascontiguousarray(bgr[ty0:ty1, tx0:tx1]))
                prob[cy0:cy1, cx0:cx1] = part[cy0 - ty0 : cy1 - ty0, cx0 - tx0 : cx1 - tx0]
        return self._quads(prob)

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
    def _rgb(image: Image.Image) -> np.ndarray:
        """The image's pixels as an RGB array (no copy when it already is RGB)."""
        return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))

    @staticmethod
    def _to_bgr(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
        import cv2

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
        pixels (in tiles if more than ``max_pixels``) and recognition on crops of
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
        bgr = self._to_bgr(self._rgb(image), rw, rh)
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

    def _low_pass(self, rgb: np.ndarray, low_res: int, recognize: bool) -> _LowPass:
        """One detector pass over the low-resolution view, and optionally its reading."""
        import cv2

        lw, lh, _ = reading_size(rgb.shape[1], rgb.shape[0], low_res)
        low = self._to_bgr(rgb, lw, lh)
        # The detector runs on an enlarged copy of the low-res image: no new information, but it
        # makes the saliency map respond to text only a few low-res pixels tall (a stand-in for
        # a trained selection head).
        up = self.selection_upsample
        big = cv2.resize(low, (round(lw * up), round(lh * up)), interpolation=cv2.INTER_CUBIC)
        det = self._detect_single(big)
        recs = self._recognize(big, det.quads, 0.0) if recognize and det.quads else []
        return _LowPass(low=low, big=big, det=det, recs=recs)

    def _scores(
        self,
        image: Image.Image,
        resolution: int,
        low: _LowPass,
        mode: Mode,
        queries: list[str] | None,
        anchors: list[str] | None = None,
    ) -> np.ndarray:
        """Scores of the high-resolution patch grid from a low-resolution pass."""
        import cv2

        rw, rh, _ = reading_size(image.width, image.height, resolution)
        rows, cols = _grid(rw, rh)
        gw, gh = cols * PATCH_SIZE, rows * PATCH_SIZE

        def pool(m: np.ndarray) -> np.ndarray:
            """Low-res pixel map -> high-res patch grid (max over each patch)."""
            up = cv2.resize(m, (rw, rh), interpolation=cv2.INTER_LINEAR)
            up = cv2.copyMakeBorder(up, 0, gh - rh, 0, gw - rw, cv2.BORDER_CONSTANT, value=0)
            return np.asarray(
                up.reshape(rows, PATCH_SIZE, cols, PATCH_SIZE).max(axis=(1, 3)),
                dtype=np.float32,
            )

        gray = cv2.cvtColor(low.low, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
        mean = cv2.blur(gray, (5, 5))
        contrast = np.sqrt(np.maximum(cv2.blur(gray * gray, (5, 5)) - mean * mean, 0.0))
        scores = pool(low.det.prob) + 0.09 * np.clip(pool(contrast) / 0.5, 0.0, 1.0)

        to_grid = rw / low.big.shape[1] / PATCH_SIZE

        def paint(quad: np.ndarray, value: float, pad: float) -> None:
            x0, y0, x1, y1 = _quad_bbox(quad)
            p = pad * (y1 - y0)
            c0 = max(0, math.floor((x0 - p) * to_grid))
            r0 = max(0, math.floor((y0 - p) * to_grid))
            c1 = min(cols, math.ceil((x1 + p) * to_grid))
            r1 = min(rows, math.ceil((y1 + p) * to_grid))
            region = scores[r0:r1, c0:c1]
            region += value

        for quad in low.det.quads:
            paint(quad, 1.0, 0.0)
        usable = [q for q in (queries or []) if compact(q)]
        marks = [a for a in (anchors or []) if len(compact(a)) >= 3]
        if mode == "top_down" and usable:
            for text, score, quad in low.recs:
                sim = max(text_similarity(q, text) for q in usable)
                near = max((text_similarity(a, text) for a in marks), default=0.0)
                if sim >= 0.4:
                    paint(quad, 3.0 * sim, 0.5)
                elif near >= 0.7:
                    # The question names this text: what it asks about lies around it.
                    paint(quad, 2.0, 2.0)
                elif len(compact(text)) >= 3 and (
                    score >= self.legible or (score >= self.legible_far and sim < 0.2)
                ):
                    # Read with confidence at low resolution and unlike every option: the high
                    # resolution adds nothing here, so its patches go to what could not be read.
                    paint(quad, -self.suppress, 0.0)
        # Smooth so the selection forms compact blobs (text plus its immediate
        # context) rather than scattered patches along thin clutter edges.
        smooth = cv2.GaussianBlur(scores, (0, 0), sigmaX=self.smooth, sigmaY=self.smooth)
        return np.asarray(0.5 * scores + 0.5 * smooth, dtype=np.float32)

    def patch_scores(
        self,
        image: Image.Image,
        resolution: int,
        *,
        mode: Mode = "bottom_up",
        queries: list[str] | None = None,
        anchors: list[str] | None = None,
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
        a line height; +2 around lines resembling an ``anchor`` (text the
        question names, similarity >= 0.7), padded by two line heights; and
        ``-suppress`` under lines read with confidence ``>= legible`` that
        resemble no option (or ``>= legible_far`` and far from all of them),
        so the budget goes to what the low resolution could not read. Without
        usable queries it degrades to bottom-up. Scores are finally blended
        50/50 with a Gaussian-smoothed copy (sigma ``smooth`` patches) so
        selections form compact blobs.

        Args:
            image: Input image.
            resolution: High (reading) resolution whose grid is scored.
            mode: ``"bottom_up"`` or ``"top_down"``.
            queries: Strings to look for (top-down only), e.g. answer options.
            anchors: Text the question names (top-down only), e.g. a quoted
                menu entry; what is asked about lies near it.
            low_res: Long side of the cheap selection pass.

        Returns:
            ``(scores, low_res_patches)``: a float array of shape
            ``(rows, cols)`` of the high-resolution grid, and the number of
            14-pixel patches of the low-resolution pass.

        Raises:
            ValueError: On an unknown ``mode``.
        """
        if mode not in ("bottom_up", "top_down"):
            raise ValueError(f"mode must be 'bottom_up' or 'top_down', got {mode!r}")
        usable = mode == "top_down" and any(compact(q) for q in (queries or []))
        low = self._low_pass(self._rgb(image), low_res, recognize=usable)
        lw, lh, _ = reading_size(image.width, image.height, low_res)
        low_rows, low_cols = _grid(lw, lh)
        scores = self._scores(image, resolution, low, mode, queries, anchors)
        return scores, low_rows * low_cols

    def read_selective(
        self,
        image: Image.Image,
        resolution: int,
        *,
        select: float | None = None,
        max_patches: int | None = None,
        mode: Mode = "bottom_up",
        queries: list[str] | None = None,
        anchors: list[str] | None = None,
        low_res: int = 756,
        block: int = 8,
        merge_gap: int = 0,
        waste: float = 1.0,
        gap: int = 8,
    ) -> ReadResult:
        """Reads the low-resolution view, and only the selected patches at high resolution.

        This is what a PS3-style model sees: the whole image at low resolution, plus the
        high-resolution patches its selection picked.

        Steps: one low-resolution pass (the detector on the ``low_res`` image,
        enlarged by ``selection_upsample``, and the recogniser on its boxes)
        both reads the low-resolution view and scores the 14-pixel patch grid
        at ``resolution`` (:meth:`patch_scores`); the best patches are kept in
        whole ``cell`` units (:func:`_select_cells`) and grouped into
        rectangles (the bounding box of the selection inside each
        ``block`` x ``block``-patch block, neighbours merged while that wastes
        little area); only those rectangles are resized to the reading
        resolution and cut out
        with every unselected patch blanked (the region's median colour),
        packed side by side with ``gap`` blank pixels between them into one
        mosaic (:mod:`ps3_eval.models.ocr_mosaic`), and the detector runs once
        over the mosaic; recognised lines are mapped back to the image.
        A low-resolution line gives way only to a high-resolution line read
        at the same place.

        Args:
            image: Input image.
            resolution: High (reading) resolution, long side in pixels.
            select: Fraction of the high-resolution grid to select, in (0, 1].
            max_patches: Absolute number of patches to select (alternative to
                ``select``; exactly one of the two must be given).
            mode: ``"bottom_up"`` (text saliency) or ``"top_down"`` (guided by
                ``queries``, falling back to bottom-up saliency).
            queries: Strings to look for in top-down mode (answer options).
            anchors: Text the question names, looked for in top-down mode.
            low_res: Long side of the low-resolution selection pass.
            block: Side, in patches, of the blocks used to cut the selection
                into rectangles (see :func:`_mask_rects`).
            merge_gap: Rectangles closer than this many patches may merge.
            waste: Rectangles merge only if their joint bounding box is at most
                ``waste`` times the sum of their areas.
            gap: Blank pixels between regions on the mosaic.

        Returns:
            The reading; ``patches`` = low-resolution patches + selected
            high-resolution patches; ``stages`` has ``"selection"`` (the
            low-resolution pass), ``"detection"`` and ``"recognition"``.

        Raises:
            ValueError: If not exactly one of ``select`` / ``max_patches`` is
                given, or if either is out of range.
        """
        from ps3_eval.models import ocr_mosaic

        if (select is None) == (max_patches is None):
            raise ValueError("give exactly one of select= or max_patches=")
        if select is not None and not 0.0 < select <= 1.0:
            raise ValueError(f"select must be in (0, 1], got {select}")
        if max_patches is not None and max_patches < 1:
            raise ValueError(f"max_patches must be >= 1, got {max_patches}")
        if mode not in ("bottom_up", "top_down"):
            raise ValueError(f"mode must be 'bottom_up' or 'top_down', got {mode!r}")

        t0 = time.perf_counter()
        rw, rh, scale = reading_size(image.width, image.height, resolution)
        rgb = self._rgb(image)
        low = self._low_pass(rgb, low_res, recognize=True)
        scores = self._scores(image, resolution, low, mode, queries, anchors)
        lw, lh, _ = reading_size(image.width, image.height, low_res)
        low_rows, low_cols = _grid(lw, lh)
        rows, cols = scores.shape
        n = rows * cols
        k = math.ceil(select * n) if select is not None else int(max_patches or 0)
        k = min(n, max(1, k))
        mask = _select_cells(scores, k, self.cell)
        rects = sorted(_merge_rects(_mask_rects(mask, block), merge_gap, waste))
        t1 = time.perf_counter()

        # Only the selected regions are resized to the reading resolution; the rest of this
        # array is never written or read.
        high = np.empty((rh, rw, 3), dtype=np.uint8)
        regions: list[tuple[int, int, int, int]] = []
        for r0, c0, r1, c1 in rects:
            x0, y0 = c0 * PATCH_SIZE, r0 * PATCH_SIZE
            x1, y1 = min(rw, c1 * PATCH_SIZE), min(rh, r1 * PATCH_SIZE)
            regions.append((x0, y0, x1, y1))
            high[y0:y1, x0:x1] = _resized_region(rgb, (x0, y0, x1, y1), rw, rh)
            sub = mask[r0:r1, c0:c1]
            if not sub.all():  # only selected pixels may be seen: blank the rest of the region
                crop = high[y0:y1, x0:x1]
                fill = np.median(crop[::2, ::2].reshape(-1, 3), axis=0).astype(crop.dtype)
                pix = np.repeat(np.repeat(sub, PATCH_SIZE, 0), PATCH_SIZE, 1)
                crop[~pix[: y1 - y0, : x1 - x0]] = fill
        background = np.median(low.low.reshape(-1, 3), axis=0).astype(high.dtype)
        recs: list[tuple[ocr_mosaic.Placement, str, float, np.ndarray]] = []
        t_det = 0.0
        for page in ocr_mosaic.pack(regions, self.page, gap):
            height = ocr_mosaic.page_height(page, self.page, gap)
            mosaic = ocr_mosaic.compose(high, page, self.page, height, background)
            t = time.perf_counter()
            quads = self._detect_single(mosaic).quads
            t_det += time.perf_counter() - t
            for text, score, quad in self._recognize(mosaic, quads, self.text_score):
                cx, cy = (float(v) for v in quad.mean(axis=0))
                place = ocr_mosaic.owner(page, (cx, cy))
                assert place is not None  # a quad on a page always has a nearest region
                recs.append((place, text, score, quad))
        del high
        lines: list[TextLine] = []
        for place, text, score, quad in recs:
            bx0, by0, bx1, by1 = _quad_bbox(place.to_source(quad))
            box = (bx0 / scale, by0 / scale, bx1 / scale, by1 / scale)
            lines.append(TextLine(text=text, score=score, box=box))
        seen = [(x0 / scale, y0 / scale, x1 / scale, y1 / scale) for x0, y0, x1, y1 in regions]
        big_scale = low.big.shape[1] / image.width
        high_boxes = [line.box for line in lines]
        for line in self._lines(
            [r for r in low.recs if r[1] >= self.text_score], (0, 0), big_scale
        ):
            # A low-resolution line gives way only to a high-resolution reading of the same place:
            # a selected region whose reading found nothing there keeps the low-resolution text.
            covered = sum(_intersection(line.box, box) for box in high_boxes)
            if covered < 0.5 * max(_area(line.box), 1e-6):
                lines.append(line)
        t2 = time.perf_counter()
        return ReadResult(
            lines=_sort_lines(lines),
            patches=low_rows * low_cols + k,
            stages={
                "selection": t1 - t0,
                "detection": t_det,
                "recognition": t2 - t1 - t_det,
                "total": t2 - t0,
            },
            selected_mask=mask,
            grid_shape=(rows, cols),
            scale=scale,
            regions=seen,
        )
