"""Tests for the OCR reader's engine and text matching (ps3_eval.models.ocr).

The pure helpers (match_option, box recall on the reading grid, reading_size) are tested without
the model. The engine tests run the real PP-OCR ONNX models on synthetic
pixels (no mocks); they share one engine and keep to a handful of OCR calls.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ps3_eval.models.ocr import (
    PATCH_SIZE,
    TextLine,
    match_option,
    reading_size,
    text_similarity,
)
from ps3_eval.records import Selection

CODE = "K7Q-482"
CODE_OPTIONS = [CODE, "K7O-482", "K7Q-432", "X7Q-482"]
FONT_PATHS = [
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
]


def _line(text: str, score: float = 0.95) -> TextLine:
    return TextLine(text=text, score=score, box=(0.0, 0.0, 10.0, 10.0))


# ---------------------------------------------------------------------------
# match_option (pure)
# ---------------------------------------------------------------------------


class TestMatchOption:
    def test_exact_token_beats_near_misses(self) -> None:
        idx, conf = match_option([_line("LOT 478")], ["47B", "478", "4B7", "17B"])
        assert idx == 1
        assert conf > 0.9

    def test_case_and_whitespace_insensitive(self) -> None:
        idx, _ = match_option([_line("fresh  milk   3l")], ["MILK 2L", "MILK 3L"])
        assert idx == 1

    def test_token_boundaries_respected(self) -> None:
        # "417B" is one edit from both "47B" and "17B"; "147BC" is far from all.
        assert match_option([_line("417B")], ["47B", "478", "4B7", "17B"]) == (None, 0.0)
        assert match_option([_line("A147BC")], ["47B", "478"]) == (None, 0.0)

    def test_compact_match_ignores_punctuation_and_spaces(self) -> None:
        idx, conf = match_option([_line("K7Q 482")], CODE_OPTIONS)
        assert idx == 0
        assert 0.4 < conf < 0.95
        idx, _ = match_option([_line("K7Q482")], CODE_OPTIONS)
        assert idx == 0

    def test_option_split_over_two_lines(self) -> None:
        idx, _ = match_option([_line("MILK"), _line("2L")], ["MILK 2L", "MILK 3L"])
        assert idx == 0

    def test_longest_nested_option_wins(self) -> None:
        idx, _ = match_option([_line("MILK 2L")], ["MILK", "MILK 2L", "MILK 3L"])
        assert idx == 1

    def test_two_unrelated_options_visible_is_ambiguous(self) -> None:
        assert match_option([_line("47B"), _line("478")], ["47B", "478", "17B"]) == (None, 0.0)

    def test_misread_equidistant_from_options_abstains(self) -> None:
        # "47E" is one edit from both "47B" and "478": never guess.
        assert match_option([_line("47E")], ["47B", "478", "4B7", "17B"]) == (None, 0.0)
        # "K70-482" is one edit from CODE and from "K7O-482".
        assert match_option([_line("K70-482")], CODE_OPTIONS) == (None, 0.0)

    def test_unambiguous_fuzzy_match_accepted_with_lower_confidence(self) -> None:
        options = ["WAREHOUSE 12", "CAFETERIA", "PARKING"]
        idx, conf = match_option([_line("WAREH0USE I2")], options)
        assert idx == 0
        assert 0.0 < conf < 0.8

    def test_weak_fuzzy_match_rejected(self) -> None:
        assert match_option([_line("STOP")], ["SHOP 12", "STEP 12"]) == (None, 0.0)

    def test_unrelated_text_and_empty_inputs(self) -> None:
        assert match_option([_line("EXIT")], ["47B", "478"]) == (None, 0.0)
        assert match_option([], ["47B"]) == (None, 0.0)
        assert match_option([_line("47B")], []) == (None, 0.0)

    def test_text_similarity(self) -> None:
        assert text_similarity("K7Q-482", "code: k7q 482 ok") == 1.0
        assert text_similarity("17B", "417B") == pytest.approx(0.75)
        assert text_similarity("ABCD", "ABXD") == pytest.approx(0.75)
        assert text_similarity("", "abc") == 0.0


# ---------------------------------------------------------------------------
# box recall / reading_size (pure)
# ---------------------------------------------------------------------------


def test_box_recall_on_the_reading_grid() -> None:
    # The reader records its selection on the grid of the reading (here half the original
    # size); recall maps an original-pixel box onto that grid.
    mask = np.zeros((10, 20), dtype=bool)
    mask[2, 3:6] = True
    sel = Selection(
        mode="top_down",
        selected_patches=3,
        total_patches=200,
        grid=(10, 20),
        patch_px=PATCH_SIZE / 0.5,
        mask_runs=Selection.encode_mask(mask),
    )
    # Original box (84, 56)-(168, 84) -> reading (42, 28)-(84, 42) -> cells r2, c3..5.
    assert sel.recall_of((84.0, 56.0, 168.0, 84.0)) == 1.0
    # Twice as tall: rows 2..3, half selected.
    assert sel.recall_of((84.0, 56.0, 168.0, 112.0)) == 0.5
    assert sel.recall_of((0.0, 0.0, 10.0, 10.0)) == 0.0
    assert sel.recall_of((5000.0, 5000.0, 5100.0, 5100.0)) == 0.0
    full = Selection(mode="full", selected_patches=200, total_patches=200)
    assert full.recall_of((0.0, 0.0, 10.0, 10.0)) == 1.0


def test_reading_size_never_upscales() -> None:
    assert reading_size(3840, 2160, 756) == (756, 425, 756 / 3840)
    assert reading_size(1000, 500, 3780) == (1000, 500, 1.0)
    with pytest.raises(ValueError):
        reading_size(10, 10, 0)


# ---------------------------------------------------------------------------
# Real-model tests
# ---------------------------------------------------------------------------


def _font(size: int) -> ImageFont.FreeTypeFont:
    for path in FONT_PATHS:
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)  # type: ignore[return-value]


def _sized_font(ink_height: int) -> ImageFont.FreeTypeFont:
    size = ink_height
    font = _font(size)
    for _ in range(20):
        box = font.getbbox(CODE)
        if box[3] - box[1] >= ink_height:
            break
        size += 1
        font = _font(size)
    return font


def _frame_4k(code_height: int = 20) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """A cluttered 3840x2160 frame with CODE on a small label; returns its box."""
    rng = random.Random(7)
    img = Image.new("RGB", (3840, 2160), (170, 185, 200))
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x, y = rng.randint(0, 3700), rng.randint(0, 2000)
        col = tuple(rng.randint(40, 250) for _ in range(3))
        draw.rectangle([x, y, x + rng.randint(60, 500), y + rng.randint(60, 300)], fill=col)
    for _ in range(40):
        pts = [
            rng.randint(0, 3840),
            rng.randint(0, 2160),
            rng.randint(0, 3840),
            rng.randint(0, 2160),
        ]
        draw.line(pts, fill=(rng.randint(0, 255),) * 3, width=rng.randint(1, 5))
    # Large distractor text readable at any resolution.
    draw.text((200, 150), "LOADING DOCK", font=_font(110), fill=(10, 10, 10))
    font = _sized_font(code_height)
    x, y = 2650, 1500
    bb = font.getbbox(CODE)
    draw.rectangle(
        [x - 12, y - 10, x + bb[2] - bb[0] + 12, y + bb[3] - bb[1] + 10], fill=(245, 245, 240)
    )
    draw.text((x - bb[0], y - bb[1]), CODE, font=font, fill=(20, 20, 25))
    return img, (float(x), float(y), float(x + bb[2] - bb[0]), float(y + bb[3] - bb[1]))


@pytest.fixture(scope="module")
def engine():  # type: ignore[no-untyped-def]
    from ps3_eval.models.ocr import OcrEngine

    return OcrEngine(threads=2)


@pytest.fixture(scope="module")
def frame() -> tuple[Image.Image, tuple[float, float, float, float]]:
    return _frame_4k()


def test_small_code_needs_high_resolution(engine, frame) -> None:  # type: ignore[no-untyped-def]
    img, box = frame
    low = engine.read_full(img, 756)
    assert low.patches == 54 * 31
    assert low.selected_mask is None and low.grid_shape == (31, 54)
    assert "LOADING" in low.text.upper()  # large text is read at low res ...
    assert match_option(low.lines, CODE_OPTIONS)[0] is None  # ... the small code is not

    high = engine.read_full(img, 3780)
    assert high.patches == 270 * 152
    assert set(high.stages) >= {"detection", "recognition"}
    idx, conf = match_option(high.lines, CODE_OPTIONS)
    assert idx == 0 and conf > 0.8
    line = next(ln for ln in high.lines if "482" in ln.text)
    # Boxes are reported in original-image coordinates.
    assert abs(line.box[0] - box[0]) < 40 and abs(line.box[1] - box[1]) < 25


def test_top_down_selection_reads_code_with_few_patches(engine, frame) -> None:  # type: ignore[no-untyped-def]
    img, box = frame
    res = engine.read_selective(img, 3780, max_patches=600, mode="top_down", queries=CODE_OPTIONS)
    assert res.selected_mask is not None
    assert res.selected_mask.shape == res.grid_shape == (152, 270)
    assert int(res.selected_mask.sum()) == 600
    assert res.patches == 54 * 31 + 600  # low-res pass + selected patches
    assert res.patches < 0.1 * 270 * 152
    assert set(res.stages) == {"selection", "detection", "recognition", "total"}
    assert res.selection("top_down").recall_of(box) == 1.0
    assert match_option(res.lines, CODE_OPTIONS)[0] == 0
    # Read on a packed mosaic page, the code's line is reported where the image has it.
    line = next(ln for ln in res.lines if "482" in ln.text)
    assert abs(line.box[0] - box[0]) < 40 and abs(line.box[1] - box[1]) < 25
    # The low-resolution view is part of the reading: its large text is there too.
    assert "DOCK" in res.text.upper()


def test_selection_argument_validation(engine, frame) -> None:  # type: ignore[no-untyped-def]
    img, _ = frame
    with pytest.raises(ValueError):
        engine.read_selective(img, 3780)
    with pytest.raises(ValueError):
        engine.read_selective(img, 3780, select=0.1, max_patches=10)
    with pytest.raises(ValueError):
        engine.read_selective(img, 3780, select=1.5)


def test_tiled_detection_keeps_lines_whole_across_tile_borders() -> None:
    from ps3_eval.models.ocr import OcrEngine

    tiled = OcrEngine(threads=2, tile=192, margin=32, max_pixels=0)
    img = Image.new("RGB", (900, 420), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = _font(34)
    words = ["ALPHA 17", "BRAVO 42", "DELTA 93"]
    # Placed so that every word straddles a tile border (cores start at 0/192/384/576/768).
    for i, word in enumerate(words):
        draw.text((120 + 230 * i, 60 + 120 * i), word, font=font, fill=(0, 0, 0))
    res = tiled.read_full(img, 900)
    texts = [ln.text.upper().replace(" ", "") for ln in res.lines]
    for word in words:
        assert texts.count(word.replace(" ", "")) == 1, texts
    assert len(res.lines) == len(words), texts


def test_a_tiled_full_resolution_read_of_a_probe4k_scene_reads_as_one_pass(engine) -> None:  # type: ignore[no-untyped-def]
    # A 4K-detail probe4k item, read at full resolution in tiles (as every reading above
    # max_pixels is) and in one detector pass; a 1536x1024 cut around the detail keeps the
    # single pass small. The tiles' maps are stitched, so lines crossing tile borders are whole.
    from ps3_eval.models.ocr import OcrEngine
    from ps3_eval.probe4k import render_item

    image, fields = render_item(0, 2, "gaming", "4K", 1)
    x0, y0, x1, y1 = fields["bbox"]
    left = min(max(0, (x0 + x1) // 2 - 768), image.width - 1536)
    top = min(max(0, (y0 + y1) // 2 - 512), image.height - 1024)
    cut = image.crop((left, top, left + 1536, top + 1024))
    tiled = OcrEngine(threads=2, max_pixels=0).read_full(cut, 1536)
    single = engine.read_full(cut, 1536)
    assert tiled.scale == single.scale == 1.0
    choices = list(fields["choices"])
    gold = "ABCD".index(fields["answer"])
    assert match_option(single.lines, choices)[0] == gold
    assert match_option(tiled.lines, choices)[0] == gold
    assert [ln.text for ln in tiled.lines] == [ln.text for ln in single.lines]


def _loading_dock_box() -> tuple[float, float, float, float]:
    bb = _font(110).getbbox("LOADING DOCK")
    return (200.0 + bb[0], 150.0 + bb[1], 200.0 + bb[2], 150.0 + bb[3])


def test_top_down_spends_no_patches_on_text_read_at_low_resolution(engine, frame) -> None:  # type: ignore[no-untyped-def]
    img, box = frame
    dock = _loading_dock_box()
    res = engine.read_selective(img, 3780, max_patches=4000, mode="top_down", queries=CODE_OPTIONS)
    assert res.selection("top_down").recall_of(box) == 1.0
    # The large heading is read with confidence at 756 px and is unlike every option: selecting
    # it would read it again, so the budget goes elsewhere (bottom-up has no options to judge by).
    assert res.selection("top_down").recall_of(dock) < 0.1
    saliency = engine.read_selective(img, 3780, max_patches=4000, mode="bottom_up")
    assert saliency.selection("bottom_up").recall_of(dock) > 0.5


def test_anchor_named_by_the_question_raises_the_scores_around_it(engine, frame) -> None:  # type: ignore[no-untyped-def]
    img, _ = frame
    x0, y0, x1, y1 = _loading_dock_box()
    plain, _ = engine.patch_scores(img, 3780, mode="top_down", queries=CODE_OPTIONS)
    anchored, _ = engine.patch_scores(
        img, 3780, mode="top_down", queries=CODE_OPTIONS, anchors=["Loading Dock"]
    )
    s = 3780 / 3840 / 14
    # The band just below the heading: where "the code below 'Loading Dock'" would be.
    below = (slice(int(y1 * s), int((y1 + (y1 - y0)) * s)), slice(int(x0 * s), int(x1 * s)))
    assert float(anchored[below].mean()) > float(plain[below].mean()) + 1.0
    far = (slice(120, 150), slice(200, 260))
    assert np.allclose(anchored[far], plain[far])


def test_a_reused_low_pass_reads_as_a_fresh_one() -> None:
    # The process keeps the low-resolution pass of an image read, for the next budget (in the
    # demo, the next run's engine). What is read with it must be what an engine that runs every
    # pass itself reads, and a different image of the same size (here the frame mirrored) must
    # get a pass of its own.
    from PIL import ImageOps

    from ps3_eval.models.ocr import OcrEngine

    small = [_frame_4k(code_height=20)[0].resize((1920, 1080), Image.Resampling.LANCZOS)]
    moved = ImageOps.mirror(small[0])
    args = {"mode": "top_down", "queries": CODE_OPTIONS, "low_res": 480}
    OcrEngine(threads=2).read_selective(small[0], 1512, max_patches=300, **args)  # type: ignore[arg-type]
    later = OcrEngine(threads=2)

    def view(res):  # type: ignore[no-untyped-def]
        return [(ln.text, ln.box) for ln in res.lines], res.selected_mask.tolist()

    for image in (small[0], moved):
        again = later.read_selective(image, 1512, max_patches=600, **args)  # type: ignore[arg-type]
        fresh = OcrEngine(threads=2, reuse_low_pass=False).read_selective(
            image,
            1512,
            max_patches=600,
            **args,  # type: ignore[arg-type]
        )
        assert view(again) == view(fresh)


def test_the_engine_s_sessions_sleep_between_ops_and_compute_what_spinning_ones_do(  # type: ignore[no-untyped-def]
    engine, frame
) -> None:
    import onnxruntime as ort

    key = "session.intra_op.allow_spinning"
    det = engine._det.infer.session
    assert det.get_session_options().get_session_config_entry(key) == "0"
    assert engine._rec.session.session.get_session_options().get_session_config_entry(key) == "0"
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = engine._threads
    opts.inter_op_num_threads = 1
    opts.enable_cpu_mem_arena = False
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry(key, "1")
    spinning = ort.InferenceSession(
        det._model_path, sess_options=opts, providers=det.get_providers()
    )
    image = frame[0]
    rw, rh, _ = reading_size(image.width, image.height, 1024)
    bgr = engine._to_bgr(engine._rgb(image), rw, rh)
    quiet = engine._probability(bgr)
    engine._det.infer.session = spinning
    try:
        spun = engine._probability(bgr)
    finally:
        engine._det.infer.session = det
    assert quiet.shape == (rh, rw)
    assert np.array_equal(quiet, spun)  # bit for bit
