"""Packing selected regions onto detector pages: pure geometry."""

import itertools

import numpy as np
import pytest

from ps3_eval.models.ocr.mosaic import Placement, compose, owner, pack, page_height, split


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int], gap: int) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def test_pages_hold_every_region_apart_and_inside() -> None:
    rng = np.random.default_rng(0)
    rects = []
    for _ in range(60):
        x, y = int(rng.integers(0, 3000)), int(rng.integers(0, 1800))
        rects.append((x, y, x + int(rng.integers(14, 400)), y + int(rng.integers(14, 200))))
    page, gap = 1024, 16
    pages = pack(rects, page, gap)
    placed = [p for pg in pages for p in pg]
    assert sorted(p.src for p in placed) == sorted(rects)  # each region once, none cut
    for pg in pages:
        for p in pg:
            x0, y0, x1, y1 = p.dst
            assert gap <= x0 and gap <= y0 and x1 <= page - gap and y1 <= page - gap
        for i, a in enumerate(pg):
            for b in pg[i + 1 :]:
                assert not _overlaps(a.dst, b.dst, gap)  # a gap of blank between any two
    used = sum((r[2] - r[0]) * (r[3] - r[1]) for r in rects)
    assert len(pages) <= 2 * used / page**2 + 1  # the pages are not mostly empty


def test_large_regions_are_split_with_overlap() -> None:
    pieces = split((0, 0, 2500, 300), limit=992, overlap=48)
    assert [p[0] for p in pieces] == [0, 944, 1508]
    assert all(p[2] - p[0] <= 992 for p in pieces) and pieces[-1][2] == 2500
    assert all(a[2] - b[0] >= 48 for a, b in itertools.pairwise(pieces))
    pages = pack([(0, 0, 2500, 300)], 1024, 16)
    assert sum(len(pg) for pg in pages) == 3


def test_compose_copies_pixels_and_maps_points_back() -> None:
    image = np.arange(200 * 300 * 3, dtype=np.int64).reshape(200, 300, 3) % 251
    rects = [(10, 20, 60, 50), (200, 100, 290, 190)]
    (page,) = pack(rects, 256, 8)
    canvas = compose(image.astype(np.uint8), page, 256, 256, np.array([7, 7, 7], np.uint8))
    for p in page:
        x0, y0, x1, y1 = p.src
        dx0, dy0, dx1, dy1 = p.dst
        assert np.array_equal(canvas[dy0:dy1, dx0:dx1], image[y0:y1, x0:x1])
        corner = np.array([[dx0 + 3.0, dy0 + 5.0]])
        assert p.to_source(corner).tolist() == [[x0 + 3.0, y0 + 5.0]]
        assert owner(page, (dx0 + 1.0, dy0 + 1.0)) is p
    assert (canvas[0, 0] == 7).all()  # the background between regions is blank
    far = Placement((0, 0, 10, 10), 100, 100)
    assert far.to_source(np.array([[500.0, -50.0]])).tolist() == [[10.0, 0.0]]  # clipped


def test_page_must_fit_its_gaps() -> None:
    with pytest.raises(ValueError, match="twice the gap"):
        pack([(0, 0, 5, 5)], 30, 16)


def test_pages_are_cut_below_their_last_shelf_in_whole_steps() -> None:
    (page,) = pack([(0, 0, 300, 100), (400, 0, 700, 60)], page=1024, gap=8)
    # The tallest region ends at 8 + 100; with the gap below it, 116 rows are used: one step.
    assert page_height(page, 1024, 8) == 128
    tall = pack([(0, 0, 300, 130)], page=1024, gap=8)[0]
    assert page_height(tall, 1024, 8) == 256
    full = pack([(0, 0, 300, 1000)], page=1024, gap=8)[0]
    assert page_height(full, 1024, 8) == 1024
