"""``ps3-eval curate serve``: a project's curation app (and any MRR studies) under uvicorn."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from ps3_eval.curate.project import Project
from ps3_eval.web import require
from ps3_eval.web.security import ASGIApp

if TYPE_CHECKING:
    from ps3_eval.mrr.study import Study
    from ps3_eval.web.app import Section


def curation_section(project: Project) -> Section:
    """The project's pages and API, at the root of a server."""
    require("starlette")
    from ps3_eval.curate.routes import IMPORT_LIMIT, IMPORT_PATH, curation_routes
    from ps3_eval.web.app import Section
    from ps3_eval.web.tiles import ImageTiles

    tiles = ImageTiles(lambda key: project.frame_path(int(key)))  # type: ignore[call-overload]
    return Section(
        title=f"Curation: {project.name}",
        routes=curation_routes(project, tiles),
        kind="curate",
        body_limits={IMPORT_PATH: IMPORT_LIMIT},
    )


def build_app(
    project: Project,
    host: str = "127.0.0.1",
    token: str | None = None,
    studies: Sequence[Study] = (),
) -> ASGIApp:
    """The ASGI app serving ``project`` (pages, API, tiles) behind the shared safety rules.

    ``studies`` are MRR studies to host beside it, each under ``/mrr/<name>/``.
    """
    from ps3_eval.mrr.server import study_sections
    from ps3_eval.web.app import create_app
    from ps3_eval.web.security import Security

    sections = [curation_section(project), *study_sections(studies)]
    return create_app(sections, Security(host=host, token=token))


def serve(
    project: str | Path | Project,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    studies: Sequence[str | Path] = (),
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve a project until interrupted; the twin of ``ps3-eval curate serve``.

    Args:
        project: the project folder or an open project.
        host: the address to listen on (loopback by default; any other needs a token).
        port: the port (0 picks a free one).
        token: required on every request when set; ``"auto"`` makes a random one.
        studies: MRR study folders to serve on the same server (``/mrr/<name>/``), so one
            address and one token serve a team that curates and labels.
        on_ready: called with the address to open (with ``?token=`` when there is one).
    """
    require("uvicorn")
    from ps3_eval.mrr.server import study_sections
    from ps3_eval.mrr.study import Study
    from ps3_eval.web.server import resolve_token, serve_sections

    token = resolve_token(host, token)
    with ExitStack() as stack:
        opened = [stack.enter_context(Study(folder)) for folder in studies]
        if isinstance(project, Project):
            proj = project
        else:
            proj = stack.enter_context(Project(project))
        sections = [curation_section(proj), *study_sections(opened)]
        serve_sections(sections, host=host, port=port, token=token, on_ready=on_ready)
