"""``ps3-eval curate serve``: the curation app of one project, under uvicorn."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ps3_eval.curate.project import Project
from ps3_eval.web import require
from ps3_eval.web.security import ASGIApp, check_bind, new_token


def build_app(project: Project, host: str = "127.0.0.1", token: str | None = None) -> ASGIApp:
    """The ASGI app serving ``project`` (pages, API, tiles) behind the shared safety rules."""
    require("starlette")
    from ps3_eval.curate.routes import curation_routes, curation_security
    from ps3_eval.web.app import create_app
    from ps3_eval.web.tiles import ImageTiles

    tiles = ImageTiles(lambda key: project.frame_path(int(key)))  # type: ignore[call-overload]
    return create_app(curation_routes(project, tiles), curation_security(host, token))


def serve(
    project: str | Path | Project,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve a project until interrupted; the twin of ``ps3-eval curate serve``.

    Args:
        project: the project folder or an open project.
        host: the address to listen on (loopback by default; any other needs a token).
        port: the port (0 picks a free one).
        token: required on every request when set; ``"auto"`` makes a random one.
        on_ready: called with the address to open (with ``?token=`` when there is one).
    """
    require("uvicorn")
    if token == "auto":
        token = new_token()
    check_bind(host, token)
    from ps3_eval.curate.routes import curation_security
    from ps3_eval.web.server import serve_forever

    proj = project if isinstance(project, Project) else Project(project)
    try:
        app = build_app(proj, host, token)

        def ready(url: str) -> None:
            if on_ready is not None:
                on_ready(f"{url}/?token={token}" if token else f"{url}/")

        serve_forever(app, curation_security(host, token), port, ready)
    finally:
        if not isinstance(project, Project):
            proj.close()
