"""The runner: stream samples, decode images off the loop, call the model, score, append.

``evaluate_async`` is the coroutine; ``evaluate`` runs it to completion from synchronous code, also
where an event loop is already running (Jupyter, an async program).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from ps3_eval.errors import UsageError
from ps3_eval.models import Backend
from ps3_eval.paths import judge_cache_file
from ps3_eval.records import RunSummary
from ps3_eval.runner.cache import ResponseCache
from ps3_eval.runner.judge import Judge
from ps3_eval.runner.lock import RunLocked
from ps3_eval.runner.pipeline import Pipeline, Progress
from ps3_eval.runner.session import finish, open_waiting, prepare, run_dir_for, run_spec
from ps3_eval.runner.shards import (
    in_shard,
    merge,
    parse_shard,
    ready_to_merge,
    shard_from_env,
)
from ps3_eval.tasks import Task

__all__ = [
    "Progress",
    "RunLocked",
    "evaluate",
    "evaluate_async",
    "run_dir_for",
    "run_spec",
]


def _default_workers() -> int:
    return max(2, min(8, os.cpu_count() or 2))


async def evaluate_async(
    task: str | Task,
    model: str | Backend,
    *,
    model_args: dict[str, Any] | None = None,
    data: str | None = None,
    task_args: dict[str, Any] | None = None,
    limit: int | None = None,
    seed: int = 0,
    concurrency: int = 8,
    prefetch: int | None = None,
    decode_workers: int | None = None,
    timeout: float | None = None,
    output_dir: str | Path = "runs",
    resume: str | Path | None = None,
    cache: str | Path | None = None,
    max_tokens: int | None = None,
    prompt: str | None = None,
    judge: str | Backend | None = None,
    shard: str | tuple[int, int] | None = None,
    wait: bool = False,
    image_side: int | None = None,
    no_image: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    on_start: Callable[[Progress, Path], None] | None = None,
) -> RunSummary:
    """Run a task with a model, as a coroutine (for Jupyter and async programs).

    Takes the same arguments as :func:`evaluate`. Loading data and writing the summary run in a
    thread, so the event loop stays responsive.
    """
    if limit is not None and limit <= 0:
        raise UsageError(f"limit must be a positive number of samples, got {limit}.")
    if concurrency <= 0:
        raise UsageError(f"concurrency must be at least 1, got {concurrency}.")
    if timeout is not None and timeout <= 0:
        raise UsageError(f"timeout must be a positive number of seconds, got {timeout}.")
    if max_tokens is not None and max_tokens <= 0:
        raise UsageError(f"max_tokens must be at least 1, got {max_tokens}.")
    if image_side is not None and image_side < 16:
        raise UsageError(f"image_side must be at least 16 pixels, got {image_side}.")
    if image_side is not None and no_image:
        raise UsageError("give image_side or no_image, not both: without images there is no side.")
    part = parse_shard(shard) if isinstance(shard, str) else shard or shard_from_env()
    if part is not None and resume is not None:
        raise UsageError("--resume finishes a run folder as recorded; drop --shard (a shard's "
                         "folder under shards/ resumes as that shard).")  # fmt: skip
    # Opened first: an unusable cache file stops the run before its folder is touched.
    response_cache = ResponseCache(Path(cache)) if cache else None
    try:
        prep = await asyncio.to_thread(
            prepare,
            task,
            model,
            model_args=model_args,
            data=data,
            task_args=task_args,
            limit=limit,
            seed=seed,
            output_dir=output_dir,
            resume=resume,
            max_tokens=max_tokens,
            prompt=prompt,
            judge=judge,
            shard=part,
            image_side=image_side,
            no_image=no_image,
        )
    except BaseException:
        if response_cache is not None:
            response_cache.close()
        raise
    try:
        plan = await open_waiting(prep, wait)
    except BaseException:
        try:
            await prep.model.aclose()
        finally:
            if response_cache is not None:
                response_cache.close()
        raise
    try:
        part = parse_shard(plan.spec.shard) if plan.spec.shard else None
        workers = decode_workers or _default_workers()
        progress = Progress(total=plan.n_total, metric=plan.task.primary_metric)
        for r in plan.done.values():
            progress.add(r)
        progress.resumed, progress.last = len(plan.done), None
        done_ids = set(plan.done)
        plan.done = {}
        judge_obj = None
        if plan.judge is not None:
            # Judge calls are always cached: in the run's cache file, or under the cache root.
            judge_obj = Judge(plan.judge, Path(cache) if cache else judge_cache_file())
        pipeline = Pipeline(
            plan.task,
            plan.model,
            plan.store,
            plan.spec,
            session=plan.session or 0,
            concurrency=concurrency,
            prefetch=prefetch or 2 * workers,
            decode_workers=workers,
            timeout=timeout,
            cache=response_cache,
            progress=progress,
            on_progress=on_progress,
            rescore=plan.rescore,
            judge=judge_obj,
        )
        todo = (
            s
            for i, s in enumerate(plan.task.samples(plan.spec.limit))
            if in_shard(i, part) and s.id not in done_ids
        )
        if on_start is not None:
            on_start(progress, plan.store.dir)
        start = time.perf_counter()
        try:
            await pipeline.run(todo)
        finally:
            try:
                await plan.model.aclose()
                if judge_obj is not None:
                    await judge_obj.aclose()
            finally:
                if response_cache is not None:
                    response_cache.close()
                # Synchronous on purpose: this also runs while the session is being cancelled
                # (Ctrl-C), when awaiting a thread could be cancelled in turn.
                summary = finish(plan, pipeline, time.perf_counter() - start)
    finally:
        plan.release()
    if part is not None:
        # whichever shard ends last merges them all into the run's own folder
        run_dir = plan.store.dir.parent.parent
        if await asyncio.to_thread(ready_to_merge, run_dir):
            await asyncio.to_thread(merge, run_dir)
    return summary


def evaluate(
    task: str | Task,
    model: str | Backend,
    *,
    model_args: dict[str, Any] | None = None,
    data: str | None = None,
    task_args: dict[str, Any] | None = None,
    limit: int | None = None,
    seed: int = 0,
    concurrency: int = 8,
    prefetch: int | None = None,
    decode_workers: int | None = None,
    timeout: float | None = None,
    output_dir: str | Path = "runs",
    resume: str | Path | None = None,
    cache: str | Path | None = None,
    max_tokens: int | None = None,
    prompt: str | None = None,
    judge: str | Backend | None = None,
    shard: str | tuple[int, int] | None = None,
    wait: bool = False,
    image_side: int | None = None,
    no_image: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    on_start: Callable[[Progress, Path], None] | None = None,
) -> RunSummary:
    """Run a task with a model; the Python twin of ``ps3-eval run``.

    Works from plain scripts and where an event loop is already running (a Jupyter cell, an async
    program): there it runs the evaluation on a loop of its own in a worker thread and blocks until
    it is done. In async code, ``await evaluate_async(...)`` instead.

    Args:
        task: registered task name, card path, or a loaded ``Task``.
        model: registered backend name (``NAME:key=value,...`` allowed) or a backend instance.
        model_args: backend arguments (validated against the backend's ``Args``).
        data: local copy of the task's data (parquet / jsonl / csv / save_to_disk / hub snapshot).
        task_args: arguments of the task's custom loader.
        limit: only the first ``limit`` samples.
        seed: seed for generation and the bootstrap.
        concurrency: model calls in flight at once (capped by the backend's own limit).
        prefetch: samples decoded ahead of the model (default ``2 * decode_workers``).
        decode_workers: threads that decode images.
        timeout: seconds per model call before it is recorded as an error.
        output_dir: parent folder of run directories.
        resume: an existing run directory to finish (its spec is used; other settings are ignored).
        cache: SQLite file of the response cache; ``None`` disables caching.
        max_tokens: override the card's generation ``max_tokens``.
        prompt: a prompt template replacing the card's (and the model's own); ``{question}``,
            ``{options}`` and the card's kept columns are filled in.
        judge: a model (name, ``NAME:key=value`` spec or instance) that reads the answers the
            scoring rules cannot; its calls are cached and recorded apart from the model's.
        shard: ``"k/n"`` or ``(k, n)``: run every n-th sample from the k-th into the run's
            ``shards/k-of-n/`` folder; the last shard to end merges all of them into the run's
            folder (``ps3-eval merge`` does it by hand). Under torchrun / accelerate launch
            (``WORLD_SIZE`` > 1) it defaults to ``RANK + 1`` of ``WORLD_SIZE``. The summary
            returned is the shard's.
        wait: when another process is running the same run (its folder is locked), wait for
            it to end instead of raising :class:`RunLocked`.
        image_side: show the model each image at most this many pixels on its long side,
            downsampled from the original (a rung of a resolution ladder); part of the run's
            identity.
        no_image: ask without the images (is the question answerable without looking?); part
            of the run's identity.
        on_progress: called after every recorded sample with live counters.
        on_start: called once before samples run, with the counters and the run directory.

    Returns:
        The run's summary (also written to ``summary.json``).
    """
    coro = evaluate_async(
        task,
        model,
        model_args=model_args,
        data=data,
        task_args=task_args,
        limit=limit,
        seed=seed,
        concurrency=concurrency,
        prefetch=prefetch,
        decode_workers=decode_workers,
        timeout=timeout,
        output_dir=output_dir,
        resume=resume,
        cache=cache,
        max_tokens=max_tokens,
        prompt=prompt,
        judge=judge,
        shard=shard,
        wait=wait,
        image_side=image_side,
        no_image=no_image,
        on_progress=on_progress,
        on_start=on_start,
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    return _run_beside_loop(coro)


def _run_beside_loop(coro: Coroutine[Any, Any, RunSummary]) -> RunSummary:
    """Run ``coro`` on a new loop in a worker thread and wait (the caller's loop is busy).

    An interrupt while waiting (Jupyter's stop button) cancels the evaluation, which saves its
    finished samples and summary, instead of leaving it running in the background.
    """
    loop = asyncio.new_event_loop()
    main = loop.create_task(coro)
    done: Future[RunSummary] = Future()

    def target() -> None:
        asyncio.set_event_loop(loop)
        try:
            done.set_result(loop.run_until_complete(main))
        except BaseException as exc:  # handed to the waiting thread as is
            done.set_exception(exc)
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    thread = threading.Thread(target=target, name="ps3-eval-run", daemon=True)
    thread.start()
    try:
        while True:
            # Wait in slices: a signal only trips a flag, which a thread blocked on a lock for
            # the whole run would never look at.
            try:
                return done.result(timeout=0.1)
            except FutureTimeout:
                continue
    except KeyboardInterrupt:
        loop.call_soon_threadsafe(main.cancel)
        thread.join()
        raise
