"""The paper's tables as data (benchmarks/paper/*.yaml), for reports that set runs beside them.

Each table keeps its caption and section, names its columns in the toolkit's terms (a task and a
metric for a benchmark column, with the paper's scale: 100 for percentages, 1 for OCRBench's score
out of 1000; a setting name for a configuration column) and lists its rows as printed. VILA-HD's
rows carry their recipe: the checkpoint and the test-time controls that reproduce them
(:mod:`ps3_eval.recipes` turns them into sweep specs).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ps3_eval.errors import UsageError
from ps3_eval.paths import paper_tables_dir
from ps3_eval.yamlfile import read_mapping, validate


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PaperColumn(_Strict):
    """One column: a benchmark result (``task`` and ``metric``) or a setting."""

    key: str
    label: str
    task: str | None = None
    metric: str | None = None
    scale: float = 1.0
    """Paper value = run value x scale (100 for percentages)."""
    setting: str | None = None
    """The configuration this column states (resolution, select, visual_tokens, ...)."""
    unit: str | None = None


class PaperRecipe(_Strict):
    """How to reproduce a row: a backend, its checkpoint and the test-time controls."""

    backend: str = "vila-hd"
    checkpoint: str | None
    """Hub id of the published checkpoint; ``None`` when the row's model is not published."""
    controls: dict[str, Any]
    """The backend's arguments besides ``model`` (e.g. ``num_look_close: 6``)."""
    note: str | None = None

    def args(self, checkpoint: str | None = None) -> dict[str, Any]:
        """The backend arguments: the checkpoint (or the one given in its place) and controls."""
        model = checkpoint or self.checkpoint
        return {**({"model": model} if model else {}), **self.controls}


class PaperRow(_Strict):
    """One row as printed; ``None`` where the paper has no value."""

    model: str
    values: dict[str, Any]
    note: str | None = None
    recipe: PaperRecipe | None = None
    """The checkpoint and controls that reproduce the row (VILA-HD's rows)."""


class PaperTable(_Strict):
    """A table of the paper."""

    name: str
    caption: str
    section: str
    columns: list[PaperColumn]
    rows: list[PaperRow] = Field(default_factory=list)

    def column(self, key: str) -> PaperColumn:
        """The column with this key."""
        for c in self.columns:
            if c.key == key:
                return c
        raise KeyError(key)

    def value(self, model: str, key: str, **settings: Any) -> Any:
        """The value of ``key`` in the one row of ``model`` whose settings match."""
        rows = [
            r
            for r in self.rows
            if r.model == model and all(r.values.get(k) == v for k, v in settings.items())
        ]
        if len(rows) != 1:
            raise KeyError(f"{len(rows)} rows of {self.name} match {model} {settings}")
        return rows[0].values[key]


def tables_dir() -> Path:
    """The folder holding the tables (inside the installed package)."""
    return paper_tables_dir()


def load_table(name: str) -> PaperTable:
    """One table by name (``table1``, ``table2``, ``table9`` ... ``table13``)."""
    path = tables_dir() / f"{name}.yaml"
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in tables_dir().glob("*.yaml")))
        raise UsageError(f"no paper table '{name}'; the tables are {names}.")
    _, data = read_mapping(path, "paper table")
    table = validate(PaperTable, data, path, "paper table")
    keys = {c.key for c in table.columns}
    for row in table.rows:
        unknown = set(row.values) - keys
        if unknown:
            raise UsageError(f"paper table {path}: row {row.model} has unknown keys {unknown}.")
    return table


def load_tables() -> dict[str, PaperTable]:
    """Every table, by name."""
    return {p.stem: load_table(p.stem) for p in sorted(tables_dir().glob("*.yaml"))}


@functools.lru_cache(maxsize=1)
def published_checkpoints() -> frozenset[str]:
    """Every checkpoint a row's recipe names, over all the tables."""
    return frozenset(
        r.recipe.checkpoint
        for t in load_tables().values()
        for r in t.rows
        if r.recipe is not None and r.recipe.checkpoint
    )


MATCHED_SETTINGS = ("resolution", "select", "select_train")
"""Settings a run is matched on, by the model argument of the same name."""
_RATIOS = ("select", "select_train")
"""Selection ratios: None means every patch (1.0)."""


class PaperMatch(BaseModel):
    """A paper value set beside a run's measured one, on the paper's scale."""

    table: str
    model: str
    settings: dict[str, Any]
    column: str
    task: str
    metric: str
    paper: float
    measured: float | None
    ci_low: float | None
    ci_high: float | None
    same_model: bool = False
    """Whether the run is of the model the paper row names; only then does the paper value's
    place in the run's CI say something (otherwise the values are set side by side only)."""

    @property
    def delta(self) -> float | None:
        """Measured minus paper."""
        return None if self.measured is None else self.measured - self.paper

    @property
    def inside(self) -> bool | None:
        """Whether the paper value lies inside the run's 95% CI.

        ``None`` without a CI, or when the run is of another model than the row's (there the
        check would mean nothing).
        """
        if self.ci_low is None or self.ci_high is None or not self.same_model:
            return None
        return self.ci_low - 1e-9 <= self.paper <= self.ci_high + 1e-9


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower()).removesuffix("instruct")


PS3_BACKENDS = ("vila-hd", "ps3")
"""Backends whose runs are the paper's PS3 rows (VILA-HD with PS3, or the PS3 encoder)."""


def same_model(paper_model: str, backend: str, model_args: dict[str, Any]) -> bool:
    """Whether a run of ``backend`` with ``model_args`` is the model a paper row names.

    The paper's PS3 rows are VILA-HD with a PS3 encoder (``vila-hd`` and ``ps3`` runs), its
    VILA-HD rows ``vila-hd`` runs; any other row matches a run whose ``model`` argument names it,
    org and ``-Instruct`` aside (``Qwen/Qwen2-VL-7B-Instruct`` is ``Qwen2-VL-7B``). Anything else
    is another model.
    """
    if paper_model.upper().startswith("PS3"):
        return backend in PS3_BACKENDS
    if paper_model.upper().startswith("VILA-HD"):
        return backend == "vila-hd"
    given = str(model_args.get("model") or "").rstrip("/").rsplit("/", 1)[-1]
    return bool(given) and _norm(given) == _norm(paper_model)


def table_tasks(table: PaperTable) -> list[str]:
    """The tasks a table has results for, in column order."""
    return list(dict.fromkeys(c.task for c in table.columns if c.task))


def _same(setting: str, paper: Any, run: Any) -> bool:
    if setting in _RATIOS:  # no selection means every patch
        paper, run = 1.0 if paper is None else paper, 1.0 if run is None else run
    try:
        # the paper prints ratios to two decimals (0.33 for a third)
        return abs(float(paper) - float(run)) <= 0.005 + 1e-9
    except (TypeError, ValueError):
        return bool(paper == run)


def _by_recipe(row: PaperRow, model_args: dict[str, Any]) -> bool:
    """Whether a run has a row's recipe: its checkpoint and every control equal.

    For a model that is not published, any checkpoint but the published ones has its recipe.
    """
    recipe = row.recipe
    if recipe is None:
        return False
    run_model = model_args.get("model")
    if recipe.checkpoint is None and run_model in published_checkpoints():
        return False
    if recipe.checkpoint is not None and run_model != recipe.checkpoint:
        return False
    return all(k in model_args and model_args[k] == v for k, v in recipe.controls.items())


def _by_settings(row: PaperRow, settings: list[PaperColumn], model_args: dict[str, Any]) -> bool:
    for c in settings:
        setting, paper = c.setting or "", row.values.get(c.key)
        if setting == "select":  # a run that selects nothing reads every patch
            if not _same(setting, paper, model_args.get(setting)):
                return False
        elif setting in model_args and paper is not None:
            if not _same(setting, paper, model_args[setting]):
                return False
    return True


def _matching_rows(table: PaperTable, model_args: dict[str, Any]) -> list[PaperRow]:
    """The rows a run (its model arguments) measured.

    A run with a row's recipe (its checkpoint and controls; for a model that is not published,
    any checkpoint with those controls) matches the recipe rows it has, and nothing else; so
    does a run of a published checkpoint whose controls are no row's. Any other run is matched
    by the table's settings (resolution, selection ratios).
    """
    by_recipe = [r for r in table.rows if _by_recipe(r, model_args)]
    if by_recipe or model_args.get("model") in published_checkpoints():
        return by_recipe
    settings = [c for c in table.columns if c.setting in MATCHED_SETTINGS]
    return [r for r in table.rows if _by_settings(r, settings, model_args)]


def parse_ref(ref: str) -> tuple[PaperTable, str | None]:
    """``table13`` or ``table13:PS3`` as a table and an optional paper model name."""
    name, _, wanted = ref.partition(":")
    table = load_table(name.strip())
    model = wanted.strip() or None
    if model is not None and model not in {r.model for r in table.rows}:
        models = ", ".join(dict.fromkeys(r.model for r in table.rows))
        raise UsageError(f"{table.name} has no model '{model}'; its models are {models}.")
    return table, model


def match_run(
    ref: str | tuple[PaperTable, str | None],
    task: str,
    model_args: dict[str, Any],
    metrics: dict[str, tuple[float, float, float] | None],
    backend: str = "",
) -> list[PaperMatch]:
    """The paper values of ``ref`` (``table13:PS3``) that a run of ``task`` measured.

    A row matches when each setting of :data:`MATCHED_SETTINGS` that both the row and the run
    state is equal. ``select`` is always compared: a run or row without one reads every patch (1).
    Runs of a row's recipe are matched by the recipe instead (see :func:`_matching_rows`).

    Args:
        ref: A table name, with ``:model`` to keep one model's rows, or what :func:`parse_ref`
            returned for it (so matching many runs reads the table once).
        task: The run's task (card name).
        model_args: The run's model arguments.
        metrics: The run's values by metric name, as (mean, ci_low, ci_high) in the run's scale.
        backend: The run's backend, which with ``model_args`` says whether the run is of the
            row's model (:func:`same_model`).
    """
    table, model = parse_ref(ref) if isinstance(ref, str) else ref
    columns = [c for c in table.columns if c.task == task and c.metric in metrics]
    if not columns:
        return []
    out = []
    for row in _matching_rows(table, model_args):
        if model is not None and row.model != model:
            continue
        for c in columns:
            paper = row.values.get(c.key)
            if paper is None:
                continue
            got = metrics[c.metric or ""]
            mean, lo, hi = (None, None, None) if got is None else got
            out.append(
                PaperMatch(
                    table=table.name,
                    model=row.model,
                    settings={
                        s.setting or s.key: row.values.get(s.key)
                        for s in table.columns
                        if s.setting and row.values.get(s.key) is not None
                    },
                    column=c.label,
                    task=task,
                    metric=c.metric or "",
                    paper=float(paper),
                    measured=None if mean is None else mean * c.scale,
                    ci_low=None if lo is None else lo * c.scale,
                    ci_high=None if hi is None else hi * c.scale,
                    same_model=same_model(row.model, backend, model_args),
                )
            )
    return out
