"""Sweeps: a grid of ordinary runs over tasks and model arguments, declared in a YAML spec.

Each cell is an ordinary, resumable run, so an interrupted sweep resumes cell by cell by running
it again. Every cell is validated (tasks found, model arguments known) before the first one runs;
a cell that fails at run time is recorded and the others go on.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, model_validator

from ps3_eval.errors import Ps3EvalError, UsageError, first_line
from ps3_eval.rundir import RunDir, recorded_specs, run_dir_for
from ps3_eval.runner.options import RunSettings

if TYPE_CHECKING:
    from ps3_eval.records import RunSpec
    from ps3_eval.runner import Progress
    from ps3_eval.tasks import Task


class SweepSpec(RunSettings):
    """A sweep: tasks x the grid's product x the zipped lists, over one model backend.

    Every run option (:class:`~ps3_eval.runner.RunSettings`: ``model_args`` shared by the cells,
    ``task_args``, ``data``, ``limit``, ``seed``, ``max_tokens``, ``prompt``, ``judge``,
    ``image_side``, ``no_image``, ``concurrency``, ``timeout``, ``output_dir``, ``cache``, ...)
    is a key of the spec and applies to every cell.
    """

    name: str
    """Names the sweep in listings and reports."""
    tasks: list[str]
    """Task names or card paths (relative paths resolve against the spec's folder)."""
    model: str
    """Backend name."""
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    """Model arguments to vary independently (their product)."""
    zip: dict[str, list[Any]] = Field(default_factory=dict)
    """Model arguments to vary together (lists of one length). Two names are not arguments:
    ``label`` and ``series`` give each zipped row its label and series outright."""
    label: str | None = None
    """Format of a cell's label over its arguments, e.g. ``"{resolution} px"``."""
    series: str | None = None
    """The argument whose value names a cell's series in plots."""
    title: str | None = None
    """The report's title."""
    description: str | None = None
    """A paragraph the report shows under its title."""
    paper: list[str] = Field(default_factory=list)
    """Paper tables the report sets beside the cells, e.g. ``table13:PS3``."""

    @model_validator(mode="after")
    def _shape(self) -> SweepSpec:
        if not self.tasks:
            raise ValueError("tasks is empty")
        for key, values in {**self.grid, **self.zip}.items():
            if not values:
                raise ValueError(f"'{key}' has no values")
        for key in ("label", "series"):
            if key in self.grid:
                raise ValueError(f"'{key}' names cells; put it in zip, not grid")
            if key in self.zip and getattr(self, key) is not None:
                raise ValueError(f"'{key}' is given both as a zip list and as a setting")
        both = set(self.grid) & set(self.zip)
        if both:
            raise ValueError(f"'{sorted(both)[0]}' is in both grid and zip")
        lengths = {len(v) for v in self.zip.values()}
        if len(lengths) > 1:
            raise ValueError(f"zip lists differ in length ({sorted(lengths)})")
        if self.data and len(self.tasks) > 1:
            raise ValueError("data applies to one task; give one task or no data")
        return self


class Cell(BaseModel):
    """One run of the sweep."""

    label: str
    series: str | None
    task: str
    model_args: dict[str, Any]
    varied: dict[str, Any]
    """The grid and zip values of this cell."""
    status: Literal["done", "partial", "not started", "failed"] = "not started"
    run_dir: str | None = None
    error: str | None = None
    metric: str | None = None
    value: float | None = None
    n: int | None = None
    n_errors: int | None = None


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep spec; relative task paths are resolved against its folder."""
    from ps3_eval.yamlfile import read_mapping, validate

    file = Path(path)
    _, data = read_mapping(file, "sweep spec")
    spec = validate(SweepSpec, data, file, "sweep spec")
    base = file.resolve().parent
    tasks = []
    for t in spec.tasks:
        candidate = base / t
        tasks.append(str(candidate) if t.endswith((".yaml", ".yml")) and candidate.is_file() else t)
    spec.tasks = tasks
    return spec


def cells(spec: SweepSpec) -> list[Cell]:
    """Every cell, with its arguments validated against the backend (before anything runs)."""
    from ps3_eval.models import _resolve, validate_args
    from ps3_eval.tasks import load_task

    cls = _resolve(spec.model)
    for task in spec.tasks:
        load_task(task, data=spec.data, args=spec.task_args).check_args()
    grid_keys = list(spec.grid)
    zipped = list(zip(*spec.zip.values(), strict=True)) if spec.zip else [()]
    out = []
    for task in spec.tasks:
        for combo in itertools.product(*spec.grid.values()):
            for row in zipped:
                zipped_row = dict(zip(spec.zip, row, strict=True))
                named = {k: zipped_row.pop(k) for k in ("label", "series") if k in zipped_row}
                varied = {**dict(zip(grid_keys, combo, strict=True)), **zipped_row}
                args = {**spec.model_args, **varied}
                validated = validate_args(spec.model, cls, args).model_dump(mode="json")
                fields = {"task": Path(task).stem if task.endswith((".yaml", ".yml")) else task,
                          "model": spec.model, **args}  # fmt: skip
                try:
                    label = (
                        (f"{fields['task']} " if len(spec.tasks) > 1 else "") + str(named["label"])
                        if "label" in named
                        else spec.label.format(**fields)
                        if spec.label
                        else _default_label(fields, varied)
                    )
                except (KeyError, IndexError, ValueError) as exc:
                    raise UsageError(
                        f"sweep label '{spec.label}' cannot be filled: {exc}."
                    ) from None
                series = (
                    str(named["series"])
                    if "series" in named
                    else None
                    if spec.series is None
                    else str(args.get(spec.series))
                )
                if spec.series is not None and spec.series not in args:
                    raise UsageError(
                        f"sweep series '{spec.series}' is not a model argument of the cells."
                    )
                out.append(
                    Cell(label=label, series=series, task=task, model_args=validated, varied=varied)
                )
    return out


def _default_label(fields: dict[str, Any], varied: dict[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in varied.items()]
    return f"{fields['task']} " + (" ".join(parts) if parts else fields["model"])


class _Locator:
    """Finds each cell's run folder by the run identity (:meth:`RunSpec.identity`).

    The spec a cell's run would have is built as the runner builds it (card digest, prompt,
    generation settings, backend fingerprint, data fingerprint), so a run of an edited card, a new
    backend version or other settings is never taken for the cell's. Backends are described
    without being constructed (no key, SDK or GPU needed), and each task is loaded once.

    With ``check_data=False`` (reports) the data is not loaded: each recorded run lends its data
    fingerprint to the cell's spec and the identities must then be equal; of runs on several
    versions of the data, the latest is the cell's.
    """

    def __init__(self, spec: SweepSpec, check_data: bool) -> None:
        self.spec = spec
        self.check_data = check_data
        self.root = Path(spec.output_dir)
        self._tasks: dict[str, Task] = {}
        self._recorded: list[tuple[Path, RunSpec]] | None = None

    def _task(self, name: str) -> Task:
        from ps3_eval.tasks import load_task

        if name not in self._tasks:
            self._tasks[name] = load_task(name, data=self.spec.data, args=self.spec.task_args)
        return self._tasks[name]

    def find(self, cell: Cell) -> Path | None:
        from ps3_eval.models import describe_model
        from ps3_eval.runner import run_spec

        task = self._task(cell.task)
        backend = describe_model(self.spec.model, cell.model_args)
        # The spec's run options are the cell's, as run_sweep runs it.
        if not self.check_data:
            return self._without_data(run_spec(task, backend, self.spec, with_data=False))
        run_dir = run_dir_for(self.root, run_spec(task, backend, self.spec))
        return run_dir if RunDir(run_dir).exists() else None

    def _without_data(self, want: RunSpec) -> Path | None:
        if self._recorded is None:
            self._recorded = recorded_specs(self.root)
        found = []
        for run_dir, rec in self._recorded:
            lent = want.model_copy(update={"data_fingerprint": rec.data_fingerprint})
            if run_dir_for(self.root, lent).name == run_dir.name:
                found.append((rec.created_at, run_dir))
        # Runs of the cell on several versions of the data: the latest is the sweep's.
        return max(found)[1] if found else None


def _state(run_dir: Path | None, cell: Cell) -> Cell:
    if run_dir is None:
        return cell
    cell.run_dir = str(run_dir)
    s = RunDir(run_dir).read_summary()  # the summary alone; the samples are not needed
    cell.status = "done" if s is not None and s.complete else "partial"
    if s is not None:
        cell.n, cell.n_errors = s.n, s.n_errors
        cell.metric = s.primary
        if cell.metric is not None:
            cell.value = s.metrics[cell.metric].mean
    return cell


def locate(spec: SweepSpec, *, check_data: bool = True) -> list[Cell]:
    """Every cell with its run folder (found by the run identity) and state; nothing runs.

    Loads each task's data, so task arguments and data are checked as a run would check them.
    ``check_data=False`` (reports: quick, and on machines without the data) matches a cell's
    runs on everything but the data, the latest of them where the data changed.
    """
    todo = cells(spec)
    locator = _Locator(spec, check_data)
    return [_state(locator.find(c), c) for c in todo]


def run_sweep(
    spec: SweepSpec | str | Path,
    *,
    dry_run: bool = False,
    wait: bool = False,
    on_cell: Callable[[Cell], None] | None = None,
    on_start: Callable[[Cell, Progress, Path], None] | None = None,
    on_progress: Callable[[Cell, Progress], None] | None = None,
) -> list[Cell]:
    """Run (or, with ``dry_run``, list) every cell of a sweep: the twin of ``ps3-eval sweep``.

    ``on_start`` and ``on_progress`` are each cell's run hooks (see ``evaluate``), given the cell
    first; ``on_cell`` is called as each cell ends. ``dry_run`` is :func:`locate`; ``wait``
    waits for a cell another process is running (see ``evaluate``).

    Returns:
        The cells with their status, run directory and first metric.
    """
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    if dry_run:
        return locate(spec)
    todo = cells(spec)
    from ps3_eval.runner import evaluate

    done = []
    for cell in todo:
        try:
            summary = evaluate(
                cell.task,
                spec.model,
                options=spec,
                model_args=cell.model_args,
                wait=wait or spec.wait,
                on_start=functools.partial(on_start, cell) if on_start else None,
                on_progress=functools.partial(on_progress, cell) if on_progress else None,
            )
            cell = _state(Path(spec.output_dir) / summary.run_id, cell)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one cell's failure never stops the others
            cell.status = "failed"
            first = first_line(exc)
            cell.error = (
                first if isinstance(exc, Ps3EvalError) else f"{type(exc).__name__}: {first}"
            )
        done.append(cell)
        if on_cell is not None:
            on_cell(cell)
    return done
