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

JUDGE_GENERATION = GenerationConfig(max_tokens=32, temperature=0.0)
"""Judges answer in a few tokens, greedily."""


class Judge:
    """A backend used to extract answers, with its cache."""

    def __init__(self, backend: Backend, cache_path: Path) -> None:
        self.backend = backend
        self.fingerprint = backend.fingerprint()
        self.cache = ResponseCache(cache_path)

    async def ask(self, sample_id: str, prompt: str) -> JudgeCall:
        """Ask the judge; a failure is recorded in the call, never raised."""
        request = Request(
            sample_id=f"judge:{sample_id}",
            messages=[Message(role="user", content=[TextPart(text=prompt)])],
            generation=JUDGE_GENERATION,
        )
        call = JudgeCall(model=self.backend.name, fingerprint=self.fingerprint, prompt=prompt)
        hit = self.cache.get(self.fingerprint, request)
        if hit is not None:
            call.text, call.usage, call.cached = hit.text, hit.usage, True
            return call
        start = time.perf_counter()
        try:
            output = await self.backend.generate(request)
        except Exception as exc:  # the judge's failure leaves the rule-based score in place
            call.error = f"{type(exc).__name__}: {exc}".strip()
            call.latency = time.perf_counter() - start
            return call
        call.latency = output.timing.latency or time.perf_counter() - start
        if output.error is not None:
            call.error = output.error.strip() or f"{self.backend.name} returned an empty error"
            return call
        call.text, call.usage = output.text.strip(), output.usage
        self.cache.put(self.fingerprint, request, output)
        return call

    async def aclose(self) -> None:
        """Close the backend and the cache."""
        try:
            await self.backend.aclose()
        finally:
            self.cache.close()
