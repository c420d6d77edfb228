"""Out of a project: accepted questions as a 4KPro-format dataset; boxes to and from Label Studio.

``export_4kpro`` writes the accepted questions with the same writer as ``ps3-eval data
--format 4kpro`` (``test.jsonl`` beside ``images/``), so ``ps3-eval run -t 4kpro --data OUT``
and ``datasets.load_dataset("json", ...)`` read it. Each row carries the format's columns
(question_id, image, question, A-D, answer, category, bbox, mrr) and its provenance: the
source video (or image folder and file), timestamp and frame index, the box's annotator and
note, the generating model, the reviewer and the reference model's check answers.

Label Studio: ``export_labelstudio`` writes one task per frame with its boxes as
``rectanglelabels`` results (percent coordinates, as Label Studio stores them) and notes as
per-region ``textarea`` results; ``import_labelstudio`` reads such a file (or Label Studio's own
JSON export) back as boxes, matching tasks to frames by ``ps3_frame_id`` or by file name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ps3_eval.curate.project import Project, cli_actor, qa_sample
from ps3_eval.errors import UsageError
from ps3_eval.records import Sample
from ps3_eval.tasks.export import write_4kpro

LABEL = "detail"
LABEL_CONFIG = """<View>
  <Image name="image" value="$image" zoom="true"/>
  <RectangleLabels name="label" toName="image"><Label value="detail"/></RectangleLabels>
  <TextArea name="note" toName="image" perRegion="true" editable="true"/>
</View>"""
"""A Label Studio labelling config that matches the exported tasks."""


def _provenance(project: Project, rows: dict[str, dict[str, Any]]) -> Any:
    def extra(sample: Sample) -> dict[str, Any]:
        r = rows[sample.id]
        checks = [
            {
                "model": c["model"],
                "condition": c["condition"],
                "prediction": c["prediction"],
                "correct": None if c["correct"] is None else bool(c["correct"]),
                "stale": c["stale"],
            }
            for c in project.checks(r)
        ]
        video = r["source_kind"] == "video"
        return {
            "project": project.name,
            "video": r["source_path"] if video else None,
            "timestamp": r["timestamp"],
            "frame_index": r["frame_index"],
            "image_folder": None if video else r["source_path"],
            "image_file": r["origin"],
            "frame_id": r["frame_id"],
            "box_note": r["box_note"],
            "annotator": r["annotator"],
            "generator": r["generator"],
            "edited": bool(r["edited"]),
            "reviewer": r["reviewer"],
            "reviewed_at": r["reviewed_at"],
            "checks": checks,
        }

    return extra


def export_4kpro(project: str | Path | Project, to: str | Path) -> int:
    """Write the accepted questions in 4KPro's local format with their provenance.

    The twin of ``ps3-eval curate export DIR --to OUT``.

    Returns:
        The number of questions written.

    Raises:
        UsageError: nothing is accepted yet, or ``to`` is not a new or empty folder.
    """
    proj = project if isinstance(project, Project) else Project(project)
    try:
        rows = proj.db.query(
            "SELECT q.*, b.frame_id, b.x0, b.y0, b.x1, b.y1, b.note AS box_note, b.annotator, "
            "f.category, f.timestamp, f.frame_index, f.origin, s.path AS source_path, "
            "s.kind AS source_kind FROM qa q JOIN boxes b ON b.id = q.box_id "
            "JOIN frames f ON f.id = b.frame_id JOIN sources s ON s.id = f.source_id "
            "WHERE q.status = 'generated' AND q.decision = 'accepted' AND b.deleted = 0 "
            "AND f.deleted = 0 ORDER BY q.id"
        )
        if not rows:
            raise UsageError(
                f"{proj.root} has no accepted questions yet; screen them in `ps3-eval curate "
                f"serve {proj.root}` first."
            )
        samples = [qa_sample(proj, r, mrr=r["mrr"]) for r in rows]
        by_id = {s.id: r for s, r in zip(samples, rows, strict=True)}
        return write_4kpro(
            samples, Path(to).expanduser(), name=proj.name, extra=_provenance(proj, by_id)
        )
    finally:
        if not isinstance(project, Project):
            proj.close()


# --------------------------------------------------------------------------- Label Studio


def export_labelstudio(
    project: str | Path | Project, to: str | Path, image_prefix: str = "frames/"
) -> int:
    """Write every frame as a Label Studio task with its boxes; returns the number of tasks.

    ``image_prefix`` is put before each frame's file name in ``data.image`` (point it at where
    Label Studio serves the project's ``frames/`` folder).
    """
    proj = project if isinstance(project, Project) else Project(project)
    try:
        tasks = []
        for f in proj.frames():
            frame = proj.frame(int(f["id"]))
            results: list[dict[str, Any]] = []
            for b in frame["boxes"]:
                w, h = float(frame["width"]), float(frame["height"])
                region = f"box-{b['id']}"
                common = {
                    "id": region,
                    "from_name": "label",
                    "to_name": "image",
                    "original_width": frame["width"],
                    "original_height": frame["height"],
                    "image_rotation": 0,
                }
                results.append(
                    {
                        **common,
                        "type": "rectanglelabels",
                        "value": {
                            "x": 100 * b["x0"] / w,
                            "y": 100 * b["y0"] / h,
                            "width": 100 * (b["x1"] - b["x0"]) / w,
                            "height": 100 * (b["y1"] - b["y0"]) / h,
                            "rotation": 0,
                            "rectanglelabels": [LABEL],
                        },
                    }
                )
                if b["note"]:
                    results.append(
                        {
                            **common,
                            "from_name": "note",
                            "type": "textarea",
                            "value": {"text": [b["note"]]},
                        }
                    )
            tasks.append(
                {
                    "id": frame["id"],
                    "data": {
                        "image": f"{image_prefix}{frame['file']}",
                        "ps3_frame_id": frame["id"],
                        "category": frame["category"],
                    },
                    "annotations": [{"result": results}] if results else [],
                }
            )
        Path(to).expanduser().write_text(json.dumps(tasks, indent=1), encoding="utf-8")
        return len(tasks)
    finally:
        if not isinstance(project, Project):
            proj.close()


@dataclass
class ImportReport:
    """What an import did."""

    added: int = 0
    duplicates: int = 0
    """Boxes already in the project (same frame and place), not added again."""
    unmatched: list[str] = field(default_factory=list)
    """Tasks whose image matches no frame of the project."""


def _tasks(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise UsageError("a Label Studio export is a JSON list of tasks (objects with 'data').")
    return data


def _annotator(annotation: dict[str, Any], default: str) -> str:
    by = annotation.get("completed_by")
    if isinstance(by, dict):
        return f"labelstudio:{by.get('email') or by.get('id')}"
    return default if by is None else f"labelstudio:{by}"


def _rectangles(
    task: dict[str, Any], size: tuple[float, float], default: str
) -> list[tuple[tuple[float, float, float, float], str, str]]:
    """``(box in pixels, note, annotator)`` of every rectangle a task's annotations hold."""
    w, h = size
    out = []
    for annotation in task.get("annotations") or []:
        if not isinstance(annotation, dict) or annotation.get("was_cancelled"):
            continue
        results = [r for r in annotation.get("result") or [] if isinstance(r, dict)]
        notes = {
            r.get("id"): " ".join(str(t) for t in (r.get("value") or {}).get("text", []))
            for r in results
            if r.get("type") == "textarea"
        }
        who = _annotator(annotation, default)
        for r in results:
            if r.get("type") not in ("rectanglelabels", "rectangle"):
                continue
            v = r.get("value") or {}
            try:
                x, y = float(v["x"]), float(v["y"])
                bw, bh = float(v["width"]), float(v["height"])
            except (KeyError, TypeError, ValueError):
                raise UsageError(
                    f"a rectangle of task {task.get('id')} lacks x, y, width, height."
                ) from None
            if v.get("rotation"):
                raise UsageError(
                    f"a rectangle of task {task.get('id')} is rotated; boxes here are upright."
                )
            box = (
                max(0.0, x * w / 100),
                max(0.0, y * h / 100),
                min(w, (x + bw) * w / 100),
                min(h, (y + bh) * h / 100),
            )
            out.append((box, notes.get(r.get("id"), ""), who))
    return out


def import_labelstudio(
    project: str | Path | Project, data: Any, *, actor: str | None = None
) -> ImportReport:
    """Add the rectangles of Label Studio tasks as boxes (the notes from per-region text areas).

    Args:
        project: the project folder or an open project.
        data: the parsed JSON of a Label Studio export, or a path to the file.
        actor: the name in the audit log when an annotation names nobody.

    Returns:
        How many boxes were added, skipped as duplicates, and the tasks that matched no frame.
    """
    if isinstance(data, (str, Path)):
        path = Path(data).expanduser()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}.") from None
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path} is not JSON ({exc.msg} at line {exc.lineno}).") from None
    tasks = _tasks(data)
    proj = project if isinstance(project, Project) else Project(project)
    who = actor or cli_actor()
    report = ImportReport()
    try:
        frames = proj.frames()
        by_id = {int(f["id"]): f for f in frames}
        by_name: dict[str, dict[str, Any]] = {}
        for f in frames:
            by_name[str(f["file"])] = f
            if f["origin"]:
                by_name.setdefault(str(f["origin"]), f)
        with proj.db.write(who) as tx:
            for task in tasks:
                info = task.get("data") or {}
                frame = None
                if isinstance(info.get("ps3_frame_id"), int):
                    frame = by_id.get(info["ps3_frame_id"])
                if frame is None and isinstance(info.get("image"), str):
                    # ".../frames/000007.png" or Label Studio's "/data/upload/1/abc-000007.png"
                    # and "?d=..." forms: the file name at the end.
                    name = info["image"].replace("\\", "/").rsplit("/", 1)[-1]
                    name = name.rsplit("=", 1)[-1]
                    frame = by_name.get(name) or by_name.get(name.split("-", 1)[-1])
                if frame is None:
                    report.unmatched.append(str(info.get("image") or task.get("id")))
                    continue
                existing = {
                    tuple(round(float(c)) for c in row)
                    for row in tx.execute(
                        "SELECT x0, y0, x1, y1 FROM boxes WHERE frame_id = ? AND deleted = 0",
                        (frame["id"],),
                    ).fetchall()
                }
                size = (float(frame["width"]), float(frame["height"]))
                for box, note, annotator in _rectangles(task, size, who):
                    key = tuple(round(c) for c in box)
                    if key in existing:
                        report.duplicates += 1
                        continue
                    existing.add(key)
                    tx.insert(
                        "boxes",
                        {
                            "frame_id": frame["id"],
                            **dict(zip(("x0", "y0", "x1", "y1"), box, strict=True)),
                            "note": note,
                            "annotator": annotator,
                        },
                    )
                    report.added += 1
        return report
    finally:
        if not isinstance(project, Project):
            proj.close()
