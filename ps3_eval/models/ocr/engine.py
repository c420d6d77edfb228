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
  image (:mod:`~ps3_eval.models.ocr.selection`), the top patches are selected,
  and only those patches (grouped into a few rectangles, with everything
  unselected blanked out and packed into one mosaic,
  :mod:`~ps3_eval.models.ocr.mosaic`) are read at high resolution.

Visual-token accounting follows PS3: one token per 14x14-pixel patch.

``rapidocr_onnxruntime`` is imported lazily, so importing this module is cheap. The module is a
little over 500 lines because both readings document every parameter they take; the geometry,
the selection policy and the mosaic live in their own modules.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ps3_eval.models.ocr import mosaic
from ps3_eval.models.ocr.geometry import (
    PATCH_SIZE,
    Box,
    area,
    grid,
    intersection,
    quad_bbox,
    reading_size,
    resized_region,
    tile_spans,
)
from ps3_eval.models.ocr.selection import (
    LowPass,
    Mode,
    Policy,
    mask_rects,
    merge_rects,
    score_grid,
    select_cells,
)
from ps3_eval.models.ocr.text import TextLine, compact, sort_lines
from ps3_eval.records import Selection

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["LOW_PASSES_KEPT", "OcrEngine", "ReadResult"]

LOW_PASSES_KEPT = 32
"""Low-resolution passes the process keeps for images read again (most recent first)."""

_LOW_PASSES: OrderedDict[tuple[Any, ...], tuple[LowPass, float]] = OrderedDict()
_LOW_LOCK = threading.Lock()


_ORT_PATCHED = False


def _quiet_ort_threads() -> None:
    """Sessions RapidOCR builds from now on have ONNX Runtime's intra-op threads sleep, not spin.

    A spinning worker burns a core while it waits for work, which on a shared or busy CPU costs a
    third of a reading's CPU seconds (``perf/ocr_spin.py``). The threads, their number and how the
    work is split are unchanged, so every output is bit for bit the same. The same once-per-process
    step caps the malloc arenas (:func:`_few_malloc_arenas`).
    """
    global _ORT_PATCHED
    with _LOW_LOCK:
        if _ORT_PATCHED:
            return
        from rapidocr_onnxruntime.utils.infer_engine import OrtInferSession

        build = OrtInferSession._init_sess_opts

        def init_sess_opts(config: dict[str, Any]) -> Any:
            opts = build(config)
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return opts

        OrtInferSession._init_sess_opts = staticmethod(init_sess_opts)
        _few_malloc_arenas()
        _ORT_PATCHED = True


_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def _few_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas for this process; ``False`` where the C library has no mallopt.

    Every thread that allocates under contention gets an arena of its own (up to 8 per core), and
    the large buffers of a 4K reading that ONNX Runtime's and the decoders' threads free stay
    reserved in their arenas: the demo's peak grew run after run to 1.65 GB, against 1.04 GB with
    two arenas (``MALLOC_ARENA_MAX=2``), in the same CPU time. Allocation is all it changes.
    """
    import ctypes

    # The process's own symbols include the C library's: no ldconfig lookup per engine.
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    return mallopt is not None and bool(mallopt(_M_ARENA_MAX, arenas))


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

    def selection(self, mode: str) -> Selection:
        """The reading's patch selection as the run records it (``mode`` names the policy).

        Its :meth:`~ps3_eval.records.Selection.recall_of` is the box recall of the selection
        (paper, Table 7): the share of a box's patches on the reading grid that were read.
        """
        rows, cols = self.grid_shape
        total = rows * cols
        if self.selected_mask is None:
            return Selection(mode="full", selected_patches=total, total_patches=total)
        return Selection(
            mode=mode,
            selected_patches=int(self.selected_mask.sum()),
            total_patches=total,
            grid=(rows, cols),
            patch_px=PATCH_SIZE / self.scale,
            mask_runs=Selection.encode_mask(self.selected_mask),
        )


@dataclass
class _Detection:
    quads: list[np.ndarray]
    prob: np.ndarray  # (h, w) text probability map


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
            :func:`~ps3_eval.models.ocr.selection.select_cells`); wide, short cells fit
            lines of text.
        legible: Top-down only: low-resolution lines read with at least this
            confidence and unlike every option are suppressed (their patches
            lose ``suppress``), since reading them again adds nothing.
        legible_far: The same for lines read with at least this confidence
            that are far from every option (similarity below 0.2).
        suppress: Score taken from the patches of such lines.
        reuse_low_pass: Take a low-resolution pass made before for the same pixels and
            settings (by any engine of this process) instead of running it again: the demo
            reads every image at two selection budgets, in two runs. The last
            :data:`LOW_PASSES_KEPT` passes are kept, about 4 MB each at ``low_res=756``.
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
        reuse_low_pass: bool = True,
    ) -> None:
        if tile < 64:
            raise ValueError(f"tile must be >= 64, got {tile}")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        from rapidocr_onnxruntime import RapidOCR

        _quiet_ort_threads()
        self.tile = tile
        self.margin = margin
        self.max_pixels = max_pixels
        self.text_score = text_score
        self.use_cls = use_cls
        self.selection_upsample = selection_upsample
        self.page = page
        self.cell = cell
        self.policy = Policy(
            smooth=smooth, legible=legible, legible_far=legible_far, suppress=suppress
        )
        self.reuse_low_pass = reuse_low_pass
        self._threads = threads
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
        for cy0, cy1, ty0, ty1 in tile_spans(h, self.tile, self.margin):
            for cx0, cx1, tx0, tx1 in tile_spans(w, self.tile, self.margin):
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
            x0, y0, x1, y1 = quad_bbox(quad)
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
        rows, cols = grid(rw, rh)
        return ReadResult(
            lines=sort_lines(self._lines(recs, (0, 0), scale)),
            patches=rows * cols,
            stages={"detection": t1 - t0, "recognition": t2 - t1, "total": t2 - t0},
            selected_mask=None,
            grid_shape=(rows, cols),
            scale=scale,
        )

    def _low_pass(self, rgb: np.ndarray, low_res: int, recognize: bool) -> tuple[LowPass, float]:
        """One pass over the low-resolution view, and the seconds it took when it ran.

        The same image read again with the same ``low_res`` (another selection budget, say)
        gets the pass computed before: it depends on nothing else. The seconds are those of the
        pass as it ran, so a reading's selection stage costs what the pass costs. The store is
        the process's, not the engine's: an engine per run keeps ONNX Runtime's memory arenas
        at one run's reading size (one engine for every run grew the 3780 read's peak by the
        arena of the 1512 one).
        """
        key = (
            hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=16).digest(),
            rgb.shape,
            low_res,
            recognize,
            self.selection_upsample,
            self._threads,
        )
        if self.reuse_low_pass:
            with _LOW_LOCK:
                hit = _LOW_PASSES.get(key)
                if hit is not None:
                    _LOW_PASSES.move_to_end(key)
                    return hit
        t0 = time.perf_counter()
        low = self._compute_low_pass(rgb, low_res, recognize)
        entry = (low, time.perf_counter() - t0)
        if self.reuse_low_pass:
            with _LOW_LOCK:
                _LOW_PASSES[key] = entry
                while len(_LOW_PASSES) > LOW_PASSES_KEPT:
                    _LOW_PASSES.popitem(last=False)
        return entry

    def _compute_low_pass(self, rgb: np.ndarray, low_res: int, recognize: bool) -> LowPass:
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
        return LowPass(low=low, big_width=big.shape[1], prob=det.prob, quads=det.quads, recs=recs)

    def _scores(
        self,
        image: Image.Image,
        resolution: int,
        low: LowPass,
        mode: Mode,
        queries: list[str] | None,
        anchors: list[str] | None = None,
    ) -> np.ndarray:
        """Scores of the high-resolution patch grid from a low-resolution pass."""
        rw, rh, _ = reading_size(image.width, image.height, resolution)
        return score_grid(low, (rw, rh), mode, queries, anchors, self.policy)

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
        ``3 * similarity`` (see :func:`~ps3_eval.models.ocr.text.text_similarity`) to the
        patches under lines resembling any of ``queries`` (similarity >= 0.4), padded by half
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
        low, _ = self._low_pass(self._rgb(image), low_res, recognize=usable)
        lw, lh, _ = reading_size(image.width, image.height, low_res)
        low_rows, low_cols = grid(lw, lh)
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
        whole ``cell`` units (:func:`~ps3_eval.models.ocr.selection.select_cells`) and grouped into
        rectangles (the bounding box of the selection inside each
        ``block`` x ``block``-patch block, neighbours merged while that wastes
        little area); only those rectangles are resized to the reading
        resolution and cut out
        with every unselected patch blanked (the region's median colour),
        packed side by side with ``gap`` blank pixels between them into one
        mosaic (:mod:`~ps3_eval.models.ocr.mosaic`), and the detector runs once
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
                into rectangles (see :func:`~ps3_eval.models.ocr.selection.mask_rects`).
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
        t_pass = time.perf_counter()
        low, low_seconds = self._low_pass(rgb, low_res, recognize=True)
        t_pass = time.perf_counter() - t_pass
        scores = self._scores(image, resolution, low, mode, queries, anchors)
        lw, lh, _ = reading_size(image.width, image.height, low_res)
        low_rows, low_cols = grid(lw, lh)
        rows, cols = scores.shape
        n = rows * cols
        k = math.ceil(select * n) if select is not None else int(max_patches or 0)
        k = min(n, max(1, k))
        mask = select_cells(scores, k, self.cell)
        rects = sorted(merge_rects(mask_rects(mask, block), merge_gap, waste))
        t1 = time.perf_counter()

        # Only the selected regions are resized to the reading resolution; the rest of this
        # array is never written or read.
        high = np.empty((rh, rw, 3), dtype=np.uint8)
        regions: list[tuple[int, int, int, int]] = []
        for r0, c0, r1, c1 in rects:
            x0, y0 = c0 * PATCH_SIZE, r0 * PATCH_SIZE
            x1, y1 = min(rw, c1 * PATCH_SIZE), min(rh, r1 * PATCH_SIZE)
            regions.append((x0, y0, x1, y1))
            high[y0:y1, x0:x1] = resized_region(rgb, (x0, y0, x1, y1), rw, rh)
            sub = mask[r0:r1, c0:c1]
            if not sub.all():  # only selected pixels may be seen: blank the rest of the region
                crop = high[y0:y1, x0:x1]
                fill = np.median(crop[::2, ::2].reshape(-1, 3), axis=0).astype(crop.dtype)
                pix = np.repeat(np.repeat(sub, PATCH_SIZE, 0), PATCH_SIZE, 1)
                crop[~pix[: y1 - y0, : x1 - x0]] = fill
        background = np.median(low.low.reshape(-1, 3), axis=0).astype(high.dtype)
        recs: list[tuple[mosaic.Placement, str, float, np.ndarray]] = []
        t_det = 0.0
        for page in mosaic.pack(regions, self.page, gap):
            height = mosaic.page_height(page, self.page, gap)
            sheet = mosaic.compose(high, page, self.page, height, background)
            t = time.perf_counter()
            quads = self._detect_single(sheet).quads
            t_det += time.perf_counter() - t
            for text, score, quad in self._recognize(sheet, quads, self.text_score):
                cx, cy = (float(v) for v in quad.mean(axis=0))
                place = mosaic.owner(page, (cx, cy))
                assert place is not None  # a quad on a page always has a nearest region
                recs.append((place, text, score, quad))
        del high
        lines: list[TextLine] = []
        for place, text, score, quad in recs:
            bx0, by0, bx1, by1 = quad_bbox(place.to_source(quad))
            box = (bx0 / scale, by0 / scale, bx1 / scale, by1 / scale)
            lines.append(TextLine(text=text, score=score, box=box))
        seen = [(x0 / scale, y0 / scale, x1 / scale, y1 / scale) for x0, y0, x1, y1 in regions]
        big_scale = low.big_width / image.width
        high_boxes = [line.box for line in lines]
        for line in self._lines(
            [r for r in low.recs if r[1] >= self.text_score], (0, 0), big_scale
        ):
            # A low-resolution line gives way only to a high-resolution reading of the same place:
            # a selected region whose reading found nothing there keeps the low-resolution text.
            covered = sum(intersection(line.box, box) for box in high_boxes)
            if covered < 0.5 * max(area(line.box), 1e-6):
                lines.append(line)
        t2 = time.perf_counter()
        # A low pass reused from an earlier reading counts what it took when it ran.
        selection = t1 - t0 - t_pass + low_seconds
        return ReadResult(
            lines=sort_lines(lines),
            patches=low_rows * low_cols + k,
            stages={
                "selection": selection,
                "detection": t_det,
                "recognition": t2 - t1 - t_det,
                "total": selection + (t2 - t1),
            },
            selected_mask=mask,
            grid_shape=(rows, cols),
            scale=scale,
            regions=seen,
        )
