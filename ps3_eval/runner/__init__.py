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
from ps3_eval.models import Model
from ps3_eval.paths import judge_cache_file
from ps3_eval.records import RunSummary
from ps3_eval.rundir import RunLocked, run_dir_for
from ps3_eval.runner.cache import ResponseCache
from ps3_eval.runner.judge import Judge
from ps3_eval.runner.options import (
    OperationalOptions,
    ResultOptions,
    RunOptions,
    RunSettings,
)
from ps3_eval.runner.pipeline import Pipeline, Progress
from ps3_eval.runner.session import finish, open_waiting, prepare, run_spec
from ps3_eval.runner.shards import (
    in_shard,
    merge,
    parse_shard,
    ready_to_merge,
    shard_from_env,
)
from ps3_eval.tasks import Task

__all__ = [
    "OperationalOptions",
    "Progress",
    "ResultOptions",
    "RunLocked",
    "RunOptions",
    "RunSettings",
    "evaluate",
    "evaluate_async",
    "run_dir_for",
    "run_spec",
]


def _default_workers() -> int:
    return max(2, min(8, os.cpu_count() or 2))


async def evaluate_async(
    task: str | Task | None = None,
    model: str | Model | None = None,
    *,
    options: RunSettings | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_start: Callable[[Progress, Path], None] | None = None,
    **settings: Any,
) -> RunSummary:
    """Run a task with a model, as a coroutine (for Jupyter and async programs).

    Takes the same arguments as :func:`evaluate`. Loading data and writing the summary run in a
    thread, so the event loop stays responsive.
    """
    given = {k: v for k, v in (("task", task), ("model", model)) if v is not None}
    opts = RunOptions.of(options, **given, **settings)
    return await _evaluate(opts, on_progress, on_start)


async def _evaluate(
    opts: RunOptions,
    on_progress: Callable[[Progress], None] | None,
    on_start: Callable[[Progress, Path], None] | None,
) -> RunSummary:
    shard = opts.shard
    part = parse_shard(shard) if isinstance(shard, str) else shard or shard_from_env()
    if part is not None and opts.resume is not None:
        raise UsageError(
            "--resume finishes a run folder as recorded; drop --shard (a shard's folder under "
            "shards/ resumes as that shard)."
        )
    # Opened first: an unusable cache file stops the run before its folder is touched.
    cache = Path(opts.cache) if opts.cache else None
    response_cache = ResponseCache(cache) if cache else None
    try:
        prep = await asyncio.to_thread(prepare, opts, part)
    except BaseException:
        if response_cache is not None:
            response_cache.close()
        raise
    try:
        plan = await open_waiting(prep, opts.wait)
    except BaseException:
        try:
            await prep.model.aclose()
        finally:
            if response_cache is not None:
                response_cache.close()
        raise
    try:
        part = parse_shard(plan.spec.shard) if plan.spec.shard else None
        workers = opts.decode_workers or _default_workers()
        progress = Progress(total=plan.n_total, metric=plan.task.primary_metric)
        for r in plan.done.values():
            progress.add(r)
        progress.resumed, progress.last = len(plan.done), None
        done_ids = set(plan.done)
        plan.done = {}
        judge_obj = None
        if plan.judge is not None:
            # Judge calls are always cached: in the run's cache file, or under the cache root.
            judge_obj = Judge(plan.judge, cache or judge_cache_file())
        pipeline = Pipeline(
            plan.task,
            plan.model,
            plan.folder,
            plan.spec,
            session=plan.session or 0,
            concurrency=opts.concurrency,
            prefetch=opts.prefetch or 2 * workers,
            decode_workers=workers,
            timeout=opts.timeout,
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
            on_start(progress, plan.folder.dir)
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
        run_dir = plan.folder.whole().dir
        if await asyncio.to_thread(ready_to_merge, run_dir):
            await asyncio.to_thread(merge, run_dir)
    return summary


def evaluate(
    task: str | Task | None = None,
    model: str | Model | None = None,
    *,
    options: RunSettings | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_start: Callable[[Progress, Path], None] | None = None,
    **settings: Any,
) -> RunSummary:
    """Run a task with a model; the Python twin of ``ps3-eval run``.

    Works from plain scripts and where an event loop is already running (a Jupyter cell, an async
    program): there it runs the evaluation on a loop of its own in a worker thread and blocks until
    it is done. In async code, ``await evaluate_async(...)`` instead.

    Every option of the run is a field of :class:`RunOptions`, given as a keyword
    (``evaluate("probe4k", "ocr-reader", limit=10, image_side=756)``), as ``options`` (a
    ``RunOptions`` or a sweep's ``RunSettings``), or both (keywords win). An unknown keyword or a
    value out of range raises ``UsageError`` before anything runs.

    Args:
        task: registered task name, card path, or a loaded ``Task`` (not needed with ``resume``).
        model: registered backend name (``NAME:key=value,...`` allowed), a backend instance, or
            any object implementing the ``Model`` protocol (not needed with ``resume``).
        options: run options to start from.
        on_progress: called after every recorded sample with live counters.
        on_start: called once before samples run, with the counters and the run directory.
        **settings: run options (see :class:`RunOptions`): ``model_args``, ``data``,
            ``task_args``, ``limit``, ``seed``, ``max_tokens``, ``prompt``, ``judge``,
            ``image_side``, ``no_image`` (they decide the results: part of the run's identity);
            ``concurrency``, ``prefetch``, ``decode_workers``, ``timeout``, ``output_dir``,
            ``cache``, ``shard``, ``wait`` (how it runs); ``resume``.

    Returns:
        The run's summary (also written to ``summary.json``). A shard's run returns the shard's.

    Raises:
        UsageError: bad options, a task or model that cannot be loaded, an unwritable folder.
        RunLocked: another process is running the same run (unless ``wait``).
    """
    coro = evaluate_async(
        task, model, options=options, on_progress=on_progress, on_start=on_start, **settings
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
