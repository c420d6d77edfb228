"""The runner: stream samples, decode images off the loop, call the model, score, append.

``evaluate_async`` is the coroutine; ``evaluate`` runs it to completion from synchronous code, also
where an event loop is already running (Jupyter, an async program).
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ps3_eval.errors import UsageError
from ps3_eval.models import Backend, build_model, parse_model_spec
from ps3_eval.records import RunSpec, RunSummary, SampleResult, Session, utcnow
from ps3_eval.runner.cache import ResponseCache
from ps3_eval.runner.judge import Judge
from ps3_eval.runner.pipeline import Pipeline, Progress
from ps3_eval.runner.shards import (
    in_shard,
    merge,
    parse_shard,
    ready_to_merge,
    shard_dir,
    shard_from_env,
    shard_size,
)
from ps3_eval.runner.store import RunStore, latest_results
from ps3_eval.runner.summary import summarize
from ps3_eval.tasks import Task, load_task
from ps3_eval.version import __version__, code_revision

__all__ = ["Progress", "evaluate", "evaluate_async", "run_dir_for"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "x"


def run_dir_for(output_dir: Path, spec: RunSpec) -> Path:
    """``<output_dir>/<task>__<model>__<identity>``: the same spec always maps to one folder."""
    return output_dir / f"{_slug(spec.task)}__{_slug(spec.model)}__{spec.identity()}"


def _default_workers() -> int:
    return max(2, min(8, os.cpu_count() or 2))


def _resolve_model(model: str | Backend, model_args: dict[str, Any] | None) -> Backend:
    if isinstance(model, Backend):
        if model_args:
            raise UsageError("pass model_args only with a model name, not a model instance.")
        return model
    name, args = parse_model_spec(model)
    return build_model(name, {**args, **(model_args or {})})


@dataclass
class _Plan:
    """Everything a session needs, prepared off the event loop."""

    task: Task
    model: Backend
    store: RunStore
    spec: RunSpec
    session: int
    n_total: int
    done: dict[str, SampleResult]
    rescore: dict[str, SampleResult]
    judge: Backend | None = None


def _task_for_spec(spec: RunSpec) -> Task:
    from ps3_eval.tasks.card import read_card

    if spec.card_path and Path(spec.card_path).is_file():
        task = Task(
            read_card(Path(spec.card_path)), data=spec.data, args=spec.task_args, prompt=spec.prompt
        )
    else:
        task = load_task(spec.task, data=spec.data, args=spec.task_args, prompt=spec.prompt)
    if task.card_digest != spec.card_digest:
        raise UsageError(
            f"the card of task '{spec.task}' changed since this run started; start a new run "
            f"(drop --resume) instead of mixing results."
        )
    if spec.data_fingerprint and task.data_fingerprint != spec.data_fingerprint:
        raise UsageError(
            f"the data of task '{spec.task}' changed since this run started; start a new run "
            f"(drop --resume) instead of mixing results."
        )
    return task


def _check_backend(spec: RunSpec, backend: Backend, run_dir: Path) -> None:
    live = backend.fingerprint()
    if live != spec.model_fingerprint:
        raise UsageError(
            f"model '{spec.model}' changed since {run_dir} started (its fingerprint is now {live}, "
            f"the run has {spec.model_fingerprint}: a new backend version or arguments); start a "
            f"new run (drop --resume) instead of mixing answers of different code."
        )


def _plan(
    task: str | Task,
    model: str | Backend,
    *,
    model_args: dict[str, Any] | None,
    data: str | None,
    task_args: dict[str, Any] | None,
    limit: int | None,
    seed: int,
    output_dir: str | Path,
    resume: str | Path | None,
    max_tokens: int | None,
    prompt: str | None,
    judge: str | Backend | None,
    shard: tuple[int, int] | None = None,
    image_side: int | None = None,
    no_image: bool = False,
) -> _Plan:
    """Load the task and backend, find or create the run directory, and open a new session."""
    if resume is not None:
        store = RunStore(Path(resume))
        if not store.exists():
            raise UsageError(f"{resume} is not a run directory (no spec.json there).")
        spec = store.read_spec()
        task_obj = _task_for_spec(spec)
        backend = build_model(spec.model, spec.model_args)
        _check_backend(spec, backend, store.dir)
        judge_backend = build_model(spec.judge_model, spec.judge_args) if spec.judge_model else None
        if judge_backend is not None and judge_backend.fingerprint() != spec.judge:
            raise UsageError(
                f"the judge '{spec.judge_model}' changed since {store.dir} started; start a new "
                f"run (drop --resume) instead of mixing its extractions."
            )
    else:
        task_obj = task if isinstance(task, Task) else load_task(task, data=data, args=task_args)
        backend = _resolve_model(model, model_args)
        judge_backend = _resolve_model(judge, None) if judge is not None else None
        if prompt is not None:
            task_obj.prompt_override = prompt
        elif task_obj.prompt_override is None:
            task_obj.prompt_override = backend.prompt_for(task_obj.name, task_obj.prompt_template)
        task_obj.check_prompt()  # a field no sample can fill stops the run before any call
        generation = task_obj.generation.model_copy()
        generation.seed = seed
        if max_tokens is not None:
            generation.max_tokens = max_tokens
        spec = RunSpec(
            task=task_obj.name,
            task_version=task_obj.card.version,
            card_digest=task_obj.card_digest,
            card_path=str(task_obj.card_path) if task_obj.card_path else None,
            data=data,
            data_fingerprint=task_obj.data_fingerprint,
            data_files=task_obj.data_files,
            task_args=task_obj.args,
            model=backend.name,
            model_args=backend.args_dict(),
            model_fingerprint=backend.fingerprint(),
            operational=sorted(backend.operational_args),
            limit=limit,
            seed=seed,
            generation=generation,
            aggregation=task_obj.card.aggregation,
            prompt=task_obj.prompt_override,
            judge=judge_backend.fingerprint() if judge_backend else None,
            judge_model=judge_backend.name if judge_backend else None,
            judge_args=judge_backend.args_dict() if judge_backend else {},
            image_side=image_side,
            no_image=True if no_image else None,
            package_version=__version__,
            code_revision=code_revision(),
        )
        # The identity covers the live backend's fingerprint, so a changed backend never lands
        # in an old directory; an existing one keeps its spec and gains a session.
        store = RunStore(run_dir_for(Path(output_dir), spec))
        if shard is not None:
            spec.shard = f"{shard[0]}/{shard[1]}"
            store = RunStore(shard_dir(store.dir, shard))
        if store.exists():
            spec = store.read_spec()
    spec.sessions.append(
        Session(
            package_version=__version__,
            code_revision=code_revision(),
            model_fingerprint=backend.fingerprint(),
        )
    )
    store.write_spec(spec)
    done, errors = store.prepare()
    # Answers that only the scorer failed on are scored again, not asked again.
    rescore = {
        e.sample_id: e
        for e in errors
        if e.error_kind == "scorer" and e.output.error is None and e.sample_id not in done
    }
    n_total = shard_size(
        min(len(task_obj), spec.limit) if spec.limit else len(task_obj),
        parse_shard(spec.shard) if spec.shard else None,
    )
    return _Plan(
        task_obj,
        backend,
        store,
        spec,
        len(spec.sessions) - 1,
        n_total,
        done,
        rescore,
        judge_backend,
    )


def _finish(plan: _Plan, pipeline: Pipeline, wall: float) -> RunSummary:
    """Close the session: record what it did and write the summary."""
    store, spec = plan.store, plan.spec
    store.close()
    if pipeline.n_new:
        session = spec.sessions[plan.session]
        session.finished_at = utcnow()
        session.n_recorded = pipeline.n_new
    else:  # only invocations that added results are history worth keeping
        del spec.sessions[plan.session]
    store.write_spec(spec)
    summary = summarize(
        store.dir.name,
        spec,
        latest_results(store.samples_path),
        n_total=plan.n_total,
        wall_time_s=wall,
        n_new=pipeline.n_new,
        n_new_scored=pipeline.n_new_scored,
    )
    previous = store.read_summary()
    if pipeline.n_new == 0 and previous is not None:
        # Nothing ran: keep the timing of the session that did the work.
        summary.wall_time_s = previous.wall_time_s
        summary.throughput = previous.throughput
        summary.answered_throughput = previous.answered_throughput
    store.write_summary(summary)
    return summary


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
    if image_side is not None and image_side < 16:
        raise UsageError(f"image_side must be at least 16 pixels, got {image_side}.")
    if image_side is not None and no_image:
        raise UsageError("give image_side or no_image, not both: without images there is no side.")
    part = parse_shard(shard) if isinstance(shard, str) else shard or shard_from_env()
    if part is not None and resume is not None:
        raise UsageError("--resume finishes a run folder as recorded; drop --shard (a shard's "
                         "folder under shards/ resumes as that shard).")  # fmt: skip
    plan = await asyncio.to_thread(
        _plan,
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
    part = parse_shard(plan.spec.shard) if plan.spec.shard else None
    workers = decode_workers or _default_workers()
    progress = Progress(total=plan.n_total)
    for r in plan.done.values():
        progress.add(r)
    progress.resumed, progress.last = len(plan.done), None
    done_ids = set(plan.done)
    plan.done = {}
    response_cache = ResponseCache(Path(cache)) if cache else None
    judge_obj = None
    if plan.judge is not None:
        # Judge calls are always cached: in the run's cache file, or the default cache folder.
        from ps3_eval.tasks.probe4k import default_cache_dir

        judge_obj = Judge(
            plan.judge, Path(cache) if cache else default_cache_dir() / "judge.sqlite"
        )
    pipeline = Pipeline(
        plan.task,
        plan.model,
        plan.store,
        plan.spec,
        session=plan.session,
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
            summary = _finish(plan, pipeline, time.perf_counter() - start)
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
