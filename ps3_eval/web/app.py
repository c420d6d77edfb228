"""The app factory: a tool's routes behind the shared safety rules, static files, JSON errors.

A tool (curation, MRR labelling) contributes Starlette routes; :func:`create_app` puts them
together with ``/static`` (pages, scripts, the vendored viewer) and the error mapping every tool
shares: a stale save is ``409`` with the row as it is now, an unknown id ``404``, bad input
``400``, a body over its limit ``413``. The result is wrapped in
:class:`~ps3_eval.web.security.SecurityMiddleware`, outermost, so no route escapes it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from ps3_eval.db import NotFound, StaleWrite
from ps3_eval.errors import DataError, UsageError
from ps3_eval.web.security import ASGIApp, BodyTooLarge, Security, SecurityMiddleware

STATIC = Path(__file__).with_name("static")
"""Pages, scripts and styles of every tool; ``lib/`` holds vendored libraries and licenses."""

_ACTOR = re.compile(r"^[\w .@+-]{1,64}$")


def json_response(data: Any, status: int = 200) -> JSONResponse:
    """JSON that is never cached (rows change under other reviewers)."""
    return JSONResponse(data, status_code=status, headers={"cache-control": "no-store"})


async def read_json(request: Request) -> dict[str, Any]:
    """The request's JSON object body.

    Raises:
        UsageError: the body is not a JSON object.
    """
    raw = await request.body()
    try:
        data = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UsageError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise UsageError("the body must be a JSON object")
    return data


def actor(request: Request) -> str:
    """Who is editing: the ``X-Reviewer`` name the page sends (``anonymous`` without one).

    Raises:
        UsageError: the name is longer than 64 characters or holds control characters.
    """
    name = request.headers.get("x-reviewer", "").strip()
    if not name:
        return "anonymous"
    if not _ACTOR.match(name):
        raise UsageError("a reviewer name is 1-64 letters, digits, spaces or . @ + - _")
    return name


def page(path: Path) -> Any:
    """An endpoint serving one HTML file of ``static/`` (revalidated on every load)."""

    async def endpoint(request: Request) -> Response:
        return FileResponse(path, headers={"cache-control": "no-cache"})

    return endpoint


async def _stale(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StaleWrite)
    return json_response({"error": str(exc), "current": exc.current}, 409)


async def _not_found(request: Request, exc: Exception) -> Response:
    return json_response({"error": str(exc)}, 404)


async def _bad(request: Request, exc: Exception) -> Response:
    return json_response({"error": str(exc)}, 400)


async def _too_large(request: Request, exc: Exception) -> Response:
    return json_response({"error": "request body over the limit"}, 413)


def create_app(routes: Sequence[BaseRoute], security: Security) -> ASGIApp:
    """The ASGI app of a tool's ``routes``, with static files and the safety rules.

    Args:
        routes: the tool's pages and API routes.
        security: the rules (address, token, body limits) to enforce on every request.

    Returns:
        An ASGI application for uvicorn.
    """
    app = Starlette(
        routes=[*routes, Mount("/static", app=StaticFiles(directory=STATIC), name="static")],
        exception_handlers={
            StaleWrite: _stale,
            NotFound: _not_found,
            UsageError: _bad,
            DataError: _bad,
            BodyTooLarge: _too_large,
        },
    )
    return SecurityMiddleware(app, security)
