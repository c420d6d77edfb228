"""The curation web app: pages and the JSON API over a project (``ps3-eval curate serve``).

Every URL names rows by integer id; files are found from the database, never from a request.
Writes go through :mod:`ps3_eval.curate.edits` and carry the version the page saw (a stale one
is answered ``409`` with the current row by the shared app factory).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ps3_eval.curate import edits
from ps3_eval.curate.check import flag
from ps3_eval.curate.export import import_labelstudio
from ps3_eval.curate.project import CHECK_SIDES, DECISIONS, MRR_LABELS, Project
from ps3_eval.errors import UsageError
from ps3_eval.web.app import STATIC, actor, json_response, page, read_json
from ps3_eval.web.security import Security
from ps3_eval.web.tiles import ImageTiles

IMPORT_PATH = "/api/import/labelstudio"
IMPORT_LIMIT = 16 << 20
"""Largest Label Studio file the page may upload (other requests keep the 1 MiB default)."""
PREVIEW_SIDES = frozenset(CHECK_SIDES)


def _flags(project: Project, row: dict[str, Any]) -> dict[str, str | None]:
    """Per reference model, the check flag of a question (stale answers left out)."""
    by_model: dict[str, dict[str, bool | None]] = {}
    for c in project.checks(row):
        if not c["stale"]:
            by_model.setdefault(c["model"], {})[c["condition"]] = (
                None if c["correct"] is None else bool(c["correct"])
            )
    return {m: flag(a) for m, a in by_model.items()}


def _frame_summary(f: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f["id"],
        "version": f["version"],
        "source": Path(str(f["source_path"])).name,
        "timestamp": f["timestamp"],
        "origin": f["origin"],
        "width": f["width"],
        "height": f["height"],
        "detail": f["detail"],
        "sharpness": f["sharpness"],
        "reason": f["reason"],
        "category": f["category"],
        "n_boxes": f["n_boxes"],
    }


def curation_routes(project: Project, tiles: ImageTiles) -> list[BaseRoute]:
    """The pages and API of one project."""

    def pid(request: Request) -> int:
        return int(request.path_params["id"])

    # Plain functions: Starlette runs them in its thread pool, so SQLite and Pillow never
    # block the event loop.
    def project_info(request: Request) -> Response:
        return json_response(
            {
                "name": project.name,
                "categories": project.categories,
                "mrr_labels": list(MRR_LABELS),
                "decisions": list(DECISIONS),
                "sides": list(CHECK_SIDES),
                "progress": project.progress(),
            }
        )

    def frames(request: Request) -> Response:
        return json_response([_frame_summary(f) for f in project.frames()])

    def frame(request: Request) -> Response:
        row = project.frame(pid(request))
        row["source"] = Path(str(row.pop("source_path"))).name
        row.pop("file", None)
        return json_response(row)

    async def frame_patch(request: Request) -> Response:
        body = await read_json(request)
        who = actor(request)
        return json_response(await _thread(edits.set_frame, project, pid(request), body, who))

    def dzi(request: Request) -> Response:
        return Response(tiles.dzi(pid(request)), media_type="application/xml", headers=_IMMUTABLE)

    def tile(request: Request) -> Response:
        p = request.path_params
        data = tiles.tile(pid(request), int(p["level"]), int(p["col"]), int(p["row"]))
        return Response(data, media_type="image/png", headers=_IMMUTABLE)

    def thumb(request: Request) -> Response:
        return Response(tiles.thumbnail(pid(request)), media_type="image/png", headers=_IMMUTABLE)

    async def box_add(request: Request) -> Response:
        body = await read_json(request)
        who = actor(request)
        return json_response(await _thread(edits.add_box, project, pid(request), body, who), 201)

    async def box_patch(request: Request) -> Response:
        body = await read_json(request)
        who = actor(request)
        return json_response(await _thread(edits.edit_box, project, pid(request), body, who))

    async def box_delete(request: Request) -> Response:
        body = await read_json(request)
        who = actor(request)
        return json_response(
            await _thread(edits.delete_box, project, pid(request), body.get("version"), who)
        )

    def preview(request: Request) -> Response:
        side = int(request.path_params["side"])
        if side not in PREVIEW_SIDES:
            raise UsageError(f"previews are made at {', '.join(map(str, sorted(PREVIEW_SIDES)))}")
        box = project.box(pid(request))
        data = tiles.preview(
            int(box["frame_id"]), (box["x0"], box["y0"], box["x1"], box["y1"]), side
        )
        # The URL names the box's version, so a moved box gets a new preview.
        return Response(data, media_type="image/png", headers=_IMMUTABLE)

    def qa_list(request: Request) -> Response:
        rows = project.qa_rows()
        out = []
        for r in rows:
            out.append(
                {
                    "id": r["id"],
                    "version": r["version"],
                    "frame_id": r["frame_id"],
                    "question": r["question"],
                    "decision": r["decision"],
                    "mrr": r["mrr"],
                    "reviewer": r["reviewer"],
                    "flags": _flags(project, r),
                }
            )
        failed = project.db.query(
            "SELECT q.id, q.box_id, q.error, q.attempts FROM qa q JOIN boxes b ON b.id = q.box_id "
            "WHERE q.status = 'failed' AND b.deleted = 0 ORDER BY q.id"
        )
        return json_response({"questions": out, "failed": failed})

    def qa_one(request: Request) -> Response:
        row = project.qa(pid(request))
        row["flags"] = _flags(project, row)
        return json_response(row)

    async def qa_patch(request: Request) -> Response:
        body = await read_json(request)
        who = actor(request)
        await _thread(edits.review, project, pid(request), body, who)
        return json_response(await _thread(_qa_full, project, pid(request)))

    async def import_ls(request: Request) -> Response:
        body = await request.body()
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise UsageError("the upload is not JSON") from None
        who = actor(request)
        report = await _thread(import_labelstudio, project, data, actor=who)
        return json_response(
            {"added": report.added, "duplicates": report.duplicates, "unmatched": report.unmatched}
        )

    def progress(request: Request) -> Response:
        return json_response(project.progress())

    f = r"/api/frames/{id:int}"
    return [
        Route("/", page(STATIC / "curate" / "index.html")),
        Route("/frames/{id:int}", page(STATIC / "curate" / "annotate.html")),
        Route("/screen", page(STATIC / "curate" / "screen.html")),
        Route("/api/project", project_info),
        Route("/api/progress", progress),
        Route("/api/frames", frames),
        Route(f, frame),
        Route(f, frame_patch, methods=["PATCH"]),
        Route(f + "/image.dzi", dzi),
        Route(f + "/thumb.png", thumb),
        Route(f + "/image_files/{level:int}/{col:int}_{row:int}.png", tile),
        Route(f + "/boxes", box_add, methods=["POST"]),
        Route("/api/boxes/{id:int}", box_patch, methods=["PATCH"]),
        Route("/api/boxes/{id:int}", box_delete, methods=["DELETE"]),
        Route("/api/boxes/{id:int}/preview/{side:int}.png", preview),
        Route("/api/qa", qa_list),
        Route("/api/qa/{id:int}", qa_one),
        Route("/api/qa/{id:int}", qa_patch, methods=["PATCH"]),
        Route(IMPORT_PATH, import_ls, methods=["POST"]),
    ]


_IMMUTABLE = {"cache-control": "private, max-age=3600"}


def _qa_full(project: Project, qa_id: int) -> dict[str, Any]:
    row = project.qa(qa_id)
    row["flags"] = _flags(project, row)
    return row


async def _thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args, **kwargs)


def curation_security(host: str, token: str | None) -> Security:
    """The shared rules, with a larger body allowed for Label Studio uploads."""
    return Security(host=host, token=token, body_limits={IMPORT_PATH: IMPORT_LIMIT})
