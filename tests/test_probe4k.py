"""The synthetic Probe4K generator (ps3_eval.probe4k), through its public names."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ps3_eval import probe4k
from ps3_eval.probe4k import (
    CATEGORIES,
    MRR_BUCKETS,
    Probe4kItem,
    generate,
    text_height_for,
)

N = 8  # two full answer blocks; < 3 s to draw on 2 cores


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("probe4k-cache")


@pytest.fixture(scope="module")
def items(cache: Path) -> list[Probe4kItem]:
    return generate(N, seed=0, cache_dir=cache)


def _norm(s: str) -> str:
    return "".join(ch for ch in s.upper() if ch.isalnum())


def test_item_fields(items: list[Probe4kItem]) -> None:
    assert [it.id for it in items] == [f"probe4k-s0-{i:05d}" for i in range(N)]
    for it in items:
        assert it.image.is_file()
        with Image.open(it.image) as im:
            assert im.size == (3840, 2160)
        assert it.category in CATEGORIES
        assert it.mrr in MRR_BUCKETS
        assert it.answer in "ABCD" and len(it.choices) == 4
        assert it.question.endswith("?")
        designed = it.metadata["designed_text_height"]
        assert abs(designed - text_height_for(it.mrr)) <= 0.25 * text_height_for(it.mrr)
        assert abs(it.text_height_px - designed) <= 1
        assert it.metadata["template"]
        x0, y0, x1, y1 = it.bbox
        assert 0 <= x0 < x1 <= 3840 and 0 <= y0 < y1 <= 2160
        # The box hugs the text: about one cap height tall (descenders allowed).
        assert it.text_height_px - 1 <= y1 - y0 <= 1.6 * it.text_height_px + 3


def test_options_are_distinct_near_misses(items: list[Probe4kItem]) -> None:
    for it in items:
        normed = {_norm(c) for c in it.choices}
        assert len(normed) == 4, it.choices
        truth = it.answer_text
        for c in it.choices:
            # Near misses: same length up to a character, mostly shared characters.
            assert abs(len(c) - len(truth)) <= 1
            same = sum(a == b for a, b in zip(c, truth, strict=False))
            assert same >= len(truth) - 4, (c, truth)


def test_answer_is_drawn_inside_bbox(items: list[Probe4kItem]) -> None:
    for it in items:
        with Image.open(it.image) as im:
            patch = np.asarray(im.convert("L").crop(it.bbox), dtype=np.int16)
        # Text on its plate/panel: dark and light pixels side by side.
        assert int(patch.max()) - int(patch.min()) > 100, it.id
        assert patch.std() > 20, it.id


def test_determinism_and_seed(tmp_path: Path, items: list[Probe4kItem]) -> None:
    again = generate(4, seed=0, cache_dir=tmp_path / "a")
    for a, b in zip(again, items[:4], strict=True):
        assert a.image.read_bytes() == b.image.read_bytes()
        assert a.to_dict() == {**b.to_dict(), "image": str(a.image)}
    other = generate(4, seed=1, cache_dir=tmp_path / "b")
    assert all(
        a.image.read_bytes() != b.image.read_bytes() for a, b in zip(again, other, strict=True)
    )
    assert [it.id for it in other] == [f"probe4k-s1-{i:05d}" for i in range(4)]


def test_cache_hit_does_not_regenerate(cache: Path, items: list[Probe4kItem]) -> None:
    folder = cache / f"probe4k-v{probe4k.VERSION}-s0-n{N}"
    assert (folder / "manifest.jsonl").is_file()
    # Every file is written to a temporary name and moved into place: a file drawn again would
    # be a new inode with a new time.
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}
    again = generate(N, seed=0, cache_dir=cache)
    assert again == items
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()} == before


def test_interrupted_generation_leaves_no_manifest(tmp_path: Path) -> None:
    folder = tmp_path / f"probe4k-v{probe4k.VERSION}-s5-n2"
    # A folder where the second image goes: writing it fails after the first image is saved.
    (folder / "probe4k-s5-00001.png").mkdir(parents=True)
    with pytest.raises(OSError):
        generate(2, seed=5, cache_dir=tmp_path)
    assert (folder / "probe4k-s5-00000.png").is_file()
    assert not (folder / "manifest.jsonl").exists()
    assert not list(folder.glob(".*.tmp"))
    (folder / "probe4k-s5-00001.png").rmdir()
    assert len(generate(2, seed=5, cache_dir=tmp_path)) == 2
    assert (folder / "manifest.jsonl").is_file()


def test_balance_without_rendering() -> None:
    for cats in (CATEGORIES, ("ui",), ("gaming", "ui"), CATEGORIES[:3]):
        n = 3 * len(cats) * 4 * 5
        rows = [probe4k.assignment(i, cats, seed=3) for i in range(n)]
        assert collections.Counter(r[2] for r in rows) == {p: n // 4 for p in range(4)}
        pairs = collections.Counter((r[0], r[1]) for r in rows)
        assert set(pairs.values()) == {n // (3 * len(cats))}
        assert len(pairs) == 3 * len(cats)
        # Every prefix is balanced within one item on both margins.
        for k in range(1, n + 1):
            for col, keys in ((0, cats), (1, MRR_BUCKETS)):
                c = collections.Counter(r[col] for r in rows[:k])
                counts = [c.get(key, 0) for key in keys]
                assert max(counts) - min(counts) <= 1


def test_generated_balance(items: list[Probe4kItem]) -> None:
    assert collections.Counter(it.answer for it in items) == {x: N // 4 for x in "ABCD"}
    assert set(collections.Counter(it.category for it in items).values()) == {N // 4}


def test_category_subset(tmp_path: Path) -> None:
    got = generate(2, seed=0, categories=["ui"], cache_dir=tmp_path)
    assert {it.category for it in got} == {"ui"}
    assert got[0].image.parent.name == f"probe4k-v{probe4k.VERSION}-s0-n2-ui"


def test_text_heights_are_ordered() -> None:
    h = [text_height_for(b) for b in MRR_BUCKETS]
    assert h == sorted(h, reverse=True) and h[-1] >= 6
    with pytest.raises(ValueError, match="1K, 2K, 4K"):
        text_height_for("8K")


@pytest.mark.parametrize("n", [0, -3])
def test_bad_n(n: int, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        generate(n, cache_dir=tmp_path)


def test_bad_category(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown.*'cars'.*valid: autonomous_vehicle, household"):
        generate(4, categories=["ui", "cars"], cache_dir=tmp_path)
    with pytest.raises(ValueError, match="must not be empty"):
        generate(4, categories=[], cache_dir=tmp_path)


def _ocr_read(engine: object, image: Image.Image, bbox: tuple[int, int, int, int], res: int) -> str:
    """Reads like a model at long side ``res``: resize the whole frame, crop ~800 px around the
    detail (the detector would shrink anything larger) and OCR the crop."""
    scale = res / 3840
    small = image.resize((round(3840 * scale), round(2160 * scale)), Image.Resampling.BICUBIC)
    cx, cy = (bbox[0] + bbox[2]) / 2 * scale, (bbox[1] + bbox[3]) / 2 * scale
    w, h = min(800, small.width), min(800, small.height)
    x0 = int(min(max(0, cx - w / 2), small.width - w))
    y0 = int(min(max(0, cy - h / 2), small.height - h))
    crop = np.asarray(small.crop((x0, y0, x0 + w, y0 + h)))[:, :, ::-1]
    result, _ = engine(np.ascontiguousarray(crop))  # type: ignore[operator]
    return " ".join(r[1] for r in result or [])


def test_ocr_reads_4k_detail_only_at_full_resolution() -> None:
    import rapidocr_onnxruntime as rapidocr  # a core dependency: never skipped

    engine = rapidocr.RapidOCR()
    for index in range(2):
        image, f = probe4k.render_item(11, index, CATEGORIES[index], "4K", index)
        truth = _norm(f["choices"]["ABCD".index(f["answer"])])
        full = _norm(_ocr_read(engine, image, f["bbox"], 3780))
        low = _norm(_ocr_read(engine, image, f["bbox"], 756))
        assert truth in full, (truth, full)
        assert not any(_norm(c) in low for c in f["choices"]), (f["choices"], low)


# One scene of every template (the HUD at 2K, its own text height), as drawn when the generator
# was split into a package: sha256 of the RGB pixels and of the item's fields. A change here
# changes the benchmark; it needs a new VERSION, never a re-pin alone.
PINNED_SCENES = [
    ((0, 0, "autonomous_vehicle", "1K", 0), "licence_plate", "085be8dcbb3ccae4",
     "bb955965f3b37e20"),
    ((0, 1, "autonomous_vehicle", "4K", 1), "gantry_exit", "d7e93aff7b075949", "c4cf3f0e2bd11e9f"),
    ((0, 0, "household", "2K", 2), "appliance_label", "b14c1723d71ccbd2", "8f9428101ff2575f"),
    ((0, 1, "household", "1K", 3), "package_lot", "75d9b9eccf581b51", "1ce578db8d22c841"),
    ((0, 0, "gaming", "2K", 1), "hud_counter", "5d2c22fa25aff59b", "2581b17a673ef7a3"),
    ((0, 1, "gaming", "4K", 0), "inventory_item", "25f031d53d380a59", "3a2834e783ba1f84"),
    ((0, 0, "ui", "4K", 3), "menu_entry", "343b63e017899165", "33c0ce8b99cc9a49"),
    ((0, 1, "ui", "2K", 2), "status_bar_build", "57cec62af664eabe", "634483ba8fc24b0c"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "template", "pixels", "fields"), PINNED_SCENES)
def test_every_template_draws_the_pinned_scene(
    args: tuple[int, int, str, str, int], template: str, pixels: str, fields: str
) -> None:
    import hashlib
    import json

    image, got = probe4k.render_item(*args)
    assert got["metadata"]["template"] == template
    assert hashlib.sha256(image.tobytes()).hexdigest()[:16] == pixels
    assert hashlib.sha256(json.dumps(got, sort_keys=True).encode()).hexdigest()[:16] == fields


def test_a_cached_scene_holds_the_drawn_pixels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PS3_EVAL_CACHE", str(tmp_path))  # the default cache root
    (item,) = generate(1, seed=0, categories=["ui"])
    assert item.image.parent == tmp_path / f"probe4k-v{probe4k.VERSION}-s0-n1-ui"
    image, _ = probe4k.render_item(0, 0, "ui", item.mrr, "ABCD".index(item.answer))
    with Image.open(item.image) as im:
        assert im.tobytes() == image.tobytes()


def test_every_category_has_scenes_and_the_card_loader_reads_them(tmp_path: Path) -> None:
    assert {s.category for s in probe4k.SCENES} == set(CATEGORIES)
    assert len({s.template for s in probe4k.SCENES}) == len(probe4k.SCENES)
    items = generate(2, seed=0, categories=["ui"], cache_dir=tmp_path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PS3_EVAL_CACHE", str(tmp_path))
        rows = probe4k.rows(n=2, categories="ui")
    assert rows == [it.to_dict() for it in items]
