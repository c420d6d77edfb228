"""Automatic MRR: a model answers every item at every rung of the ladder; the rule reads the MRR.

Each rung is an ordinary run with ``image_side`` set (and, when asked, one run without the
image), so rungs are resumable, cached with ``--cache``, listed by ``ps3-eval runs`` and shown by
``ps3-eval show``; running the same command again finishes only what is missing or failed, and
then re-reads the runs. The result (:class:`AutoResult`) keeps each item's outcome per rung, so
the MRR can be checked against the runs it came from.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ps3_eval.errors import UsageError
from ps3_eval.mrr.ladder import DEFAULT_LADDER, INCOMPLETE, NO_IMAGE, Ladder, Outcome, mrr_of
from ps3_eval.records import SampleResult, primary_metric, utcnow

if TYPE_CHECKING:
    from ps3_eval.runner import Progress

log = logging.getLogger(__name__)

AUTO_SCHEMA = 1
DEFAULT_THRESHOLD = 0.5
"""A sample counts as right when its primary score is at least this: any score for 0/1 metrics;
VQA accuracy from two agreeing annotators up; ANLS (already 0 below 0.5 similarity) whenever
the reading is close enough to count at all."""


class AutoItem(BaseModel):
    """One item's answers up the ladder and the MRR they give."""

    model_config = ConfigDict(extra="forbid")

    id: str
    outcomes: dict[str, Outcome]
    """Rung label (and ``no_image``, when asked) -> outcome."""
    mrr: str
    """A rung label, ``beyond``, ``no_image`` or ``incomplete`` (see :func:`mrr_of`)."""
    designed: str | None = None
    """The benchmark's own MRR bucket, when it has one."""
    native_side: int | None = None
    """Long side in pixels of the item's largest image as stored."""
    category: str | None = None


class AutoResult(BaseModel):
    """An automatic MRR estimate of a benchmark (or a study's sample of one) by one model."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = AUTO_SCHEMA
    task: str
    """The benchmark (for a study, the benchmark it sampled)."""
    study: str | None = None
    """The study's name, when the items are a study's."""
    model: str
    model_args: dict[str, Any] = Field(default_factory=dict)
    model_fingerprint: str
    ladder: Ladder
    no_image: bool = False
    """Whether the model was also asked without the image."""
    metric: str
    """The score that decides right and wrong (the task's primary metric)."""
    threshold: float
    """Right means ``metric >= threshold``."""
    runs: dict[str, str]
    """Rung label (and ``no_image``) -> run directory."""
    accuracy: dict[str, float | None] = Field(default_factory=dict)
    """Rung label -> the run's mean of ``metric``."""
    items: list[AutoItem]
    created_at: datetime = Field(default_factory=utcnow)

    def labels(self) -> dict[str, str]:
        """Item -> MRR, without the items whose MRR is still open (``incomplete``)."""
        return {it.id: it.mrr for it in self.items if it.mrr != INCOMPLETE}

    def designed(self) -> dict[str, str]:
        """Item -> the benchmark's own MRR on this ladder's scale, for items that have one."""
        scale = set(self.ladder.scale)
        return {it.id: it.designed for it in self.items if it.designed in scale}

    def counts(self) -> dict[str, int]:
        """Items per MRR label, in scale order, ``incomplete`` last."""
        out = dict.fromkeys([*self.ladder.scale, INCOMPLETE], 0)
        for it in self.items:
            out[it.mrr] = out.get(it.mrr, 0) + 1
        return out

    def save(self, path: str | Path) -> Path:
        """Write the result as JSON."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.model_dump_json(indent=1) + "\n", encoding="utf-8")
        return out


def load_auto(path: str | Path) -> AutoResult:
    """Read a saved :class:`AutoResult`.

    Raises:
        UsageError: when the file is missing or is not one.
    """
    file = Path(path)
    try:
        result = AutoResult.model_validate_json(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}.") from None
    except ValidationError as exc:
        raise UsageError(
            f"{file} is not an automatic MRR result ({exc.errors()[0]['msg']})."
        ) from None
    if result.schema_version > AUTO_SCHEMA:
        raise UsageError(f"{file} was written by a newer ps3-eval; upgrade.")
    return result


def outcome_of(result: SampleResult | None, metric: str, threshold: float) -> Outcome:
    """One sample's outcome: right, wrong, no answer, failed call, or no record."""
    from ps3_eval.scoring import UNPARSED

    if result is None:
        return "missing"
    if result.error is not None:
        return "error"
    if result.scores.get(metric, 0.0) >= threshold:
        return "right"
    if UNPARSED in result.notes or not result.prediction.strip():
        return "abstain"
    return "wrong"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "model"


def _named_start(
    hook: Callable[[str, Progress, Path], None], what: str, p: Progress, d: Path
) -> None:
    hook(what, p, d)


def _named_progress(hook: Callable[[str, Progress], None], what: str, p: Progress) -> None:
    hook(what, p)


def auto_mrr(
    target: str | Path,
    model: str,
    *,
    model_args: dict[str, Any] | None = None,
    ladder: Ladder | None = None,
    no_image: bool = False,
    threshold: float = DEFAULT_THRESHOLD,
    data: str | None = None,
    task_args: dict[str, Any] | None = None,
    limit: int | None = None,
    seed: int = 0,
    output_dir: str | Path = "runs",
    cache: str | Path | None = None,
    concurrency: int = 8,
    timeout: float | None = None,
    judge: str | None = None,
    out: str | Path | None = None,
    on_start: Callable[[str, Progress, Path], None] | None = None,
    on_progress: Callable[[str, Progress], None] | None = None,
) -> AutoResult:
    """Estimate every item's MRR with a model; the Python twin of ``ps3-eval mrr auto``.

    Args:
        target: A study folder (its items, its ladder) or a task name / card path (every item).
        model: A registered backend, ``NAME`` or ``NAME:key=value,...``.
        model_args: The backend's arguments.
        ladder: The rungs (default: the study's, else 1K=756, 2K=1512, 4K=3780).
        no_image: Also ask without the image; an item right there and at every rung is
            ``no_image`` (a multiple-choice guess is right by chance too, so read it with care).
        threshold: Right means the task's primary score is at least this.
        data: The task's local copy (tasks only).
        task_args: The task loader's arguments (tasks only).
        limit: Only the first N items.
        seed: The runs' seed.
        output_dir: Parent folder of the rung runs.
        cache: SQLite response cache file (``None``: no cache).
        concurrency: Model calls in flight.
        timeout: Seconds per model call.
        judge: A judge model for answers the scoring rules cannot read.
        out: Where to save the result as JSON (default for a study:
            ``<study>/auto/<model>.json``; for a task: not saved).
        on_start: Called as each rung's run starts, with the rung's label.
        on_progress: Called as each rung's run records a sample.
    """
    from ps3_eval.mrr.study import Study, is_study
    from ps3_eval.rundir import load_run
    from ps3_eval.runner import evaluate

    if not 0.0 < threshold <= 1.0:
        raise UsageError(f"threshold must be in (0, 1], got {threshold}.")
    study = Study(target) if is_study(target) else None
    if study is None and Path(target).is_dir():
        raise UsageError(
            f"{target} is a folder but not an MRR study (no study.json); give a study folder "
            f"or a task name / card path."
        )
    if study is not None and (data or task_args):
        raise UsageError("a study carries its own items; drop --data and --task-arg.")
    rungs = ladder or (study.ladder if study is not None else DEFAULT_LADDER)
    task = str(study.card_path) if study is not None else str(target)
    steps: list[tuple[str, int | None]] = [(r.label, r.side) for r in rungs.rungs]
    if no_image:
        steps.insert(0, (NO_IMAGE, None))
    runs: dict[str, Path] = {}
    summaries: dict[str, Any] = {}
    for label, side in steps:
        what = f"{label} (no image)" if side is None else f"{label} ({side} px)"
        started: Callable[[Progress, Path], None] | None = None
        recorded: Callable[[Progress], None] | None = None
        if on_start is not None:
            started = functools.partial(_named_start, on_start, what)
        if on_progress is not None:
            recorded = functools.partial(_named_progress, on_progress, what)
        summary = evaluate(
            task,
            model,
            model_args=model_args,
            data=None if study is not None else data,
            task_args=None if study is not None else task_args,
            limit=limit,
            seed=seed,
            concurrency=concurrency,
            timeout=timeout,
            output_dir=output_dir,
            cache=cache,
            judge=judge,
            image_side=side,
            no_image=side is None,
            on_start=started,
            on_progress=recorded,
        )
        runs[label] = Path(output_dir) / summary.run_id
        summaries[label] = summary
    first = summaries[steps[-1][0]]
    metric = first.primary
    loaded = {label: load_run(path) for label, path in runs.items()}
    carried = dict.fromkeys(k for r in loaded.values() for res in r.results for k in res.scores)
    if metric not in carried:
        # Nothing scored at the top rung, or a primary only the aggregation makes
        # (circular_accuracy): right and wrong are read from a metric each sample carries.
        metric = primary_metric(carried, first.spec.primary_metric) or ""
    by_rung = {label: {res.sample_id: res for res in run.results} for label, run in loaded.items()}
    if study is not None:
        ids = [it.id for it in study.items][: limit or None]
        natives = {it.id: it.native_side for it in study.items}
    else:
        ids = list(dict.fromkeys(i for results in by_rung.values() for i in results))
        natives = {}
    items = []
    for sid in ids:
        results = {label: by_rung[label].get(sid) for label in runs}
        outcomes = {label: outcome_of(res, metric, threshold) for label, res in results.items()}
        any_result = next((r for r in results.values() if r is not None), None)
        native = natives.get(sid)
        if native is None and any_result is not None:
            sides = [max(i.width or 0, i.height or 0) for i in any_result.images]
            native = max(sides) if sides and max(sides) > 0 else None
        items.append(
            AutoItem(
                id=sid,
                outcomes=outcomes,
                mrr=mrr_of(
                    {k: v for k, v in outcomes.items() if k != NO_IMAGE},
                    rungs,
                    outcomes.get(NO_IMAGE) if no_image else None,
                ),
                designed=any_result.mrr if any_result else None,
                native_side=native,
                category=any_result.category if any_result else None,
            )
        )
    spec = first.spec
    result = AutoResult(
        task=study.spec.task if study is not None else spec.task,
        study=study.name if study is not None else None,
        model=spec.model,
        model_args=spec.model_args,
        model_fingerprint=spec.model_fingerprint,
        ladder=rungs,
        no_image=no_image,
        metric=metric,
        threshold=threshold,
        runs={label: str(path) for label, path in runs.items()},
        accuracy={
            label: (s.metrics[metric].mean if metric in s.metrics else None)
            for label, s in summaries.items()
        },
        items=items,
    )
    if out is None and study is not None:
        args = ",".join(f"{k}={v}" for k, v in sorted((model_args or {}).items()))
        out = study.dir / "auto" / f"{_slug(f'{model}-{args}' if args else model)}.json"
    if out is not None:
        result.save(out)
        log.info("automatic MRR saved to %s", out)
    return result
