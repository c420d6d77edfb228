"""One session of a run: the spec it runs under, its folder opened and locked, and its close.

A session prepares the task and backend and the spec a run of them has (``run_spec``, whose
identity names the run's folder), opens that folder (locks it, records the session, compacts the
records; a finished run is left untouched) and, at the end, records what it did and writes the
summary.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ps3_eval.errors import UsageError
from ps3_eval.models import Backend, build_model, parse_model_spec
from ps3_eval.records import RunSpec, RunSummary, SampleResult, Session, utcnow
from ps3_eval.runner.lock import RunLock, RunLocked
from ps3_eval.runner.pipeline import Pipeline
from ps3_eval.runner.shards import parse_shard, shard_dir, shard_size
from ps3_eval.runner.store import RunStore, latest_results, read_results
from ps3_eval.runner.summary import summarize
from ps3_eval.tasks import Task, load_task
from ps3_eval.version import __version__, code_revision

log = logging.getLogger(__name__)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "x"


def run_dir_for(output_dir: Path, spec: RunSpec) -> Path:
    """``<output_dir>/<task>__<model>__<identity>``: the same spec always maps to one folder."""
    return output_dir / f"{_slug(spec.task)}__{_slug(spec.model)}__{spec.identity()}"


def _resolve_model(model: str | Backend, model_args: dict[str, Any] | None) -> Backend:
    if isinstance(model, Backend):
        if model_args:
            raise UsageError("pass model_args only with a model name, not a model instance.")
        return model
    name, args = parse_model_spec(model)
    return build_model(name, {**args, **(model_args or {})})


@dataclass
class Plan:
    """Everything a session needs, prepared off the event loop."""

    task: Task
    model: Backend
    store: RunStore
    spec: RunSpec
    session: int | None
    """This session's index in ``spec.sessions``; ``None`` when there is nothing to do (every
    sample scored): then nothing is locked or written but the summary, where it can be."""
    n_total: int
    done: dict[str, SampleResult]
    rescore: dict[str, SampleResult]
    judge: Backend | None = None
    lock: RunLock | None = None

    def release(self) -> None:
        """Let another process run the run folder."""
        if self.lock is not None:
            self.lock.release()


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


def run_spec(
    task: Task,
    backend: Backend,
    *,
    data: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    max_tokens: int | None = None,
    prompt: str | None = None,
    judge: Backend | None = None,
    with_data: bool = True,
    image_side: int | None = None,
    no_image: bool = False,
) -> RunSpec:
    """The spec of a new run of ``task`` with ``backend``: what decides its identity and folder.

    Sets the task's prompt override (``prompt``, else the model's own prompt for the task).
    ``with_data=False`` leaves the data's fingerprint out (it loads the data): such a spec names
    its run only once a recorded spec lends it the fingerprint.
    """
    if prompt is not None:
        task.prompt_override = prompt
    elif task.prompt_override is None:
        task.prompt_override = backend.prompt_for(task.name, task.prompt_template)
    generation = task.generation.model_copy()
    generation.seed = seed
    if max_tokens is not None:
        generation.max_tokens = max_tokens
    return RunSpec(
        task=task.name,
        task_version=task.card.version,
        card_digest=task.card_digest,
        card_path=str(task.card_path) if task.card_path else None,
        data=data,
        data_fingerprint=task.data_fingerprint if with_data else None,
        data_files=task.data_files if with_data else [],
        task_args=task.args,
        model=backend.name,
        model_args=backend.args_dict(),
        model_fingerprint=backend.fingerprint(),
        operational=sorted(backend.operational_args),
        limit=limit,
        seed=seed,
        generation=generation,
        aggregation=task.card.aggregation,
        primary_metric=task.primary_metric,
        prompt=task.prompt_override,
        judge=judge.fingerprint() if judge else None,
        judge_model=judge.name if judge else None,
        judge_args=judge.args_dict() if judge else {},
        image_side=image_side,
        no_image=True if no_image else None,
        package_version=__version__,
        code_revision=code_revision(),
    )


@dataclass
class Prepared:
    """The task, backend and spec of a session, before its run folder is opened."""

    task: Task
    model: Backend
    store: RunStore
    spec: RunSpec
    judge: Backend | None


def prepare(
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
) -> Prepared:
    """Load the task and backend and find the run folder; nothing is written yet."""
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
        return Prepared(task_obj, backend, store, spec, judge_backend)
    task_obj = task if isinstance(task, Task) else load_task(task, data=data, args=task_args)
    backend = _resolve_model(model, model_args)
    judge_backend = _resolve_model(judge, None) if judge is not None else None
    spec = run_spec(
        task_obj,
        backend,
        data=data,
        limit=limit,
        seed=seed,
        max_tokens=max_tokens,
        prompt=prompt,
        judge=judge_backend,
        image_side=image_side,
        no_image=no_image,
    )
    task_obj.check_prompt()  # a field no sample can fill stops the run before any call
    # The identity covers the live backend's fingerprint, so a changed backend never lands
    # in an old directory; an existing one keeps its spec and gains a session.
    store = RunStore(run_dir_for(Path(output_dir), spec))
    if shard is not None:
        spec.shard = f"{shard[0]}/{shard[1]}"
        store = RunStore(shard_dir(store.dir, shard))
    return Prepared(task_obj, backend, store, spec, judge_backend)


def _n_total(task: Task, spec: RunSpec) -> int:
    return shard_size(
        min(len(task), spec.limit) if spec.limit else len(task),
        parse_shard(spec.shard) if spec.shard else None,
    )


def _unwritable(run_dir: Path, exc: OSError) -> UsageError:
    return UsageError(
        f"cannot write to the run folder {run_dir} ({exc.strerror or exc}); choose a writable "
        f"--output-dir (or copy the run somewhere writable and resume it there)."
    )


def open_folder(prep: Prepared) -> Plan:
    """Open the run folder for a session: lock it, record the session, compact its records.

    A run with nothing left to do (every sample scored) is neither locked nor written to, so a
    finished run in a read-only archive still reports.

    Raises:
        RunLocked: another process is running it.
        UsageError: the folder cannot be created or written.
    """
    store, spec = prep.store, prep.spec
    if store.exists():
        recorded = store.read_spec()
        good, errors, damaged = read_results(store.samples_path)
        n_total = _n_total(prep.task, recorded)
        if not errors and not damaged and len(good) >= n_total:
            return Plan(prep.task, prep.model, store, recorded, None, n_total, good, {}, prep.judge)
    try:
        store.dir.mkdir(parents=True, exist_ok=True)
        lock = RunLock(store.dir)
        lock.acquire()
    except OSError as exc:
        raise _unwritable(store.dir, exc) from None
    try:
        if store.exists():  # read again under the lock: another process may have added to it
            spec = store.read_spec()
        spec.sessions.append(
            Session(
                package_version=__version__,
                code_revision=code_revision(),
                model_fingerprint=prep.model.fingerprint(),
            )
        )
        store.write_spec(spec)
        done, errors = store.prepare()
    except OSError as exc:
        lock.release()
        raise _unwritable(store.dir, exc) from None
    except BaseException:
        lock.release()
        raise
    # Answers that only the scorer failed on are scored again, not asked again.
    rescore = {
        e.sample_id: e
        for e in errors
        if e.error_kind == "scorer" and e.output.error is None and e.sample_id not in done
    }
    return Plan(
        prep.task,
        prep.model,
        store,
        spec,
        len(spec.sessions) - 1,
        _n_total(prep.task, spec),
        done,
        rescore,
        prep.judge,
        lock,
    )


def finish(plan: Plan, pipeline: Pipeline, wall: float) -> RunSummary:
    """Close the session: record what it did and write the summary."""
    store, spec = plan.store, plan.spec
    store.close()
    if plan.session is not None:
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
    try:
        store.write_summary(summary)
    except OSError as exc:
        if plan.session is not None:
            raise
        # A finished run in a read-only folder: its records are whole; report from memory.
        log.info("summary of %s not rewritten (%s)", store.dir, exc.strerror)
    return summary


WAIT_POLL_S = 0.5
"""How often a run started with ``wait=True`` tries the lock of a folder another process holds."""


async def open_waiting(prep: Prepared, wait: bool) -> Plan:
    """Open the run folder; with ``wait``, until the process holding it lets it go."""
    told = False
    while True:
        try:
            return await asyncio.to_thread(open_folder, prep)
        except RunLocked as exc:
            if not wait:
                raise
            if not told:
                who = exc.holder.describe() if exc.holder else "another process"
                log.warning("waiting for %s to finish %s", who, exc.run_dir)
                told = True
        await asyncio.sleep(WAIT_POLL_S)
