"""Curation performance: frame proposal against decoding, first tile of a 4K frame, reviewers.

    python perf/curate.py [--seconds 20] [--fps 30] [--reviewers 20] [--duration 60]

1. Frame proposal (``curate frames``: one decoding pass, thumbnails through PySceneDetect, the
   candidates scored at full resolution, the kept frames written as PNG) on a 3840x2160 H.264
   clip this script encodes, against decoding the same clip alone with PyAV; both in seconds per
   minute of video, and their ratio.
2. Time to the first tile of a 4K frame: a server that has not decoded the frame yet answers the
   DZI descriptor and the first tile OpenSeadragon asks for (cold), then a tile of the full
   resolution (warm).
3. ``--reviewers`` clients saving for ``--duration`` seconds against ``curate serve`` in its own
   process: each edits its own box, and every tenth save goes to one box they all share
   (reloading and applying again on a 409). Requests per second, p50 and p99 latency of the
   saves, conflicts, and a check that no acknowledged save was lost: each box ends as its last
   acknowledged save left it, and the audit log holds every acknowledged save.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def encode(path: Path, seconds: float, fps: int) -> Path:
    """A 4K clip with a scene change every few seconds and small moving text."""
    import av
    import numpy as np

    from tests.curate_media import scene_image

    n = round(seconds * fps)
    scenes = [np.asarray(scene_image((3840, 2160), s)) for s in range(2)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = 3840, 2160
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "20"}
        for i in range(n):
            scene = scenes[(i // (fps * 3)) % 2]
            shifted = np.roll(scene, i * 4, axis=1)  # motion, so frames differ
            for packet in stream.encode(av.VideoFrame.from_ndarray(shifted, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def decode_only(path: Path) -> float:
    import av

    start = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass
    return time.perf_counter() - start


def proposal(path: Path, project: Path) -> tuple[float, int, int]:
    from ps3_eval.curate.frames import propose_frames

    start = time.perf_counter()
    (report,) = propose_frames([path], project, per_video=5)
    return time.perf_counter() - start, report.candidates, report.scene_changes


def first_tile(project: Path) -> tuple[float, float, float]:
    import httpx

    from ps3_eval.curate.project import Project
    from ps3_eval.curate.routes import curation_security
    from ps3_eval.curate.server import build_app
    from ps3_eval.web.server import BackgroundServer

    with Project(project) as proj:
        app = build_app(proj)
        with BackgroundServer(app, curation_security("127.0.0.1", None)) as url:
            with httpx.Client(base_url=url, timeout=60) as c:
                start = time.perf_counter()
                c.get("/api/frames/1/image.dzi").raise_for_status()
                dzi = time.perf_counter() - start
                c.get("/api/frames/1/image_files/10/0_0.png").raise_for_status()
                cold = time.perf_counter() - start
                start = time.perf_counter()
                c.get("/api/frames/1/image_files/12/7_4.png").raise_for_status()
                warm = time.perf_counter() - start
    return dzi, cold, warm


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    conflicts: int = 0
    last: dict[int, str] = field(default_factory=dict)
    """Each reviewer's box -> the note of its last acknowledged save."""
    shared_acked: list[str] = field(default_factory=list)
    wall: float = 0.0


async def reviewers(url: str, box_ids: list[int], shared: int, duration: float) -> Load:
    import httpx

    load = Load()
    latencies, last, shared_acked = load.latencies, load.last, load.shared_acked
    stop = time.perf_counter() + duration

    async def one(k: int, box_id: int) -> None:
        async with httpx.AsyncClient(
            base_url=url, timeout=60, headers={"X-Reviewer": f"r{k}"}
        ) as c:
            version = 1
            n = 0
            while time.perf_counter() < stop:
                n += 1
                if n % 10 == 0:
                    note = f"r{k}:{n}"
                    while True:
                        cur = (await c.get("/api/frames/1")).json()
                        v = next(b for b in cur["boxes"] if b["id"] == shared)["version"]
                        t0 = time.perf_counter()
                        r = await c.patch(f"/api/boxes/{shared}", json={"version": v, "note": note})
                        latencies.append(time.perf_counter() - t0)
                        if r.status_code == 200:
                            shared_acked.append(note)
                            break
                        assert r.status_code == 409, r.text
                        load.conflicts += 1
                    continue
                note = f"r{k}:{n}"
                t0 = time.perf_counter()
                r = await c.patch(f"/api/boxes/{box_id}", json={"version": version, "note": note})
                latencies.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.text
                version = r.json()["version"]
                last[box_id] = note

    start = time.perf_counter()
    await asyncio.gather(*(one(k, b) for k, b in enumerate(box_ids)))
    load.wall = time.perf_counter() - start
    latencies.sort()
    return load


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the 4K clip")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--reviewers", type=int, default=20)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of saving")
    a = ap.parse_args()

    from ps3_eval.curate import edits
    from ps3_eval.curate.project import Project

    tmp = Path(tempfile.mkdtemp(prefix="perf-curate-"))
    try:
        clip = encode(tmp / "clip.mp4", a.seconds, a.fps)
        per_minute = 60.0 / a.seconds
        decode = min(decode_only(clip) for _ in range(2))
        propose, candidates, cuts = proposal(clip, tmp / "project")
        print(
            f"frame proposal, 3840x2160 H.264 at {a.fps} fps ({a.seconds:g} s, {candidates} "
            f"candidates, {cuts} scene changes): {propose * per_minute:.1f} s per minute of "
            f"video against {decode * per_minute:.1f} s to decode it alone: ratio "
            f"{propose / decode:.2f}"
        )
        dzi, cold, warm = first_tile(tmp / "project")
        print(
            f"first tile of a 4K frame: {cold * 1000:.0f} ms cold (descriptor {dzi * 1000:.0f} "
            f"ms, including the PNG decode), a full-resolution tile warm {warm * 1000:.1f} ms"
        )

        with Project(tmp / "project") as project:
            ids = [
                int(edits.add_box(project, 1, {"bbox": [10 + i, 10, 90 + i, 80]}, "perf")["id"])
                for i in range(a.reviewers + 1)
            ]
        shared, own = ids[-1], ids[:-1]
        proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "cli.py"),
                "curate",
                "serve",
                str(tmp / "project"),
                "--port",
                "0",
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "300"},
        )
        try:
            assert proc.stdout is not None
            found = re.search(r"http://127\.0\.0\.1:\d+", proc.stdout.readline())
            assert found
            got = asyncio.run(reviewers(found.group(0), own, shared, a.duration))
        finally:
            proc.terminate()
            proc.wait()
        with Project(tmp / "project") as project:
            lost = [b for b, note in got.last.items() if project.db.get("boxes", b)["note"] != note]
            audited = [h["after"]["note"] for h in project.db.history("boxes", shared)][1:]
        lost += sorted(set(got.shared_acked) - set(audited))
        lat = got.latencies
        saves = len(lat)
        p99 = lat[int(0.99 * (saves - 1))]
        print(
            f"{a.reviewers} reviewers saving for {a.duration:g} s: {saves / got.wall:.0f} "
            f"requests/s ({saves} saves), p50 {statistics.median(lat) * 1000:.1f} ms, p99 "
            f"{p99 * 1000:.1f} ms; {got.conflicts} stale saves on the shared box refused and "
            f"redone; lost updates: {len(lost)}"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
