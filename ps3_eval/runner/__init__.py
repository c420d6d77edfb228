"""The runner: stream samples, decode images off the loop, call the model, score, append."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ps3_eval.errors import UsageError
from ps3_eval.models import Backend, build_model, parse_model_spec
from ps3_eval.records import (
    ImagePart,
    ModelOutput,
    RunSpec,
    RunSummary,
    Sample,
    SampleResult,
    utcnow,
)
from ps3_eval.runner.cache import ResponseCache
from ps3_eval.runner.images import decode
from ps3_eval.runner.store import RunStore, latest_results
from ps3_eval.runner.summary import summarize
from ps3_eval.tasks import BrokenSample, Task, load_task
from ps3_eval.version import __version__, code_revision

log = logging.getLogger(__name__)

__all__ = ["Progress", "evaluate", "run_dir_for"]


@dataclass
class Progress:
    """Live counters handed to the ``on_progress`` callback after every recorded sample."""

    total: int
    """Samples the run covers (finished earlier ones included)."""
    done: int = 0
    """Samples recorded so far (scored or failed), earlier sessions included."""
    errors: int = 0
    """Failed samples in this session."""
    metric: str | None = None
    """Name of the running metric (the first one the scorer reports)."""
    metric_sum: float = 0.0
    metric_n: int = 0
    resumed: int = 0
    """Samples already finished when this session started."""
    last: SampleResult | None = field(default=None, repr=False)

    @property
    def running(self) -> float | None:
        """Mean of the running metric over scored samples (earlier sessions included)."""
        return self.metric_sum / self.metric_n if self.metric_n else None

    def add(self, result: SampleResult) -> None:
        """Count one result."""
        self.done += 1
        self.last = result
        if result.error is not None:
            self.errors += 1
            return
        if self.metric is None and result.scores:
            self.metric = next(iter(result.scores))
        if self.metric in result.scores:
            self.metric_sum += result.scores[self.metric]
            self.metric_n += 1


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "x"


def run_dir_for(output_dir: Path, spec: RunSpec) -> Path:
    """``<output_dir>/<task>__<model>__<identity>``: the same spec always maps to one folder."""
    return output_dir / f"{_slug(spec.task)}__{_slug(spec.model)}__{spec.identity()}"


def _decode_all(sample: Sample) -> list[ImagePart]:
    parts = []
    for src in sample.images:
        img, digest = decode(src)
        parts.append(
            ImagePart(image=img, width=img.width, height=img.height, digest=digest, source=src.path)
        )
    return parts


class _Pipeline:
    """One session of a run: producer -> bounded queue -> N workers -> store."""

    def __init__(
        self,
        task: Task,
        model: Backend,
        store: RunStore,
        spec: RunSpec,
        *,
        concurrency: int,
        prefetch: int,
        decode_workers: int,
        timeout: float | None,
        cache: ResponseCache | None,
        progress: Progress,
        on_progress: Callable[[Progress], None] | None,
    ) -> None:
        self.task, self.model, self.store, self.spec = task, model, store, spec
        cap = model.max_concurrency or concurrency
        self.concurrency = max(1, min(concurrency, cap))
        self.prefetch = max(1, prefetch)
        self.decode_workers = decode_workers
        self.timeout = timeout
        self.cache = cache
        self.progress = progress
        self.on_progress = on_progress
        self.fingerprint = spec.model_fingerprint
        self.oracle = model.kind == "test-double"
        self.n_new = 0

    def _record(self, result: SampleResult) -> None:
        # Results are not kept in memory: the summary re-reads samples.jsonl once at the end, so
        # memory and per-sample cost stay flat however large the run.
        self.store.append(result)
        self.n_new += 1
        self.progress.add(result)
        if self.on_progress is not None:
            self.on_progress(self.progress)

    async def _call(self, sample: Sample, images: list[ImagePart]) -> ModelOutput:
        request = self.task.build_request(sample, images, self.spec.generation)
        if self.oracle:
            request.oracle = sample.targets
        if self.cache is not None:
            hit = self.cache.get(self.fingerprint, request)
            if hit is not None:
                return hit
        start = time.perf_counter()
        coro = self.model.generate(request)
        output = await (asyncio.wait_for(coro, self.timeout) if self.timeout else coro)
        if not output.timing.latency:
            output.timing.latency = time.perf_counter() - start
        if not output.image_sizes:
            output.image_sizes = [(p.width, p.height) for p in images]
        sel = output.selection
        if sel is not None and sel.recall is None and sample.bbox is not None:
            sel.recall = sel.recall_of(sample.bbox)
        if self.cache is not None and output.error is None:
            self.cache.put(self.fingerprint, request, output)
        return output

    def _result(
        self,
        sample: Sample | BrokenSample,
        started: datetime,
        *,
        output: ModelOutput | None = None,
        error: str | None = None,
    ) -> SampleResult:
        out = output or ModelOutput(error=error)
        if isinstance(sample, BrokenSample):
            return SampleResult(
                sample_id=sample.id,
                output=out,
                error=error,
                started_at=started,
                finished_at=utcnow(),
            )
        base: dict[str, Any] = dict(
            sample_id=sample.id,
            category=sample.category,
            mrr=sample.mrr,
            targets=sample.targets,
            output=out,
            started_at=started,
        )
        if error is not None or out.error is not None:
            return SampleResult(**base, error=error or out.error, finished_at=utcnow())
        score = self.task.score(out.text, sample)
        return SampleResult(
            **base,
            prediction=out.text,
            extracted=score.extracted,
            scores=score.values,
            finished_at=utcnow(),
        )

    async def _work(self, queue: asyncio.Queue[Any]) -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            sample, images_future = item
            started = utcnow()
            if isinstance(sample, BrokenSample):
                self._record(self._result(sample, started, error=sample.error))
                continue
            try:
                images = await images_future
            except Exception as exc:  # decoding failed: that sample's error, the run goes on
                self._record(self._result(sample, started, error=f"image: {exc}"))
                continue
            try:
                output = await self._call(sample, images)
            except asyncio.TimeoutError:
                self._record(
                    self._result(
                        sample, started, error=f"model call timed out after {self.timeout:g}s"
                    )
                )
                continue
            except Exception as exc:  # the model boundary: any failure is this sample's record
                message = f"{type(exc).__name__}: {exc}".strip()
                self._record(self._result(sample, started, error=message))
                continue
            finally:
                del images  # free decoded pixels before scoring and writing
            self._record(self._result(sample, started, output=output))

    async def _samples(
        self, todo: Iterator[Sample | BrokenSample]
    ) -> AsyncIterator[Sample | BrokenSample]:
        loop = asyncio.get_running_loop()
        # Reading rows (Arrow -> Python) can be slow for big rows, so it runs off the loop; in
        # chunks, because one thread hop per row starves a wave of fast workers.
        chunk = max(8, self.concurrency)
        while True:
            batch = await loop.run_in_executor(None, lambda: list(itertools.islice(todo, chunk)))
            if not batch:
                return
            for item in batch:
                yield item

    async def run(self, todo: Iterator[Sample | BrokenSample]) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=self.prefetch)
        workers = [asyncio.create_task(self._work(queue)) for _ in range(self.concurrency)]
        pool = ThreadPoolExecutor(self.decode_workers, thread_name_prefix="ps3-eval-decode")
        try:
            async for sample in self._samples(todo):
                if isinstance(sample, Sample) and sample.images:
                    fut: asyncio.Future[Any] = loop.run_in_executor(pool, _decode_all, sample)
                else:
                    fut = loop.create_future()
                    fut.set_result([])
                await queue.put((sample, fut))
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            pool.shutdown(wait=False, cancel_futures=True)


def _default_workers() -> int:
    return max(2, min(8, os.cpu_count() or 2))


def _resolve_model(model: str | Backend, model_args: dict[str, Any] | None) -> Backend:
    if isinstance(model, Backend):
        if model_args:
            raise UsageError("pass model_args only with a model name, not a model instance.")
        return model
    name, args = parse_model_spec(model)
    return build_model(name, {**args, **(model_args or {})})


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
    on_progress: Callable[[Progress], None] | None = None,
    on_start: Callable[[Progress, Path], None] | None = None,
) -> RunSummary:
    """Run a task with a model; the Python twin of ``ps3-eval run``.

    Args:
        task: registered task name, card path, or a loaded ``Task``.
        model: registered backend name (``NAME:key=value,...`` allowed) or a backend instance.
        model_args: backend arguments (validated against the backend's ``Args``).
        data: local copy of the task's data (parquet / jsonl / csv / save_to_disk).
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
        on_progress: called after every recorded sample with live counters.
        on_start: called once before samples run, with the counters and the run directory.

    Returns:
        The run's summary (also written to ``summary.json``).
    """
    if limit is not None and limit <= 0:
        raise UsageError(f"limit must be a positive number of samples, got {limit}.")
    if concurrency <= 0:
        raise UsageError(f"concurrency must be at least 1, got {concurrency}.")
    if resume is not None:
        store = RunStore(Path(resume))
        if not store.exists():
            raise UsageError(f"{resume} is not a run directory (no spec.json there).")
        spec = store.read_spec()
        task_obj = _task_for_spec(spec)
        backend = build_model(spec.model, spec.model_args)
    else:
        task_obj = task if isinstance(task, Task) else load_task(task, data=data, args=task_args)
        backend = _resolve_model(model, model_args)
        generation = task_obj.card.generation.model_copy()
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
            task_args=task_obj.args,
            model=backend.name,
            model_args=backend.args_dict(),
            model_fingerprint=backend.fingerprint(),
            limit=limit,
            seed=seed,
            generation=generation,
            package_version=__version__,
            code_revision=code_revision(),
        )
        store = RunStore(run_dir_for(Path(output_dir), spec))
        if store.exists():
            spec = store.read_spec().model_copy(
                update={"package_version": __version__, "code_revision": code_revision()}
            )
        store.write_spec(spec)
    return _execute(
        task_obj,
        backend,
        store,
        spec,
        concurrency=concurrency,
        prefetch=prefetch,
        decode_workers=decode_workers,
        timeout=timeout,
        cache=cache,
        on_progress=on_progress,
        on_start=on_start,
    )


def _task_for_spec(spec: RunSpec) -> Task:
    from ps3_eval.tasks.card import read_card

    if spec.card_path and Path(spec.card_path).is_file():
        task = Task(read_card(Path(spec.card_path)), data=spec.data, args=spec.task_args)
    else:
        task = load_task(spec.task, data=spec.data, args=spec.task_args)
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


def _execute(
    task: Task,
    model: Backend,
    store: RunStore,
    spec: RunSpec,
    *,
    concurrency: int,
    prefetch: int | None,
    decode_workers: int | None,
    timeout: float | None,
    cache: str | Path | None,
    on_progress: Callable[[Progress], None] | None,
    on_start: Callable[[Progress, Path], None] | None,
) -> RunSummary:
    done = store.prepare()
    n_total = min(len(task), spec.limit) if spec.limit else len(task)
    workers = decode_workers or _default_workers()
    progress = Progress(total=n_total)
    for r in done.values():
        progress.add(r)
    progress.resumed, progress.last = len(done), None
    done_ids = set(done)
    del done
    response_cache = ResponseCache(Path(cache)) if cache else None
    pipeline = _Pipeline(
        task,
        model,
        store,
        spec,
        concurrency=concurrency,
        prefetch=prefetch or 2 * workers,
        decode_workers=workers,
        timeout=timeout,
        cache=response_cache,
        progress=progress,
        on_progress=on_progress,
    )
    todo = (s for s in task.samples(spec.limit) if s.id not in done_ids)
    if on_start is not None:
        on_start(progress, store.dir)
    start = time.perf_counter()
    try:
        asyncio.run(_run_and_close(pipeline, todo, model))
    finally:
        wall = time.perf_counter() - start
        store.close()
        if response_cache is not None:
            response_cache.close()
        summary = summarize(
            store.dir.name,
            spec,
            latest_results(store.samples_path),
            n_total=n_total,
            wall_time_s=wall,
            n_new=pipeline.n_new,
        )
        previous = store.read_summary()
        if pipeline.n_new == 0 and previous is not None:
            # Nothing ran: keep the timing of the session that did the work.
            summary.wall_time_s, summary.throughput = previous.wall_time_s, previous.throughput
        store.write_summary(summary)
    return summary


async def _run_and_close(
    pipeline: _Pipeline, todo: Iterator[Sample | BrokenSample], model: Backend
) -> None:
    try:
        await pipeline.run(todo)
    finally:
        await model.aclose()
