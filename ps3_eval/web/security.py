"""The safety rules of every local web tool, as one ASGI middleware.

- **Where it listens.** Loopback (``127.0.0.1``) by default. Any other address needs a token:
  :func:`check_bind` refuses to start without one.
- **Who may talk to it.** Without a token the ``Host`` header must name the loopback (a page of
  another site that rebinds its DNS name to 127.0.0.1 is refused). With a token every request
  carries it: ``Authorization: Bearer``, the cookie set when a page was opened with
  ``?token=...``, or that query parameter itself (answered with the cookie and a redirect that
  takes the token out of the address bar).
- **Who may change data.** A state-changing request (POST, PUT, PATCH, DELETE) from a browser
  must come from the server's own origin (``Origin``, or ``Sec-Fetch-Site`` where there is no
  ``Origin``), and a body must be JSON, which a foreign page cannot send without a preflight the
  server never grants.
- **How much.** Bodies are limited (by path prefix, with a default), checked on
  ``Content-Length`` and again while the body streams in.
- Responses carry a content security policy (scripts from the server only) and ``nosniff``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from ps3_eval.errors import UsageError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_MAX_BODY = 1 << 20
CSP = (
    "default-src 'self'; script-src 'self'; img-src 'self' data: blob:; "
    "style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A random token for a server on a non-loopback address."""
    return secrets.token_urlsafe(24)


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond the loopback without a token.

    Raises:
        UsageError: ``host`` is not a loopback address and no token was given.
    """
    if not is_loopback(host) and not token:
        raise UsageError(
            f"listening on {host} lets other machines reach the server; give it a token "
            f"(--token TOKEN, or --token auto for a random one), or keep the default 127.0.0.1."
        )
    if token is not None and len(token) < 16:
        raise UsageError("the token must be at least 16 characters long; try --token auto.")


@dataclass(frozen=True)
class Security:
    """The rules one server enforces."""

    host: str = "127.0.0.1"
    """Address the server listens on."""
    token: str | None = None
    """Required on every request when set (and it must be set beyond the loopback)."""
    allowed_hosts: frozenset[str] = frozenset()
    """Extra names accepted in the ``Host`` header when there is no token."""
    max_body: int = DEFAULT_MAX_BODY
    """Largest request body in bytes, unless a prefix in ``body_limits`` says otherwise."""
    body_limits: dict[str, int] = field(default_factory=dict)
    """Per path prefix (e.g. an import endpoint), the largest body in bytes."""

    def limit_for(self, path: str) -> int:
        """The body limit for ``path`` (the longest matching prefix wins)."""
        best, limit = -1, self.max_body
        for prefix, value in self.body_limits.items():
            if path.startswith(prefix) and len(prefix) > best:
                best, limit = len(prefix), value
        return limit

    @property
    def cookie_name(self) -> str:
        """The token cookie, named after a hash of the token so two servers keep theirs."""
        digest = hashlib.sha256((self.token or "").encode()).hexdigest()[:10]
        return f"ps3_eval_token_{digest}"


class BodyTooLarge(Exception):
    """A request body passed its limit while streaming in."""


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        out[key.decode("latin-1").lower()] = value.decode("latin-1")
    return out


def _host_name(host_header: str) -> str:
    """The name part of a Host header (``[::1]:8000`` -> ``::1``)."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


async def _reply(
    send: Send, status: int, message: str, extra: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityMiddleware:
    """Enforces :class:`Security` in front of an ASGI app."""

    def __init__(self, app: ASGIApp, security: Security) -> None:
        self.app = app
        self.security = security

    def _token_ok(self, headers: dict[str, str], query: dict[str, str]) -> bool:
        token = self.security.token
        assert token is not None
        given = []
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given.append(auth[7:].strip())
        if "cookie" in headers:
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(headers["cookie"])
            except Exception:  # a malformed cookie header is just no token
                jar = SimpleCookie()
            if self.security.cookie_name in jar:
                given.append(jar[self.security.cookie_name].value)
        if "token" in query:
            given.append(query["token"])
        return any(hmac.compare_digest(g.encode(), token.encode()) for g in given)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check one request; refuse it or pass it on with the response headers added."""
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        sec = self.security
        headers = _headers(scope)
        method = scope["method"].upper()
        path: str = scope.get("path", "")
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        host_header = headers.get("host", "")
        host = _host_name(host_header)

        if sec.token is None and not (is_loopback(host) or host in sec.allowed_hosts):
            await _reply(send, 403, f"host {host_header!r} is not served here")
            return
        if sec.token is not None and not self._token_ok(headers, query):
            await _reply(send, 401, "a valid token is required (open the address serve printed)")
            return
        if sec.token is not None and "token" in query and method == "GET":
            # The page was opened with ?token=...: keep it in a cookie and drop it from the URL.
            rest = urlencode([(k, v) for k, v in query.items() if k != "token"])
            location = path + (f"?{rest}" if rest else "")
            cookie = f"{sec.cookie_name}={sec.token}; HttpOnly; SameSite=Strict; Path=/"
            await _reply(
                send,
                303,
                "token accepted",
                ((b"location", location.encode()), (b"set-cookie", cookie.encode())),
            )
            return

        if method in STATE_CHANGING:
            scheme = scope.get("scheme", "http")
            origin = headers.get("origin")
            fetch_site = headers.get("sec-fetch-site")
            if origin is not None and origin != f"{scheme}://{host_header}":
                await _reply(send, 403, "requests from another origin cannot change data")
                return
            if origin is None and fetch_site not in (None, "same-origin", "none"):
                await _reply(send, 403, "requests from another site cannot change data")
                return
            length = headers.get("content-length")
            has_body = (length is not None and length != "0") or "transfer-encoding" in headers
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if has_body and ctype != "application/json":
                await _reply(send, 415, "send the body as application/json")
                return

        limit = sec.limit_for(path)
        length = headers.get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _reply(send, 400, "bad Content-Length")
                return
            if declared > limit:
                await _reply(send, 413, f"request body over the limit of {limit} bytes")
                return

        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"content-security-policy", CSP.encode()),
                    (b"referrer-policy", b"no-referrer"),
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except BodyTooLarge:
            if not started:
                await _reply(send, 413, f"request body over the limit of {limit} bytes")
