"""A judge: any registered model, asked to read an answer that the scoring rules could not.

Judge calls are cached (a judge re-reading the same response for the same prompt is never paid for
twice) and recorded in the sample's ``judge`` field with their own tokens, apart from the evaluated
model's.
"""

from __future__ import annotations

import time
from pathlib import Path

from ps3_eval.models import Backend
from ps3_eval.records import GenerationConfig, JudgeCall, Message, Request, TextPart
from ps3_eval.runner.cache import ResponseCache
from ps3_eval.runner.calls import CachedModel, CallFailed

JUDGE_GENERATION = GenerationConfig(max_tokens=32, temperature=0.0)
"""Judges answer in a few tokens, greedily."""


class Judge:
    """A backend used to extract answers, with its cache."""

    def __init__(self, backend: Backend, cache_path: Path) -> None:
        self.backend = backend
        self.calls = CachedModel(backend, ResponseCache(cache_path))
        self.fingerprint = self.calls.fingerprint

    async def ask(self, sample_id: str, prompt: str) -> JudgeCall:
        """Ask the judge; a failure is recorded in the call, never raised."""
        request = Request(
            sample_id=f"judge:{sample_id}",
            messages=[Message(role="user", content=[TextPart(text=prompt)])],
            generation=JUDGE_GENERATION,
        )
        call = JudgeCall(model=self.backend.name, fingerprint=self.fingerprint, prompt=prompt)
        start = time.perf_counter()
        try:
            output = await self.calls.generate(request)
        except CallFailed as exc:  # the judge's failure leaves the rule-based score in place
            call.error = str(exc)
            call.latency = exc.output.timing.latency or time.perf_counter() - start
            return call
        if output.cached:
            call.text, call.usage, call.cached = output.text, output.usage, True
            return call
        call.latency = output.timing.latency or time.perf_counter() - start
        call.text, call.usage = output.text.strip(), output.usage
        return call

    async def aclose(self) -> None:
        """Close the backend and the cache."""
        try:
            await self.backend.aclose()
        finally:
            if self.calls.cache is not None:
                self.calls.cache.close()
