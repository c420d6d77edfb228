"""The app factory: the tools' sections behind the shared safety rules, static files, JSON errors.

A server hosts one or more **sections**, each a tool's routes under a URL prefix: a curation
project at the root, MRR studies under ``/mrr/<name>/``, so one address, one token and one set
of rules serve a team doing both. :func:`create_app` mounts them together with ``/static``
(pages, scripts, the vendored viewer), ``/api/sections`` (what the server hosts, for the pages'
navigation) and the error mapping every tool shares: a stale save is ``409`` with the row as it
is now, an unknown id ``404``, bad input ``400``, a body over its limit ``413``. The result is
wrapped in :class:`~ps3_eval.web.security.SecurityMiddleware`, outermost, so no route escapes it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ps3_eval.db import NotFound, StaleWrite
from ps3_eval.errors import DataError, UsageError
from ps3_eval.paths import web_static_dir
from ps3_eval.web.security import ASGIApp, BodyTooLarge, Security, SecurityMiddleware

STATIC = web_static_dir()
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


def actor(request: Request, *, required: bool = False) -> str:
    """Who is editing: the ``X-Reviewer`` name the page sends (``anonymous`` without one).

    The pages send the name percent-encoded (a header carries Latin-1 only), so any name a
    person types arrives whole.

    Args:
        request: the request.
        required: refuse a request without a name instead of calling it ``anonymous``.

    Raises:
        UsageError: no name when one is required, or a name longer than 64 characters or with
            characters other than letters, digits, spaces and ``. @ + - _``.
    """
    name = unquote(request.headers.get("x-reviewer", "")).strip()
    if not name:
        if required:
            raise UsageError("enter your name first (the field at the top of the page)")
        return "anonymous"
    if not _ACTOR.match(name):
        raise UsageError("a name is 1-64 letters, digits, spaces or . @ + - _")
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


@dataclass(frozen=True)
class Section:
    """One tool hosted by a server: its pages and API under a URL prefix."""

    title: str
    """What the navigation calls it (``Curation: street``, ``MRR: docvqa-s0-n50``)."""
    routes: Sequence[BaseRoute]
    """Its routes, relative to ``prefix``."""
    prefix: str = ""
    """Where it is mounted: ``""`` for the root, else ``/a/b`` (no trailing slash)."""
    kind: str = ""
    """The tool (``curate``, ``mrr``), for the pages."""
    body_limits: Mapping[str, int] = field(default_factory=dict)
    """Per path prefix relative to ``prefix``, the largest request body in bytes."""

    @property
    def home(self) -> str:
        """The section's front page."""
        return f"{self.prefix}/"


def create_app(sections: Sequence[Section], security: Security) -> ASGIApp:
    """The ASGI app of the given sections, with static files and the safety rules.

    Args:
        sections: the tools to host; at most one at the root (``prefix=""``). Without one
            there, ``/`` leads to the first section.
        security: the rules (address, token, body limits) to enforce on every request; the
            sections' own body limits are added to it.

    Returns:
        An ASGI application for uvicorn.

    Raises:
        UsageError: two sections at one prefix, or a prefix that is not ``/name[/name...]``.
    """
    prefixes = [s.prefix for s in sections]
    if not sections or len(set(prefixes)) != len(prefixes):
        raise UsageError("give at least one section, each at a prefix of its own")
    for prefix in prefixes:
        if prefix and not re.fullmatch(r"(/[A-Za-z0-9._-]+)+", prefix):
            raise UsageError(f"a section's prefix is /name[/name...], not {prefix!r}")
    listing = [{"title": s.title, "kind": s.kind, "url": s.home} for s in sections]

    def sections_api(request: Request) -> Response:
        return json_response(listing)

    routes: list[BaseRoute] = [Route("/api/sections", sections_api)]
    for section in sections:
        if section.prefix:
            routes.append(Mount(section.prefix, routes=list(section.routes)))
        else:
            routes.extend(section.routes)
    if "" not in prefixes:
        first = sections[0].home

        def home(request: Request) -> Response:
            return RedirectResponse(first, status_code=303)

        routes.append(Route("/", home))
    limits = dict(security.body_limits)
    for section in sections:
        limits.update({section.prefix + path: n for path, n in section.body_limits.items()})
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
    return SecurityMiddleware(app, replace(security, body_limits=limits))
