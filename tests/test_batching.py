"""The batcher groups concurrent calls into batches and isolates a failing request."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from ps3_eval.models.batching import Batcher
from ps3_eval.records import Message, ModelOutput, Request, TextPart


def _request(i: int) -> Request:
    return Request(sample_id=str(i), messages=[Message(content=[TextPart(text=f"q{i}")])])


def test_concurrent_calls_become_full_batches_then_the_rest() -> None:
    seen: list[list[str]] = []
    threads: set[str] = set()

    def run(batch: Sequence[Request]) -> list[ModelOutput]:
        seen.append([r.sample_id for r in batch])
        threads.add(threading.current_thread().name)
        return [ModelOutput(text=f"a{r.sample_id}", extra={"n": len(batch)}) for r in batch]

    async def go() -> list[ModelOutput]:
        batcher = Batcher(run, batch_size=4, max_wait=0.5)
        try:
            return await asyncio.gather(*(batcher.submit(_request(i)) for i in range(10)))
        finally:
            batcher.close()

    outs = asyncio.run(go())
    assert [o.text for o in outs] == [f"a{i}" for i in range(10)]  # each call gets its answer
    assert [len(b) for b in seen] == [4, 4, 2]  # full batches, then what is left
    assert sorted(i for b in seen for i in b) == sorted(str(i) for i in range(10))
    assert len(threads) == 1  # one batch at a time, on the batcher's own thread


def test_a_failing_batch_is_retried_one_by_one() -> None:
    calls: list[int] = []

    def run(batch: Sequence[Request]) -> list[ModelOutput]:
        calls.append(len(batch))
        if any(r.sample_id == "2" for r in batch):
            raise RuntimeError("sample 2 breaks the model")
        return [ModelOutput(text=r.sample_id) for r in batch]

    async def go() -> list[object]:
        batcher = Batcher(run, batch_size=4, max_wait=0.5)
        try:
            return await asyncio.gather(
                *(batcher.submit(_request(i)) for i in range(4)), return_exceptions=True
            )
        finally:
            batcher.close()

    results = asyncio.run(go())
    assert calls == [4, 1, 1, 1, 1]
    assert isinstance(results[2], RuntimeError)
    assert [r.text for i, r in enumerate(results) if i != 2] == ["0", "1", "3"]  # type: ignore[union-attr]


def test_a_cancelled_call_leaves_the_queue() -> None:
    started = threading.Event()
    release = threading.Event()
    ran: list[list[str]] = []

    def run(batch: Sequence[Request]) -> list[ModelOutput]:
        ran.append([r.sample_id for r in batch])
        started.set()
        release.wait(5)
        return [ModelOutput(text=r.sample_id) for r in batch]

    async def go() -> None:
        batcher = Batcher(run, batch_size=1, max_wait=0.0)
        first = asyncio.ensure_future(batcher.submit(_request(0)))
        second = asyncio.ensure_future(batcher.submit(_request(1)))
        await asyncio.to_thread(started.wait, 5)
        second.cancel()  # still queued behind the running batch
        with pytest.raises(asyncio.CancelledError):
            await second
        release.set()
        assert (await first).text == "0"
        batcher.close()

    asyncio.run(go())
    assert ran == [["0"]]
