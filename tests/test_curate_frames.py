"""Frame proposal from videos the tests encode with PyAV, and from folders of images."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from ps3_eval.curate import edits
from ps3_eval.curate.frames import Candidate, Selector, propose_frames, score_pixels
from ps3_eval.curate.project import Project
from ps3_eval.errors import UsageError
from tests.curate_media import base_project, encode_clip, scene_image
from tests.test_cli import cli


def _decoded(clip: Path) -> list[np.ndarray]:
    import av

    with av.open(str(clip)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_a_4k_clip_gives_lossless_frames_with_provenance() -> None:
    root = base_project()
    clip = root.parent / "street.mp4"
    with Project(root) as project:
        frames = project.frames()
        source = project.db.get("sources", 1)
    assert source["kind"] == "video" and source["path"] == str(clip.resolve())
    assert (source["width"], source["height"], source["fps"]) == (3840, 2160, 4.0)
    assert source["duration"] == pytest.approx(2.0) and source["candidates"] == 3
    # Two kept, one per half of the clip: the first frame and the best after the cut.
    assert len(frames) == 2
    first, second = frames
    assert first["timestamp"] == 0.0 and first["reason"] == "interval"
    assert second["timestamp"] >= 1.0 and second["reason"] in ("interval", "scene change")
    decoded = _decoded(clip)
    for f in frames:
        assert f["timestamp"] == pytest.approx(f["frame_index"] / 4)
        assert (f["width"], f["height"]) == (3840, 2160) and f["detail"] > 0
        stored = np.asarray(Image.open(root / "frames" / f["file"]))
        assert np.array_equal(stored, decoded[f["frame_index"]])  # lossless, exactly as decoded


def test_scene_changes_low_resolution_warning_and_no_second_import(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clip = encode_clip(tmp_path / "small.mp4", (640, 360), fps=8, seconds=2.0)
    seen: list[tuple[str, int, int | None]] = []
    with caplog.at_level(logging.WARNING):
        (report,) = propose_frames(
            [clip], tmp_path / "p", per_video=3, on_progress=lambda *a: seen.append(a)
        )
    assert report.decoded == 16 and report.scene_changes == 1
    # Candidates: every second (t=0, t=1) and a quarter second after the cut at frame 8.
    assert report.candidates == 3 and len(report.kept) == 3
    with Project(tmp_path / "p") as project:
        reasons = [(f["frame_index"], f["reason"]) for f in project.frames()]
    assert reasons == [(0, "interval"), (8, "interval"), (10, "scene change")]
    assert report.warnings and "640x360, below 4K" in report.warnings[0]
    assert "below 4K" in caplog.text
    assert seen[-1] == ("small.mp4", 16, 16)
    (again,) = propose_frames([clip], tmp_path / "p", per_video=3)
    assert again.skipped == "already in the project" and not again.kept


def test_detail_score_measures_what_1k_loses() -> None:
    sharp = scene_image((3840, 2160), 0)
    blurred = sharp.filter(ImageFilter.GaussianBlur(4))
    detail_sharp, sharpness_sharp = score_pixels(np.asarray(sharp))
    detail_blur, sharpness_blur = score_pixels(np.asarray(blurred))
    assert detail_sharp > 3 * detail_blur and sharpness_sharp > sharpness_blur
    assert score_pixels(np.asarray(sharp.resize((960, 540))))[0] == 0.0  # nothing above 1K


def _cand(i: int, t: float, detail: float) -> Candidate:
    return Candidate(i, t, "interval", detail, 1.0, np.zeros((1, 1, 3), np.uint8))


def test_selector_spreads_over_time_and_fills_empty_spans() -> None:
    sel = Selector(3, (0.0, 30.0))
    for i, (t, d) in enumerate([(1, 5.0), (2, 9.0), (4, 8.0), (12, 1.0), (13, 2.0)]):
        sel.add(_cand(i, t, d))
    # Spans [0,10) [10,20) [20,30): the best of the first two, the third empty, filled with the
    # best of the rest (4 s, detail 8).
    assert [c.timestamp for c in sel.chosen()] == [2, 4, 13]
    with pytest.raises(UsageError):
        Selector(0, None)


def test_a_folder_of_images(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    for i in range(3):
        img = scene_image((1600, 900), i)
        if i == 1:
            img = img.filter(ImageFilter.GaussianBlur(3))
        img.save(folder / f"{i}.png")
    # A phone photo stored sideways with an EXIF orientation tag: kept upright.
    exif = Image.Exif()
    exif[0x0112] = 6
    scene_image((1600, 900), 0).rotate(90, expand=True).save(folder / "3.jpg", exif=exif)
    (report,) = propose_frames([folder], tmp_path / "p", per_video=2)
    with Project(tmp_path / "p") as project:
        kept = project.frames()
    assert report.candidates == 4 and len(kept) == 2
    # Spans of the name order: {0, 1} keeps the sharp 0.png, {2, 3} the better of the others.
    assert kept[0]["origin"] == "0.png" and kept[1]["origin"] in ("2.png", "3.jpg")
    assert all(k["reason"] == "image" and k["timestamp"] is None for k in kept)
    assert len(report.warnings) == 4
    propose_frames([folder / "3.jpg"], tmp_path / "q", per_video=1)
    with Project(tmp_path / "q") as project:
        (frame,) = project.frames()
    assert frame["source_kind"] == "images" and frame["origin"] == "3.jpg"
    assert (frame["width"], frame["height"]) == (1600, 900)  # stored sideways, kept upright


def test_cli_frames_and_bad_input(tmp_path: Path) -> None:
    clip = encode_clip(tmp_path / "c.mp4", (640, 360), fps=4, seconds=1.0)
    res = cli(
        "curate",
        "frames",
        str(clip),
        "--project",
        str(tmp_path / "p"),
        "--per-video",
        "1",
        "--categories",
        "dashcam, drone",
    )
    assert "c.mp4 (640x360): 4 frames decoded" in res.stdout and "kept 1" in res.stdout
    assert "below 4K" in res.stderr
    with Project(tmp_path / "p") as project:
        assert project.categories == ["dashcam", "drone"]
        with pytest.raises(UsageError, match="unknown category 'gaming'; the project's are"):
            edits.set_frame(project, 1, {"version": 1, "category": "gaming"}, "ann")
        assert (
            edits.set_frame(project, 1, {"version": 1, "category": "drone"}, "ann")["version"] == 2
        )
    bad = cli("curate", "frames", str(tmp_path / "nope.mp4"), "--project", "x", check=False)
    assert bad.returncode == 2 and "nope.mp4 does not exist" in bad.stderr
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    bad = cli("curate", "frames", str(text), "--project", str(tmp_path / "p"), check=False)
    assert bad.returncode == 2 and "cannot be read as a video" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
