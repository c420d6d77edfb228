"""Run an app under uvicorn: in the foreground (``serve``) or in a thread (tests, perf)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import uvicorn

from ps3_eval.web.security import ASGIApp, Security, check_bind, new_token

if TYPE_CHECKING:
    from ps3_eval.web.app import Section

log = logging.getLogger(__name__)


def _config(app: ASGIApp, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        proxy_headers=False,  # no proxy in front: never let a header change the scheme or client
        server_header=False,
        timeout_graceful_shutdown=3,
    )


def bound_url(server: uvicorn.Server, host: str) -> str:
    """``http://host:port`` of a started server (the real port when 0 was asked)."""
    port = server.servers[0].sockets[0].getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def serve_forever(
    app: ASGIApp, security: Security, port: int, on_ready: Callable[[str], None] | None = None
) -> None:
    """Serve until interrupted; ``on_ready(url)`` once the socket listens."""
    check_bind(security.host, security.token)
    server = uvicorn.Server(_config(app, security.host, port))

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                await task  # startup failed (port taken): uvicorn has logged why
                return
            await asyncio.sleep(0.02)
        if on_ready is not None:
            on_ready(bound_url(server, security.host))
        await task

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


def resolve_token(host: str, token: str | None) -> str | None:
    """The token a server will require: ``"auto"`` becomes a random one; checked against the host.

    Raises:
        UsageError: a non-loopback host without a token, or a token too short.
    """
    if token == "auto":
        token = new_token()
    check_bind(host, token)
    return token


def serve_sections(
    sections: Sequence[Section],
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the sections on one server until interrupted.

    Args:
        sections: the tools to host (see :func:`ps3_eval.web.app.create_app`).
        host: the address to listen on (loopback by default; any other needs a token).
        port: the port (0 picks a free one).
        token: required on every request when set (already resolved: see :func:`resolve_token`).
        on_ready: called with the address to open (with ``?token=`` when there is one).
    """
    from ps3_eval.web.app import create_app

    security = Security(host=host, token=token)
    app = create_app(sections, security)

    def ready(url: str) -> None:
        if on_ready is not None:
            on_ready(f"{url}/?token={token}" if token else f"{url}/")

    serve_forever(app, security, port, ready)


class BackgroundServer:
    """A server on a thread of its own: ``with BackgroundServer(app, sec) as url: ...``."""

    def __init__(self, app: ASGIApp, security: Security, port: int = 0) -> None:
        check_bind(security.host, security.token)
        self.host = security.host
        self.server = uvicorn.Server(_config(app, security.host, port))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = ""

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the server did not start (see the log)")
            threading.Event().wait(0.02)
        self.url = bound_url(self.server, self.host)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
