"""Frame proposal: from 4K videos (or folders of images) to the frames worth annotating.

One decoding pass per video (PyAV, threaded). Every frame goes, as a small thumbnail made by the
decoder's own scaler, through PySceneDetect's content detector; candidates are the frames a
moment after each scene change and frames at even intervals. Only candidates are converted at
full resolution and scored:

- ``detail``: what a 1K rendition loses. The frame's luminance is shrunk to 1024 pixels on its
  long side and enlarged back; the mean absolute difference is taken per 64-pixel tile, and the
  score is the mean of the top 5% of tiles (in grey levels, 0-255). Fine text, distant signs and
  small icons score high; flat or blurred frames score near zero. This is the frame's score.
- ``sharpness``: variance of the Laplacian of the 1K rendition's luminance (how crisp the frame
  is as a whole), recorded so that motion-blurred frames can be told apart.

The video's time is cut into ``per_video`` equal spans and the best-scoring candidate of each is
kept (spans without one are filled with the best of the rest), so kept frames are good and spread
over the video. They are stored as lossless PNGs with their provenance (video, timestamp, frame
index, why proposed, scores). A video is taken in once: its content fingerprint is recorded.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ps3_eval.curate.project import Project, cli_actor
from ps3_eval.errors import DataError, UsageError
from ps3_eval.images import decode
from ps3_eval.records import ImageSource
from ps3_eval.web import require

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
FOUR_K = (3840, 2160)
LOW_SIDE = 1024
"""The long side of the "1K rendition" whose loss is the detail score."""
TILE = 64
THUMB_WIDTH = 256
"""Width of the thumbnails the scene detector sees (it needs colour and layout, not detail)."""

Progress = Callable[[str, int, int | None], None]
"""``(source name, units done, total or None)`` after each decoded frame or read image."""


@dataclass
class Candidate:
    """A proposed frame and its scores."""

    index: int
    """Frame number in the video (position in the folder for images)."""
    timestamp: float | None
    """Seconds from the start (``None`` for images)."""
    reason: str
    """``scene change``, ``interval`` or ``image``."""
    detail: float
    sharpness: float
    pixels: Any = field(repr=False)
    """RGB at full resolution, or the decoded video frame (converted only if kept)."""
    origin: str | None = None
    """The image file, for folders of images."""

    def rgb(self) -> np.ndarray:
        """The frame as an RGB array."""
        if isinstance(self.pixels, np.ndarray):
            return self.pixels
        return np.asarray(self.pixels.to_ndarray(format="rgb24"))


@dataclass
class SourceReport:
    """What ``frames`` did with one video or folder."""

    source: str
    kept: list[int] = field(default_factory=list)
    """Ids of the frames added to the project."""
    candidates: int = 0
    scene_changes: int = 0
    decoded: int = 0
    size: tuple[int, int] | None = None
    fps: float | None = None
    duration: float | None = None
    skipped: str | None = None
    """Why the source was not taken in (already in the project)."""
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- scores


def score_pixels(rgb: np.ndarray) -> tuple[float, float]:
    """``(detail, sharpness)`` of an RGB frame (see the module docstring)."""
    cv2 = require("cv2")
    return score_gray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))


def score_gray(gray: np.ndarray) -> tuple[float, float]:
    """``(detail, sharpness)`` of a frame's luminance.

    The 1K rendition shrinks by a whole factor (4 for 3840 pixels: 960), which OpenCV's area
    filter does several times faster than a fractional one.
    """
    cv2 = require("cv2")
    h, w = gray.shape
    factor = round(max(h, w) / LOW_SIDE)
    if factor < 2:  # not larger than 1K: nothing is lost at 1K
        return 0.0, float(cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_32F))[1][0][0]) ** 2
    sh, sw = h // factor, w // factor
    gray = gray[: sh * factor, : sw * factor]
    small = cv2.resize(gray, (sw, sh), interpolation=cv2.INTER_AREA)
    back = cv2.resize(small, (sw * factor, sh * factor), interpolation=cv2.INTER_LINEAR)
    lost = cv2.absdiff(gray, back)
    th, tw = max(1, lost.shape[0] // TILE), max(1, lost.shape[1] // TILE)
    tiles = cv2.resize(lost[: th * TILE, : tw * TILE], (tw, th), interpolation=cv2.INTER_AREA)
    flat = np.sort(tiles.astype(np.float32).ravel())
    detail = float(flat[-max(1, len(flat) // 20) :].mean())
    sharpness = float(cv2.meanStdDev(cv2.Laplacian(small, cv2.CV_32F))[1][0][0]) ** 2
    return detail, sharpness


class Selector:
    """The best candidate of each of ``n`` equal spans of time (or order).

    The best of the rest fill spans that get none. At most ``2 n`` frames are held in memory,
    however long the video. Without a known span it keeps the ``n`` best.
    """

    def __init__(self, n: int, span: tuple[float, float] | None) -> None:
        if n < 1:
            raise UsageError(f"keep at least one frame per source (--per-video), got {n}.")
        self.n = n
        self.span = span
        self.best: dict[int, Candidate] = {}
        self.spare: list[tuple[float, int, Candidate]] = []  # min-heap by detail
        self.count = 0

    def _slot(self, c: Candidate) -> int:
        if self.span is None:
            return -1
        lo, hi = self.span
        pos = c.timestamp if c.timestamp is not None else float(c.index)
        width = (hi - lo) / self.n or 1.0
        return min(self.n - 1, max(0, int((pos - lo) / width)))

    def _keep_spare(self, c: Candidate) -> None:
        item = (c.detail, c.index, c)
        if len(self.spare) < self.n:
            heapq.heappush(self.spare, item)
        elif item[:2] > self.spare[0][:2]:
            heapq.heapreplace(self.spare, item)

    def add(self, c: Candidate) -> None:
        """Offer a candidate."""
        self.count += 1
        slot = self._slot(c)
        if slot < 0:
            self._keep_spare(c)
            return
        held = self.best.get(slot)
        if held is None or c.detail > held.detail:
            self.best[slot] = c
            if held is not None:
                self._keep_spare(held)
        else:
            self._keep_spare(c)

    def chosen(self) -> list[Candidate]:
        """The kept frames in time order."""
        out = list(self.best.values())
        for _, _, c in heapq.nlargest(len(self.spare), self.spare, key=lambda t: t[:2]):
            if len(out) >= self.n:
                break
            out.append(c)
        return sorted(out, key=lambda c: c.index)


# --------------------------------------------------------------------------- sources


def fingerprint(path: Path) -> str:
    """Identity of a file's content, read from its size and its first and last MiB."""
    h = hashlib.blake2b(digest_size=16)
    size = path.stat().st_size
    h.update(str(size).encode())
    with path.open("rb") as fh:
        h.update(fh.read(1 << 20))
        if size > 2 << 20:
            fh.seek(-(1 << 20), os.SEEK_END)
            h.update(fh.read())
    return h.hexdigest()


def _folder_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _folder_fingerprint(files: list[Path]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for f in files:
        h.update(f.name.encode() + b"\0" + fingerprint(f).encode())
    return h.hexdigest()


def _below_4k(name: str, size: tuple[int, int]) -> str | None:
    w, h = size
    if max(w, h) < FOUR_K[0] or min(w, h) < FOUR_K[1]:
        return (
            f"{name} is {w}x{h}, below 4K (3840x2160): its frames cannot hold detail that only "
            f"4K shows."
        )
    return None


def video_candidates(
    path: Path,
    per_video: int,
    *,
    interval: float = 1.0,
    scene_threshold: float = 27.0,
    settle: float = 0.25,
    on_frame: Callable[[int, int | None], None] | None = None,
    report: SourceReport | None = None,
) -> list[Candidate]:
    """Decode a video once; score candidates at scene changes and every ``interval`` seconds.

    Args:
        path: the video file.
        per_video: frames to keep, spread over the video's time.
        interval: seconds between evenly spaced candidates.
        scene_threshold: PySceneDetect's content threshold (higher: fewer cuts).
        settle: seconds after a cut at which its candidate is taken (past the transition).
        on_frame: progress, ``(frames decoded, total frames or None)``.
        report: filled in with the size and the frame, candidate and cut counts.

    Returns:
        The kept candidates, in time order.
    """
    av = require("av")
    scenedetect = require("scenedetect")
    try:
        container = av.open(str(path))
    except (OSError, av.error.FFmpegError) as exc:
        raise UsageError(f"{path} cannot be read as a video ({exc}).") from None
    with container:
        if not container.streams.video:
            raise UsageError(f"{path} has no video stream.")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate or stream.guessed_rate or 30)
        tb = float(stream.time_base) if stream.time_base is not None else None
        start = float(stream.start_time * tb) if stream.start_time is not None and tb else 0.0
        duration = None
        if stream.duration is not None and tb:
            duration = float(stream.duration * tb)
        elif container.duration:
            duration = container.duration / 1_000_000
        total = int(stream.frames) or (round(duration * fps) if duration else None)
        selector = Selector(per_video, (start, start + duration) if duration else None)
        # A scene is at least half a second long (the detector's own default counts frames).
        detector = scenedetect.ContentDetector(
            threshold=scene_threshold, min_scene_len=max(1, round(fps / 2))
        )
        next_even = start
        due_cut: int | None = None
        cuts = 0
        n = -1
        try:
            frames: Iterator[Any] = container.decode(stream)
            for n, frame in enumerate(frames):
                t = float(frame.time) if frame.time is not None else start + n / fps
                th = max(2, round(frame.height * THUMB_WIDTH / max(1, frame.width)))
                # The scaler's fast bilinear mode: a twentieth of its default's time on 4K, and
                # the detector compares colour and layout, which it keeps.
                thumb = frame.to_ndarray(
                    width=THUMB_WIDTH, height=th, format="bgr24", interpolation="FAST_BILINEAR"
                )
                if detector.process_frame(scenedetect.FrameTimecode(n, fps), thumb) and n > 0:
                    cuts += 1
                    due_cut = n + max(1, round(settle * fps))
                reason = None
                if due_cut is not None and n >= due_cut:
                    reason, due_cut = "scene change", None
                elif t >= next_even - 1e-6:
                    reason = "interval"
                    while next_even <= t + 1e-6:
                        next_even += interval
                if reason is not None:
                    # Scored on the luminance the decoder already has; RGB only if kept.
                    detail, sharp = score_gray(frame.to_ndarray(format="gray"))
                    selector.add(Candidate(n, t, reason, detail, sharp, frame))
                if on_frame is not None:
                    on_frame(n + 1, total)
        except av.error.FFmpegError as exc:
            raise DataError(f"{path} could not be decoded past frame {n + 1} ({exc})") from None
        if report is not None:
            report.decoded = n + 1
            report.scene_changes = cuts
            report.candidates = selector.count
            report.size = (stream.codec_context.width, stream.codec_context.height)
            report.fps = fps
            report.duration = duration if duration else (n + 1) / fps
    return selector.chosen()


def image_candidates(
    files: list[Path],
    per_video: int,
    on_image: Callable[[int, int | None], None] | None = None,
    report: SourceReport | None = None,
) -> list[Candidate]:
    """Every image of a folder is a candidate, kept ones spread over the folder's name order.

    Images are read as the runner reads them (EXIF orientation, decompression-bomb guard).
    """
    selector = Selector(per_video, (0.0, float(len(files))))
    for i, f in enumerate(files):
        img, _ = decode(ImageSource(path=str(f)))
        rgb = np.asarray(img)
        detail, sharp = score_pixels(rgb)
        selector.add(Candidate(i, None, "image", detail, sharp, rgb, origin=f.name))
        if report is not None:
            warn = _below_4k(f"{f.parent.name}/{f.name}", img.size)
            if warn:
                report.warnings.append(warn)
            report.size = report.size or img.size
        if on_image is not None:
            on_image(i + 1, len(files))
    if report is not None:
        report.candidates = selector.count
    return selector.chosen()


# --------------------------------------------------------------------------- storing


def _store(
    project: Project, source: dict[str, Any], chosen: list[Candidate], actor: str
) -> list[int]:
    """Write the chosen frames as PNGs and their rows, with the source, in one transaction."""
    staged: list[tuple[Candidate, Path]] = []
    try:
        for c in chosen:
            fd, name = tempfile.mkstemp(suffix=".png.tmp", dir=project.frames_dir)
            os.close(fd)
            staged.append((c, Path(name)))
            c.pixels = c.rgb()
            Image.fromarray(c.pixels).save(name, format="PNG", compress_level=1)
            os.chmod(name, 0o644)  # mkstemp makes it private; frames are ordinary project files
        ids = []
        with project.db.write(actor) as tx:
            src = tx.insert("sources", source)
            for c, tmp in staged:
                h, w = c.pixels.shape[:2]
                row = tx.insert(
                    "frames",
                    {
                        "source_id": src["id"],
                        "file": "",
                        "timestamp": c.timestamp,
                        "frame_index": c.index,
                        "width": w,
                        "height": h,
                        "sharpness": round(c.sharpness, 3),
                        "detail": round(c.detail, 4),
                        "reason": c.reason,
                        "origin": c.origin,
                    },
                )
                name = f"{row['id']:06d}.png"
                tx.execute("UPDATE frames SET file = ? WHERE id = ?", (name, row["id"]))
                # Renamed inside the transaction: a crash before the commit leaves a file no
                # row names (harmless), never a row without its file.
                os.replace(tmp, project.frames_dir / name)
                ids.append(int(row["id"]))
        return ids
    finally:
        for _, tmp in staged:
            tmp.unlink(missing_ok=True)


def _known(project: Project, fp: str) -> bool:
    return project.db.one("SELECT id FROM sources WHERE fingerprint = ?", (fp,)) is not None


def propose_frames(
    sources: Iterable[str | Path],
    project: str | Path | Project,
    *,
    per_video: int = 5,
    interval: float = 1.0,
    scene_threshold: float = 27.0,
    on_progress: Progress | None = None,
    actor: str | None = None,
) -> list[SourceReport]:
    """Add the best frames of each video (or folder of images) to a curation project.

    The Python twin of ``ps3-eval curate frames``. A source already in the project (same
    content) is skipped.

    Args:
        sources: video files, image files or folders of images.
        project: the project folder (made when missing) or an open project.
        per_video: frames kept per source, spread over its time.
        interval: seconds between evenly spaced candidates.
        scene_threshold: PySceneDetect's content threshold.
        on_progress: ``(source, done, total)`` after each decoded frame or read image.
        actor: the name in the audit log (default ``cli:<user>``).

    Returns:
        One report per source, in order.
    """
    if per_video < 1:
        raise UsageError(f"--per-video must be 1 or more, got {per_video}.")
    if interval <= 0:
        raise UsageError(f"--interval must be a positive number of seconds, got {interval}.")
    paths = [Path(s).expanduser() for s in sources]
    if not paths:
        raise UsageError("give at least one video file or folder of images.")
    for p in paths:
        if not p.exists():
            raise UsageError(f"{p} does not exist.")
    proj = project if isinstance(project, Project) else Project(project, create=True)
    who = actor or cli_actor()
    reports = []
    try:
        for path in paths:
            report = SourceReport(str(path))
            reports.append(report)

            def tick(done: int, total: int | None, name: str = path.name) -> None:
                if on_progress is not None:
                    on_progress(name, done, total)

            if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
                files = _folder_images(path) if path.is_dir() else [path]
                if not files:
                    raise UsageError(f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
                fp, kind = _folder_fingerprint(files), "images"
            else:
                fp, kind = fingerprint(path), "video"
            if _known(proj, fp):
                report.skipped = "already in the project"
                continue
            if kind == "images":
                chosen = image_candidates(files, per_video, tick, report)
            else:
                chosen = video_candidates(
                    path,
                    per_video,
                    interval=interval,
                    scene_threshold=scene_threshold,
                    on_frame=tick,
                    report=report,
                )
                if not chosen:
                    raise DataError(f"{path} has no frames that could be decoded")
                warn = _below_4k(path.name, report.size or (0, 0))
                if warn:
                    report.warnings.append(warn)
            for w in report.warnings:
                log.warning(w)
            size = report.size or (0, 0)
            source = {
                "kind": kind,
                "path": str(path.resolve()),
                "fingerprint": fp,
                "width": size[0],
                "height": size[1],
                "fps": report.fps,
                "duration": report.duration,
                "candidates": report.candidates,
            }
            report.kept = _store(proj, source, chosen, who)
    finally:
        if not isinstance(project, Project):
            proj.close()
    return reports
