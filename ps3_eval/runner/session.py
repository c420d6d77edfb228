"""One session of a run: the spec it runs under, its folder opened and locked, and its close.

A session prepares the task and backend and the spec a run of them has: a new run from its
options (:func:`prepare_new`, whose spec's identity names the run's folder), or a recorded run as
its spec says (:func:`prepare_resumed`). It then opens that folder (locks it, records the
session, compacts the records; a finished run is left untouched) and, at the end, records what
it did and writes the summary.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from ps3_eval.errors import UsageError
from ps3_eval.models import Backend, as_backend, build_model, describe_model, parse_model_spec
from ps3_eval.records import RunSpec, RunSummary, SampleResult, Session, utcnow
from ps3_eval.rundir import DamagedRunFile, RunDir, RunLock, RunLocked, run_dir_for
from ps3_eval.runner.options import ResultOptions, RunOptions
from ps3_eval.runner.pipeline import Pipeline
from ps3_eval.runner.shards import parse_shard, shard_size
from ps3_eval.runner.summary import summarize
from ps3_eval.tasks import Task, load_task
from ps3_eval.version import __version__, code_revision

log = logging.getLogger(__name__)


def _backend(model: object, model_args: dict[str, object] | None = None) -> Backend:
    """A backend from a name (``NAME:key=value,...``) and arguments, or from a model object."""
    if isinstance(model, str):
        name, args = parse_model_spec(model)
        return build_model(name, {**args, **(model_args or {})})
    try:
        return as_backend(model)
    except TypeError as exc:
        raise UsageError(f"{exc}.") from None


def _described(model: object) -> Backend | None:
    """A backend that says what ``model`` is (its name, arguments, fingerprint), unbuilt."""
    if model is None:
        return None
    if isinstance(model, str):
        name, args = parse_model_spec(model)
        return describe_model(name, args)
    return _backend(model)


@dataclass
class Prepared:
    """The task, backend and spec of a session, before its run folder is opened."""

    task: Task
    model: Backend
    folder: RunDir
    spec: RunSpec
    judge: Backend | None


@dataclass
class Plan:
    """Everything a session needs, prepared off the event loop."""

    task: Task
    model: Backend
    folder: RunDir
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


def run_spec(
    task: Task, backend: Backend, options: ResultOptions, *, with_data: bool = True
) -> RunSpec:
    """The spec of a new run of ``task`` with ``backend``: what decides its identity and folder.

    Changes nothing: the prompt is the options' ``prompt``, else the task's override, else the
    model's own prompt for the task. ``with_data=False`` leaves the data's fingerprint out (it
    loads the data): such a spec names its run only once a recorded spec lends it the
    fingerprint. A judge given by name is described, not built (no key or SDK needed).
    """
    prompt = options.prompt
    if prompt is None:
        prompt = task.prompt_override
    if prompt is None:
        prompt = backend.prompt_for(task.name, task.prompt_template)
    generation = task.generation.model_copy()
    generation.seed = options.seed
    if options.max_tokens is not None:
        generation.max_tokens = options.max_tokens
    judge = _described(options.judge)
    return RunSpec(
        task=task.name,
        task_version=task.card.version,
        card_digest=task.card_digest,
        card_path=str(task.card_path) if task.card_path else None,
        data=options.data,
        data_fingerprint=task.data_fingerprint if with_data else None,
        data_files=task.data_files if with_data else [],
        task_args=task.args,
        model=backend.name,
        model_args=backend.args_dict(),
        model_fingerprint=backend.fingerprint(),
        operational=sorted(backend.operational_args),
        limit=options.limit,
        seed=options.seed,
        generation=generation,
        aggregation=task.card.aggregation,
        primary_metric=task.primary_metric,
        prompt=prompt,
        judge=judge.fingerprint() if judge else None,
        judge_model=judge.name if judge else None,
        judge_args=judge.args_dict() if judge else {},
        image_side=options.image_side,
        no_image=True if options.no_image else None,
        package_version=__version__,
        code_revision=code_revision(),
    )


def prepare_new(options: RunOptions, shard: tuple[int, int] | None = None) -> Prepared:
    """Load the task and backend of a new (or same-spec) run and find its folder; writes nothing.

    The identity covers the live backend's fingerprint, so a changed backend never lands in an
    old folder; an existing folder keeps its spec and gains a session.
    """
    task = options.task
    task_obj = (
        task
        if isinstance(task, Task)
        else load_task(task, data=options.data, args=options.task_args or None)
    )
    backend = _backend(options.model, options.model_args)
    judge = _backend(options.judge) if options.judge is not None else None
    spec = run_spec(task_obj, backend, options.model_copy(update={"judge": judge}))
    task_obj.prompt_override = spec.prompt  # the task asks with the prompt the spec records
    task_obj.check_prompt()  # a field no sample can fill stops the run before any call
    folder = RunDir(run_dir_for(Path(options.output_dir), spec))
    if shard is not None:
        spec.shard = f"{shard[0]}/{shard[1]}"
        folder = folder.shard(shard)
    return Prepared(task_obj, backend, folder, spec, judge)


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


def prepare_resumed(run_dir: str | Path) -> Prepared:
    """Load the task, backend and judge a recorded run names, checking none changed since.

    Raises:
        UsageError: ``run_dir`` holds no run, or its card, data, backend or judge changed.
    """
    folder = RunDir(run_dir)
    if not folder.exists():
        raise UsageError(f"{run_dir} is not a run directory (no spec.json there).")
    spec = folder.read_spec()
    task = _task_for_spec(spec)
    backend = build_model(spec.model, spec.model_args)
    live = backend.fingerprint()
    if live != spec.model_fingerprint:
        raise UsageError(
            f"model '{spec.model}' changed since {folder.dir} started (its fingerprint is now "
            f"{live}, the run has {spec.model_fingerprint}: a new backend version or arguments); "
            f"start a new run (drop --resume) instead of mixing answers of different code."
        )
    judge = build_model(spec.judge_model, spec.judge_args) if spec.judge_model else None
    if judge is not None and judge.fingerprint() != spec.judge:
        raise UsageError(
            f"the judge '{spec.judge_model}' changed since {folder.dir} started; start a new "
            f"run (drop --resume) instead of mixing its extractions."
        )
    return Prepared(task, backend, folder, spec, judge)


def prepare(options: RunOptions, shard: tuple[int, int] | None = None) -> Prepared:
    """:func:`prepare_resumed` when the options name a run to resume, else :func:`prepare_new`."""
    if options.resume is not None:
        return prepare_resumed(options.resume)
    return prepare_new(options, shard)


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
    folder, spec = prep.folder, prep.spec
    if folder.exists():
        recorded = folder.read_spec()
        good, errors, damaged = folder.read_results()
        n_total = _n_total(prep.task, recorded)
        if not errors and not damaged and len(good) >= n_total:
            return Plan(
                prep.task, prep.model, folder, recorded, None, n_total, good, {}, prep.judge
            )
    try:
        folder.dir.mkdir(parents=True, exist_ok=True)
        lock = RunLock(folder.dir)
        lock.acquire()
    except OSError as exc:
        raise _unwritable(folder.dir, exc) from None
    try:
        if folder.exists():  # read again under the lock: another process may have added to it
            spec = folder.read_spec()
        spec.sessions.append(
            Session(
                package_version=__version__,
                code_revision=code_revision(),
                model_fingerprint=prep.model.fingerprint(),
            )
        )
        folder.write_spec(spec)
        done, errors = folder.compact()
    except OSError as exc:
        lock.release()
        raise _unwritable(folder.dir, exc) from None
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
        folder,
        spec,
        len(spec.sessions) - 1,
        _n_total(prep.task, spec),
        done,
        rescore,
        prep.judge,
        lock,
    )


def _previous_summary(folder: RunDir) -> RunSummary | None:
    """The summary a session replaces; a damaged one is replaced all the same."""
    try:
        return folder.read_summary()
    except DamagedRunFile as exc:
        log.warning("%s; writing it again", exc)
        return None


def finish(plan: Plan, pipeline: Pipeline, wall: float) -> RunSummary:
    """Close the session: record what it did and write the summary."""
    folder, spec = plan.folder, plan.spec
    folder.close()
    if plan.session is not None:
        if pipeline.n_new:
            session = spec.sessions[plan.session]
            session.finished_at = utcnow()
            session.n_recorded = pipeline.n_new
        else:  # only invocations that added results are history worth keeping
            del spec.sessions[plan.session]
        folder.write_spec(spec)
    summary = summarize(
        folder.name,
        spec,
        folder.results(),
        n_total=plan.n_total,
        wall_time_s=wall,
        n_new=pipeline.n_new,
        n_new_scored=pipeline.n_new_scored,
    )
    previous = _previous_summary(folder)
    if pipeline.n_new == 0 and previous is not None:
        # Nothing ran: keep the timing of the session that did the work.
        summary.wall_time_s = previous.wall_time_s
        summary.throughput = previous.throughput
        summary.answered_throughput = previous.answered_throughput
    try:
        folder.write_summary(summary)
    except OSError as exc:
        if plan.session is not None:
            raise
        # A finished run in a read-only folder: its records are whole; report from memory.
        log.info("summary of %s not rewritten (%s)", folder.dir, exc.strerror)
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
