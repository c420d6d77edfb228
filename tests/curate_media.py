"""Media the curation tests make themselves: short clips encoded with PyAV, frames, images."""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SCENES = [((40, 70, 120), "gate 47B / lot 9Q2"), ((150, 120, 60), "exit 12 / ticket 88C")]


def scene_image(size: tuple[int, int], scene: int, shift: int = 0) -> Image.Image:
    """A frame of scene ``scene``: a flat background, big shapes and small text only 4K shows."""
    w, h = size
    bg, text = SCENES[scene % len(SCENES)]
    img = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(img)
    draw.rectangle((w // 10 + shift, h // 4, w // 3 + shift, h // 2), fill=(220, 220, 220))
    draw.ellipse((w // 2, h // 3, w // 2 + h // 4, h // 3 + h // 4), fill=(30, 30, 30))
    font = ImageFont.load_default(size=max(8, h // 200))
    for i in range(6):
        draw.text((w // 8 + i * w // 8, h * 3 // 4 + shift // 4), f"{text} #{i}", fill="white",
                  font=font)  # fmt: skip
    return img


def encode_clip(
    path: Path, size: tuple[int, int] = (640, 360), fps: int = 4, seconds: float = 2.0
) -> Path:
    """An H.264 clip with a scene change half-way (few frames: fast to encode and decode)."""
    import av

    n = round(fps * seconds)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(n):
            img = scene_image(size, 0 if i < n // 2 else 1, shift=i * 4)
            frame = av.VideoFrame.from_ndarray(np.asarray(img), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def add_boxes(
    root: Path, boxes: list[tuple[int, list[float], str]], actor: str = "ann"
) -> list[int]:
    """Boxes ``(frame_id, [x0, y0, x1, y1], note)`` drawn on a project's frames; their ids."""
    from ps3_eval.curate import edits
    from ps3_eval.curate.project import Project

    with Project(root) as project:
        return [
            int(edits.add_box(project, frame, {"bbox": bbox, "note": note}, actor)["id"])
            for frame, bbox, note in boxes
        ]


@functools.cache
def base_project() -> Path:
    """A project made once per test session from a real 3840x2160 clip (2 s, 4 fps): copy it."""
    from ps3_eval.curate.frames import propose_frames

    root = Path(tempfile.mkdtemp(prefix="ps3-curate-"))
    clip = encode_clip(root / "street.mp4", (3840, 2160), fps=4, seconds=2.0)
    propose_frames([clip], root / "project", per_video=2)
    return root / "project"


def project_copy(to: Path) -> Path:
    """A fresh copy of the session's base project (its database closed, so one file)."""
    target = to / "project"
    shutil.copytree(base_project(), target)
    return target
