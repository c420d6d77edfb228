"""The MRR labelling page: a study's items at every rung, labelled blind by several people.

A study is one section of the shared web layer (:mod:`ps3_eval.web`), under ``/mrr/<name>/``:
``ps3-eval mrr serve STUDY...`` serves studies alone, ``ps3-eval curate serve DIR --study
STUDY`` beside a curation project, with the same safety rules either way.

What a labeller sees of an item: the question, its options and the answer, and the image at
each rung of the study's ladder, side by side at one size, zoomed and panned together. The
views come in an order of the labeller's own per item (:meth:`Study.rung_order`) and are named
on the page and in every URL by opaque keys, random per server, so neither their place nor
their address says which resolution they are. Each view's tiles are cut from the rung image
enlarged to the original's size without smoothing (:class:`ps3_eval.web.tiles.ImageTiles`'s
``shown_size``), so all views of an image have one geometry and differ only in their pixels.
Nothing that hints at the answer goes to the page: not the benchmark's item id (probe4k's
encodes its place in the designed cycle), not the designed MRR, not the box.

The labeller picks the view with the least detail from which they can still answer (the page
maps it to its rung), or "needs more than the original" (``beyond``), or "answerable without the
image" (``no_image``). Labels are appended with the labeller and the time (source ``web``), so
any number of people label one item and nobody's label replaces another's; a labeller's latest
label of an item counts. Items come to each labeller in their own order (:meth:`Study.next_item`).
"""

from __future__ import annotations

import logging
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ps3_eval.db import NotFound
from ps3_eval.errors import Ps3EvalError, UsageError
from ps3_eval.mrr.labels import Label
from ps3_eval.mrr.ladder import BEYOND, NO_IMAGE
from ps3_eval.mrr.study import Study
from ps3_eval.web.app import STATIC, actor, json_response, page, read_json
from ps3_eval.web.tiles import ImageTiles

log = logging.getLogger(__name__)

SOURCE = "web"
"""The ``source`` of labels given on the page."""
_KEY = re.compile(r"^[0-9a-f]{16}$")
_IMMUTABLE = {"cache-control": "private, max-age=3600"}


@dataclass(frozen=True)
class View:
    """One image of one item at one rung."""

    item: int
    """The item's position in the study."""
    image: int
    """The image's position in the item."""
    rung: str
    """The rung's label."""


class StudyViews:
    """Opaque keys for every view of a study, and the pixels behind them.

    Keys are random for each server, so a key says nothing about its rung, and a page kept open
    across a restart asks again rather than reading another view.
    """

    def __init__(self, study: Study) -> None:
        self.study = study
        self._warmer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mrr-warm")
        self._warming: set[int] = set()
        self._views: dict[str, View] = {}
        self._keys: dict[View, str] = {}
        for n, it in enumerate(study.items):
            for i in range(len(it.images)):
                for rung in study.ladder.labels:
                    key = secrets.token_hex(8)
                    self._views[key] = View(n, i, rung)
                    self._keys[View(n, i, rung)] = key

    def view(self, key: str) -> View:
        """The view a key names.

        Raises:
            NotFound: for a key this server did not hand out.
        """
        found = self._views.get(key) if _KEY.match(key) else None
        if found is None:
            raise NotFound("no such view (reload the page: the server may have restarted)")
        return found

    def keys(self, item: int, labeller: str) -> list[list[str]]:
        """Per image of an item, its views' keys in the labeller's order."""
        order = self.study.rung_order(self.study.items[item].id, labeller)
        images = range(len(self.study.items[item].images))
        return [[self._keys[View(item, i, rung)] for rung in order] for i in images]

    def path(self, key: str) -> Path:
        """The file of a view: the rung image, made on first use."""
        v = self.view(key)
        return self.study.render_rung(self.study.items[v.item].id, v.rung, v.image)

    def warm(self, item: int, tiles: ImageTiles) -> None:
        """Make an item's rung images and decode its views in the background.

        The page asks for the labeller's next item while they look at this one, so it opens at
        once (a 4K image's rungs take a few seconds to make); one item at a time.
        """
        if item in self._warming:
            return
        self._warming.add(item)
        self._warmer.submit(self._warm, item, tiles)

    def _warm(self, item: int, tiles: ImageTiles) -> None:
        try:
            for key, v in self._views.items():
                if v.item == item:
                    tiles.dzi(key)  # renders the rung on first use, then decodes it
        except (OSError, ValueError, Ps3EvalError) as exc:  # the page's request will say it
            log.debug("could not prepare item %d: %s", item, exc)

    def size(self, key: str) -> tuple[int, int]:
        """The size every view of an image is shown at: the original's."""
        v = self.view(key)
        w, h = self.study.items[v.item].native[v.image]
        return int(w), int(h)


def _mine(study: Study, item: int, labeller: str) -> dict[str, Any] | None:
    """The labeller's label of an item as the page knows it: which view, never which rung."""
    it = study.items[item]
    labels = study.labels.labels(item=it.id, labeller=labeller)
    if not labels:
        return None
    last: Label = labels[-1]
    if last.label in (BEYOND, NO_IMAGE):
        return {"choice": last.label, "view": None, "at": last.at.isoformat()}
    order = study.rung_order(it.id, labeller)
    return {"choice": "view", "view": order.index(last.label), "at": last.at.isoformat()}


def _chosen_label(study: Study, item: int, labeller: str, body: dict[str, Any]) -> str:
    """The label a request gives: a view of the labeller's order, or a label by name."""
    if "view" in body:
        view = body["view"]
        order = study.rung_order(study.items[item].id, labeller)
        if isinstance(view, bool) or not isinstance(view, int) or not 0 <= view < len(order):
            raise UsageError(f"'view' is a whole number from 0 to {len(order) - 1}.")
        return order[view]
    label = body.get("label")
    if not isinstance(label, str):
        raise UsageError(
            f"give 'view' (the view with the least detail you can answer from), or 'label' "
            f"('{BEYOND}' or '{NO_IMAGE}')."
        )
    return study.ladder.canonical(label)


def labelling_routes(study: Study, views: StudyViews, tiles: ImageTiles) -> list[BaseRoute]:
    """The labelling page and its API for one study (paths relative to the section)."""
    total = len(study.items)

    position = {it.id: n for n, it in enumerate(study.items)}

    def item_of(request: Request) -> int:
        n = int(request.path_params["n"])
        if not 0 <= n < total:
            raise NotFound(f"item {n} is not in the study (it has items 0 to {total - 1})")
        return n

    def done(labeller: str) -> int:
        return len(study.labels.labelled_by(labeller))

    # Plain functions: Starlette runs them in its thread pool (SQLite and Pillow never block
    # the event loop).
    def info(request: Request) -> Response:
        return json_response(
            {
                "name": study.name,
                "task": study.spec.task,
                "items": total,
                "views": len(study.ladder.rungs),
                "ladder": study.ladder.text(),
            }
        )

    def progress(request: Request) -> Response:
        counts = study.labels.counts()
        return json_response(
            {
                "total": total,
                "labellers": [{"name": k, "labelled": v} for k, v in counts.items()],
            }
        )

    def next_item(request: Request) -> Response:
        who = actor(request, required=True)
        skip = set()
        for part in request.query_params.get("skip", "").split(","):
            if part.strip().isdigit() and int(part) < total:
                skip.add(study.items[int(part)].id)
        it = study.next_item(who, skip=skip)
        index = None if it is None else position[it.id]
        return json_response({"item": index, "labelled": done(who), "total": total})

    def item(request: Request) -> Response:
        n, who = item_of(request), actor(request, required=True)
        it = study.items[n]
        upcoming = study.next_item(who, skip={it.id})
        if upcoming is not None:
            views.warm(position[upcoming.id], tiles)
        return json_response(
            {
                "item": n,
                "question": it.question,
                "choices": it.choices,
                "answer": it.answer_text,
                "category": it.category,
                "native": [list(size) for size in it.native],
                "views": views.keys(n, who),
                "mine": _mine(study, n, who),
                "labelled": done(who),
                "total": total,
            }
        )

    async def label(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        n, who = item_of(request), actor(request, required=True)
        body = await read_json(request)

        def store() -> dict[str, Any]:
            chosen = _chosen_label(study, n, who, body)
            study.add_label(study.items[n].id, who, chosen, source=SOURCE)
            return {"item": n, "mine": _mine(study, n, who), "labelled": done(who),
                    "total": total}  # fmt: skip

        return json_response(await run_in_threadpool(store), 201)

    def dzi(request: Request) -> Response:
        key = request.path_params["key"]
        views.view(key)
        return Response(tiles.dzi(key), media_type="application/xml", headers=_IMMUTABLE)

    def tile(request: Request) -> Response:
        p = request.path_params
        views.view(p["key"])
        data = tiles.tile(p["key"], int(p["level"]), int(p["col"]), int(p["row"]))
        return Response(data, media_type="image/png", headers=_IMMUTABLE)

    v = "/api/views/{key:str}"
    return [
        Route("/", page(STATIC / "mrr" / "label.html")),
        Route("/api/study", info),
        Route("/api/progress", progress),
        Route("/api/next", next_item),
        Route("/api/items/{n:int}", item),
        Route("/api/items/{n:int}/label", label, methods=["POST"]),
        Route(v + "/image.dzi", dzi),
        Route(v + "/image_files/{level:int}/{col:int}_{row:int}.png", tile),
    ]
