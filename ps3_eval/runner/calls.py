"""A model call with its cache: look the request up, call the model, check the answer, store it.

The pipeline asks the evaluated model through a :class:`CachedModel`, and a judge asks its model
through one too, so both replay, time, refuse and store answers by one rule: a failed call
raises :class:`CallFailed` (the caller records it), and only answers are ever cached.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ps3_eval.models import Backend
from ps3_eval.records import ModelOutput, Request, Timing
from ps3_eval.runner.cache import ResponseCache


class CallFailed(Exception):
    """The model raised, or answered with an error; ``output`` is what the call produced."""

    def __init__(self, message: str, output: ModelOutput) -> None:
        super().__init__(message)
        self.output = output


class CallTimedOut(Exception):
    """The model call passed the run's time limit; ``call`` may still be winding down."""

    def __init__(self, limit: float, elapsed: float, call: asyncio.Future[Any]) -> None:
        super().__init__(f"model call timed out after {limit:g}s")
        self.elapsed = elapsed
        self.call = call


class CachedModel:
    """A backend's calls through the response cache, under an optional time limit.

    Answers are stored as the backend returned them (``cached`` replays are marked), keyed by
    the live backend's fingerprint and the whole request; errors are never stored.
    """

    def __init__(
        self, model: Backend, cache: ResponseCache | None, timeout: float | None = None
    ) -> None:
        self.model = model
        self.cache = cache
        self.timeout = timeout
        # The live backend keys the cache, never a fingerprint read back from an old spec.
        self.fingerprint = model.fingerprint()

    async def _within_limit(self, request: Request, limit: float) -> ModelOutput:
        call = asyncio.ensure_future(self.model.generate(request))
        start = time.perf_counter()
        # asyncio.wait (not wait_for) tells the run's limit apart from a TimeoutError the backend
        # raises itself, and does not cancel the call before the caller has recorded the timeout.
        try:
            done, _ = await asyncio.wait({call}, timeout=limit)
        except asyncio.CancelledError:  # the session is stopping: stop the call with it
            call.cancel()
            await asyncio.wait({call})
            raise
        if not done:
            call.cancel()
            raise CallTimedOut(limit, time.perf_counter() - start, call)
        return call.result()

    async def _call(self, request: Request) -> ModelOutput:
        start = time.perf_counter()
        try:
            if self.timeout is None:
                output = await self.model.generate(request)
            else:
                output = await self._within_limit(request, self.timeout)
        except CallTimedOut:
            raise
        except Exception as exc:  # the model boundary: any failure is this call's record
            failed = ModelOutput(timing=Timing(latency=time.perf_counter() - start))
            raise CallFailed(f"{type(exc).__name__}: {exc}".strip(), failed) from None
        if not output.timing.latency:
            output.timing.latency = time.perf_counter() - start
        if output.error is not None:
            # An empty message is still a failure; say whose.
            output.error = (
                output.error.strip() or f"{self.model.name} returned an error without a message"
            )
            raise CallFailed(output.error, output)
        return output

    async def generate(self, request: Request) -> ModelOutput:
        """The cached answer to ``request``, else the model's (stored once it answered).

        Raises:
            CallFailed: the model raised or returned an error.
            CallTimedOut: the call passed the time limit.
        """
        if self.cache is not None:
            hit = self.cache.get(self.fingerprint, request)
            if hit is not None:
                return hit
        output = await self._call(request)
        if self.cache is not None:
            self.cache.put(self.fingerprint, request, output)
        return output
