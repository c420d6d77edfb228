"""``ps3-eval mrr serve``: the labelling pages of MRR studies, under uvicorn.

Each study is one section of the shared web layer (see :mod:`ps3_eval.mrr.routes` for the page),
so the same studies can also be served beside a curation project
(``ps3-eval curate serve DIR --study STUDY``). Starlette and uvicorn (the ``curate`` extra) are
imported only when a server is built.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from ps3_eval.errors import UsageError
from ps3_eval.mrr.study import Study
from ps3_eval.web import require

if TYPE_CHECKING:
    from ps3_eval.web.app import Section

DEFAULT_PORT = 8766
"""Beside ``curate serve``'s 8765, so both can run at once."""


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "study"


def study_sections(studies: Sequence[Study]) -> list[Section]:
    """One section per study, under ``/mrr/<name>/`` (a repeated name gets ``-2``, ``-3``...)."""
    require("starlette")
    from ps3_eval.mrr.routes import StudyViews, labelling_routes
    from ps3_eval.web.app import Section
    from ps3_eval.web.tiles import ImageTiles

    sections: list[Section] = []
    taken: set[str] = set()
    for study in studies:
        slug = base = _slug(study.name)
        k = 1
        while slug in taken:
            k += 1
            slug = f"{base}-{k}"
        taken.add(slug)
        study.labels  # noqa: B018 - open the store now, not in racing request threads
        views = StudyViews(study)
        # Every view of an item at once, and the next item's while it loads.
        cache = 2 * len(study.ladder.rungs) * max((len(it.images) for it in study.items), default=1)
        tiles = ImageTiles(views.path, shown_size=views.size, cache_images=cache)  # type: ignore[arg-type]
        sections.append(
            Section(
                title=f"MRR: {study.name}",
                routes=labelling_routes(study, views, tiles),
                prefix=f"/mrr/{slug}",
                kind="mrr",
            )
        )
    return sections


def serve_studies(
    studies: Sequence[str | Path],
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    token: str | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the labelling pages of studies until interrupted; the twin of ``ps3-eval mrr serve``.

    Args:
        studies: study folders (each gets ``/mrr/<name>/``; ``/`` leads to the first).
        host: the address to listen on (loopback by default; any other needs a token).
        port: the port (0 picks a free one).
        token: required on every request when set; ``"auto"`` makes a random one.
        on_ready: called with the address to open (with ``?token=`` when there is one).
    """
    require("uvicorn")
    from ps3_eval.web.server import resolve_token, serve_sections

    if not studies:
        raise UsageError("give at least one study folder.")
    token = resolve_token(host, token)
    with ExitStack() as stack:
        opened = [stack.enter_context(Study(folder)) for folder in studies]
        serve_sections(study_sections(opened), host=host, port=port, token=token, on_ready=on_ready)
