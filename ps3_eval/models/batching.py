"""Batching for local backends: concurrent ``generate`` calls grouped into padded batches.

The runner calls a backend once per sample, many calls in flight. A :class:`Batcher` queues those
calls and hands them to the backend's batch function ``batch_size`` at a time (or fewer, once
``max_wait`` has passed since the first one queued), on one thread of its own, so a GPU runs one
batch at a time and is never fed one sample at a time while others wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ps3_eval.models.base import Backend
from ps3_eval.records import ModelOutput, Request

BatchFn = Callable[[Sequence[Request]], Sequence[ModelOutput | Exception]]
"""Answers a batch in order; an exception in the list fails that request alone."""


@dataclass
class _Waiting:
    request: Request
    future: asyncio.Future[ModelOutput]
    queued: float = field(default_factory=time.perf_counter)


class Batcher:
    """Groups requests into batches for a blocking batch function.

    A batch that raises is retried one request at a time, so one bad sample becomes one error
    record instead of failing the samples batched with it.
    """

    def __init__(self, run: BatchFn, batch_size: int, max_wait: float = 0.05) -> None:
        self.run = run
        self.batch_size = max(1, batch_size)
        self.max_wait = max_wait
        self._queue: list[_Waiting] = []
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="ps3-eval-batch")

    async def submit(self, request: Request) -> ModelOutput:
        """Queue one request and wait for its answer."""
        loop = asyncio.get_running_loop()
        if self._wake is None:
            self._wake = asyncio.Event()
        waiting = _Waiting(request, loop.create_future())
        self._queue.append(waiting)
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain())
        try:
            return await asyncio.shield(waiting.future)
        except asyncio.CancelledError:
            if waiting in self._queue:  # not started: it leaves the queue
                self._queue.remove(waiting)
            else:  # in a running batch: its slot stays taken until the batch ends
                await asyncio.wait({waiting.future})
            raise

    async def _drain(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while self._queue:
            first = self._queue[0].queued
            while len(self._queue) < self.batch_size:
                left = self.max_wait - (time.perf_counter() - first)
                if left <= 0:
                    break
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), left)
                except asyncio.TimeoutError:
                    break
            batch, self._queue = self._queue[: self.batch_size], self._queue[self.batch_size :]
            if not batch:
                continue
            requests = [w.request for w in batch]
            try:
                outputs = await loop.run_in_executor(self._pool, self.run, requests)
                results: list[ModelOutput | BaseException] = list(outputs)
            except Exception:
                results = []
                for r in requests:  # isolate the request that fails
                    try:
                        (one,) = await loop.run_in_executor(self._pool, self.run, [r])
                        results.append(one)
                    except Exception as exc:
                        results.append(exc)
            for w, res in zip(batch, results, strict=True):
                if w.future.done():
                    continue
                if isinstance(res, BaseException):
                    w.future.set_exception(res)
                else:
                    w.future.set_result(res)

    def close(self) -> None:
        """Stop the batch thread (after the batch it runs, if any)."""
        self._pool.shutdown(wait=True)


class BatchedBackend(Backend):
    """A backend whose calls go through a :class:`Batcher` (set ``self.batcher`` when built)."""

    batcher: Batcher

    @property
    def min_concurrency(self) -> int:
        """A batch fills only with as many requests in flight."""
        return self.batcher.batch_size

    async def generate(self, request: Request) -> ModelOutput:
        """Answer one request as part of a batch."""
        return await self.batcher.submit(request)

    async def aclose(self) -> None:
        """Stop the batch thread."""
        self.batcher.close()
