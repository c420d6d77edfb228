"""What people change in a project: frames' categories, boxes, and the screening of questions.

Every function takes the version the editor saw; a stale one raises
:class:`~ps3_eval.db.StaleWrite` with the row as it is now (the web app answers 409 with it).
Input is checked here, not in the pages, so the API and the Python functions share the rules.
"""

from __future__ import annotations

from typing import Any

from ps3_eval.curate.generate import InvalidQuestion, check_question
from ps3_eval.curate.project import DECISIONS, MRR_LABELS, Project
from ps3_eval.db import NotFound, now
from ps3_eval.errors import UsageError

MAX_NOTE = 2000
MIN_BOX = 2.0
"""Smallest box side in pixels (a click without a drag is not a box)."""


def _version(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError("give the 'version' of the row you edited (a whole number).")
    return value


def _note(value: Any) -> str:
    if not isinstance(value, str):
        raise UsageError("a note is text.")
    if len(value) > MAX_NOTE:
        raise UsageError(f"a note is at most {MAX_NOTE} characters.")
    return value


def _bbox(value: Any, frame: dict[str, Any]) -> dict[str, float]:
    """``[x0, y0, x1, y1]`` in the frame's pixels, ordered and clamped to the frame."""
    if not isinstance(value, list) or len(value) != 4:
        raise UsageError("a box is [x0, y0, x1, y1] in the frame's pixels.")
    try:
        x0, y0, x1, y1 = (float(v) for v in value)
    except (TypeError, ValueError):
        raise UsageError("a box is four numbers.") from None
    w, h = float(frame["width"]), float(frame["height"])
    x0, x1 = sorted((min(max(x0, 0.0), w), min(max(x1, 0.0), w)))
    y0, y1 = sorted((min(max(y0, 0.0), h), min(max(y1, 0.0), h)))
    if x1 - x0 < MIN_BOX or y1 - y0 < MIN_BOX:
        raise UsageError(f"a box covers at least {MIN_BOX:g}x{MIN_BOX:g} pixels of the frame.")
    return {"x0": round(x0, 2), "y0": round(y0, 2), "x1": round(x1, 2), "y1": round(y1, 2)}


def _live_frame(project: Project, frame_id: int) -> dict[str, Any]:
    frame = project.db.get("frames", frame_id)
    if frame["deleted"]:
        raise NotFound(f"frame {frame_id} was deleted")
    return frame


def set_frame(
    project: Project, frame_id: int, changes: dict[str, Any], actor: str
) -> dict[str, Any]:
    """Change a frame's ``category`` (one of the project's, or null) or ``note``."""
    version = _version(changes.get("version"))
    values: dict[str, Any] = {}
    if "category" in changes:
        cat = changes["category"]
        if cat is not None and cat not in project.categories:
            raise UsageError(
                f"unknown category {cat!r}; the project's are {', '.join(project.categories)}."
            )
        values["category"] = cat
    if "note" in changes:
        values["note"] = _note(changes["note"])
    with project.db.write(actor) as tx:
        return tx.update("frames", frame_id, values, version)


def add_box(project: Project, frame_id: int, body: dict[str, Any], actor: str) -> dict[str, Any]:
    """Draw a box on a frame (``bbox`` and an optional ``note``)."""
    frame = _live_frame(project, frame_id)
    values = {**_bbox(body.get("bbox"), frame), "note": _note(body.get("note", ""))}
    with project.db.write(actor) as tx:
        return tx.insert("boxes", {"frame_id": frame_id, "annotator": actor, **values})


def edit_box(project: Project, box_id: int, body: dict[str, Any], actor: str) -> dict[str, Any]:
    """Move or resize a box (``bbox``) or change its ``note``."""
    version = _version(body.get("version"))
    box = project.db.get("boxes", box_id)
    values: dict[str, Any] = {}
    if "bbox" in body:
        values.update(_bbox(body["bbox"], _live_frame(project, int(box["frame_id"]))))
    if "note" in body:
        values["note"] = _note(body["note"])
    with project.db.write(actor) as tx:
        return tx.update("boxes", box_id, values, version)


def delete_box(project: Project, box_id: int, version: Any, actor: str) -> dict[str, Any]:
    """Delete a box (kept in the table, marked deleted, with its question)."""
    with project.db.write(actor) as tx:
        return tx.delete("boxes", box_id, _version(version))


def review(project: Project, qa_id: int, body: dict[str, Any], actor: str) -> dict[str, Any]:
    """Screen a question: a decision, a reason, an MRR label, or edits of its text.

    ``decision`` is accepted, rejected or pending; ``reason`` is required to reject and ``mrr``
    (1K / 2K / 4K) to accept. Edits of ``question``, ``options`` (four) and ``answer`` (a
    letter) are checked by the rules generated questions meet.
    """
    version = _version(body.get("version"))
    current = project.db.get("qa", qa_id)
    if current["status"] != "generated":
        raise UsageError(f"question {qa_id} failed to generate; there is nothing to screen.")
    values: dict[str, Any] = {}
    if any(k in body for k in ("question", "options", "answer")):
        options = body.get("options", [current[f"option_{k}"] for k in "abcd"])
        try:
            q = check_question(
                body.get("question", current["question"]),
                options,
                body.get("answer", current["answer"]),
            )
        except InvalidQuestion as exc:
            raise UsageError(f"the edited question is not usable: {exc}.") from None
        edited = {
            "question": q.question,
            "answer": q.answer,
            **{f"option_{k}": o for k, o in zip("abcd", q.options, strict=True)},
        }
        if any(current[k] != v for k, v in edited.items()):
            values.update(edited, edited=1)
    if "mrr" in body:
        if body["mrr"] is not None and body["mrr"] not in MRR_LABELS:
            raise UsageError(f"mrr is one of {', '.join(MRR_LABELS)} (or null).")
        values["mrr"] = body["mrr"]
    if "reason" in body:
        values["reason"] = _note(body["reason"])
    if "decision" in body:
        decision = body["decision"]
        if decision not in DECISIONS:
            raise UsageError(f"decision is one of {', '.join(DECISIONS)}.")
        mrr = values.get("mrr", current["mrr"])
        reason = values.get("reason", current["reason"])
        if decision == "accepted" and mrr is None:
            raise UsageError("label the detail's MRR (1K, 2K or 4K) before accepting.")
        if decision == "rejected" and not str(reason).strip():
            raise UsageError("give a reason to reject.")
        values.update(decision=decision, reviewer=actor, reviewed_at=now())
    with project.db.write(actor) as tx:
        return tx.update("qa", qa_id, values, version)
