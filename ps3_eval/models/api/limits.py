"""Rate limits, retries and secrets for API backends (no SDK imports here)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ps3_eval.errors import UsageError, first_line


class RateLimiter:
    """Requests-per-minute and tokens-per-minute budgets shared by every call of one backend.

    Requests are spaced evenly (``60 / rpm`` seconds apart); tokens come from a bucket refilled at
    ``tpm / 60`` per second that holds at most a minute's worth. A call waits for both.
    """

    def __init__(self, rpm: float | None, tpm: float | None) -> None:
        self.rpm, self.tpm = rpm, tpm
        self._lock = asyncio.Lock()
        self._next = 0.0
        self._tokens = float(tpm or 0)
        self._refilled = time.monotonic()

    async def acquire(self, tokens: int) -> None:
        """Wait until a request of about ``tokens`` tokens fits both budgets."""
        if not self.rpm and not self.tpm:
            return
        async with self._lock:
            now = time.monotonic()
            wait = 0.0
            if self.rpm:
                start = max(now, self._next)
                self._next = start + 60.0 / self.rpm
                wait = start - now
            if self.tpm:
                need = min(float(tokens), float(self.tpm))
                self._tokens = min(
                    float(self.tpm), self._tokens + (now - self._refilled) * self.tpm / 60.0
                )
                self._refilled = now
                if self._tokens < need:
                    wait = max(wait, (need - self._tokens) * 60.0 / self.tpm)
                self._tokens -= need  # may go negative: later calls wait for the refill
            if wait > 0:
                await asyncio.sleep(wait)


@dataclass(frozen=True)
class Failure:
    """A failed call, classified."""

    retry: bool
    """429, 5xx, timeouts, connection errors and malformed responses are retried."""
    after: float | None
    """Seconds the server asked to wait (``Retry-After`` or Gemini's ``RetryInfo``), if it said."""
    message: str


def _retry_after(headers: object) -> float | None:
    get = getattr(headers, "get", None)
    if get is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except (TypeError, ValueError):
            continue  # an HTTP date: fall back to backoff
    return None


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?)s\s*$")


def _retry_info(body: Any) -> float | None:
    """The ``retryDelay`` of a ``google.rpc.RetryInfo`` in an error body, in seconds.

    Gemini puts its retry hint in the body, not in a header: ``{"error": {"details": [{"@type":
    "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]}}`` (a protobuf Duration in
    its JSON form: seconds with an ``s``).
    """
    if isinstance(body, str | bytes):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if not isinstance(body, dict):
        return None
    error = body.get("error", body)
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("rpc.RetryInfo"):
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def classify(exc: BaseException) -> Failure:
    """Classify an SDK or transport exception by status code and type, without the SDK types."""
    status = getattr(exc, "status_code", None) or getattr(exc, "code", None)
    response = getattr(exc, "response", None)
    if not isinstance(status, int):
        status = getattr(response, "status_code", None)
    after = _retry_after(getattr(response, "headers", None))
    if after is None:  # google-genai keeps the parsed body in .details, the others in .body
        after = _retry_info(getattr(exc, "details", None) or getattr(exc, "body", None))
    name = type(exc).__name__
    text = first_line(exc, name)
    if isinstance(status, int):
        if status == 429 or status >= 500:
            return Failure(True, after, f"HTTP {status}: {text}")
        return Failure(False, None, f"HTTP {status} (not retried): {text}")
    if isinstance(exc, asyncio.TimeoutError | TimeoutError) or "Timeout" in name:
        return Failure(True, None, f"timed out ({name})")
    lineage = {c.__name__ for c in type(exc).__mro__}
    transport = {"TransportError", "NetworkError", "ProtocolError", "ConnectError"}
    if "Connection" in name or lineage & transport or isinstance(exc, ConnectionError | OSError):
        return Failure(True, None, f"connection error: {text}")
    if "Validation" in name or "JSON" in name or isinstance(exc, ValueError):
        return Failure(True, None, f"malformed response: {text}")
    return Failure(False, None, f"{name}: {text}")


def forget(exc: BaseException) -> None:
    """Let go of everything a failed call's exception holds on to.

    An exception keeps its traceback, and with it every frame it passed through and their locals:
    the request body, its base64 images, the SDK's request object. Its chained exceptions (the
    transport error an SDK wraps) hold more of the same. A frame that refers back to the exception
    makes a cycle only the garbage collector frees, late. Cutting the traceback and the chain on
    every exception involved frees all of it as soon as the caller drops the exception.
    """
    pending: list[BaseException] = [exc]
    done: set[int] = set()
    while pending:
        e = pending.pop()
        if id(e) in done:
            continue
        done.add(id(e))
        pending.extend(x for x in (e.__cause__, e.__context__) if x is not None)
        e.__traceback__ = None
        e.__cause__ = e.__context__ = None


def backoff(attempt: int, after: float | None, base: float = 0.5, cap: float = 30.0) -> float:
    """Seconds before retry ``attempt`` (1-based).

    The server's Retry-After when it gave one, else exponential backoff with full jitter.
    """
    if after is not None:
        return min(after, 120.0)
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def api_key(names: Iterable[str], backend: str) -> tuple[str, str]:
    """The first set environment variable of ``names`` and its value.

    Raises:
        UsageError: naming the variables, when none is set (before any sample runs).
    """
    names = list(names)
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return name, value
    wanted = " or ".join(names)
    raise UsageError(
        f"model '{backend}' needs an API key: set {wanted} in the environment (or name another "
        f"variable with api_key_env=VAR)."
    )


_HEADER_SECRET = re.compile(
    r"(?i)(bearer\s+|x-api-key[\"']?\s*[:=]\s*[\"']?|x-goog-api-key[\"']?\s*[:=]\s*[\"']?|key=)[^\s\"',&]+"
)


def redact(text: str, secret: str) -> str:
    """``text`` without the secret, its halves, or anything after a credential header name."""
    if secret:
        for piece in (secret, secret[: len(secret) // 2], secret[len(secret) // 2 :]):
            if len(piece) >= 6:
                text = text.replace(piece, "***")
    return _HEADER_SECRET.sub(lambda m: m.group(1) + "***", text)
