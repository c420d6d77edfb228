"""The paper's recipes: each VILA-HD row of Tables 1, 2 and 13 as a sweep that reproduces it.

A row's recipe (``benchmarks/paper/*.yaml``) names its checkpoint and test-time controls, e.g.
Table 1's VILA-HD-4K-8B at 18% is ``nvidia/VILA-HD-8B-PS3-4K-SigLIP`` with ``num_look_close=6``.
:func:`recipe_spec` turns the chosen rows into a :class:`~ps3_eval.sweep.SweepSpec` over the
table's benchmarks, one cell per row and task, labelled and matched to the row in reports::

    ps3-eval paper recipe table1 --row VILA-HD-4K-8B --to table1.yaml
    ps3-eval sweep table1.yaml && ps3-eval report table1.yaml --paper table1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ps3_eval.errors import UsageError
from ps3_eval.paper import PaperRow, PaperTable, load_table
from ps3_eval.sweep import SweepSpec


@dataclass(frozen=True)
class Recipe:
    """One row's recipe, resolved: the backend and the arguments of its run."""

    table: str
    number: int
    """The row's position in the table as printed (1 for the first row)."""
    row: PaperRow
    backend: str
    args: dict[str, Any]
    label: str


def _percent(value: Any) -> str:
    return "-" if value is None else f"{round(float(value) * 100)}%"


def row_label(table: PaperTable, row: PaperRow) -> str:
    """A short name for a row: its model, resolution and selection ratio(s)."""
    values = row.values
    parts = [row.model]
    if "res" in values and any(r.model == row.model and r.values.get("res") != values["res"]
                               for r in table.rows):  # fmt: skip
        parts.append(str(values["res"]))
    if values.get("select_train") is not None:
        parts.append(f"{_percent(values['select_train'])}/{_percent(values.get('select'))}")
    elif "select" in values:
        parts.append(_percent(values["select"]))
    return " ".join(parts)


def _chosen(table: PaperTable, rows: Sequence[str]) -> list[tuple[int, PaperRow]]:
    numbered = [(i + 1, r) for i, r in enumerate(table.rows) if r.recipe is not None]
    if not numbered:
        raise UsageError(f"{table.name} has no row with a recipe.")
    if not rows:
        return numbered
    picked: dict[int, PaperRow] = {}
    for ref in rows:
        ref = ref.strip()
        hits = [
            (n, r)
            for n, r in numbered
            if ref in (str(n), r.model, row_label(table, r), row_label(table, r).replace(" ", ""))
        ]
        if not hits:
            choices = "; ".join(f"{n} ({row_label(table, r)})" for n, r in numbered)
            raise UsageError(
                f"{table.name} has no VILA-HD row '{ref}'; give a row number, a model name or a "
                f"label: {choices}."
            )
        picked.update(hits)
    return sorted(picked.items())


def paper_recipes(
    table: str, rows: Sequence[str] = (), checkpoint: str | None = None
) -> list[Recipe]:
    """The recipes of a table's rows (all that have one, or those ``rows`` names).

    Args:
        table: ``table1``, ``table2`` or ``table13``.
        rows: Row numbers as printed (1-based), model names (all their rows) or labels
            (``"VILA-HD-4K-8B 18%"``).
        checkpoint: A checkpoint (hub id or folder) for rows whose model is not published (the
            scaling study of Table 13); it replaces no published one.
    """
    t = load_table(table)
    out = []
    for number, row in _chosen(t, rows):
        recipe = row.recipe
        assert recipe is not None
        if recipe.checkpoint is None and checkpoint is None:
            raise UsageError(
                f"{t.name} row {number} ({row_label(t, row)}): {recipe.note or 'not published'}; "
                f"give the checkpoint you have with --checkpoint."
            )
        args = recipe.args(None if recipe.checkpoint else checkpoint)
        out.append(Recipe(t.name, number, row, recipe.backend, args, row_label(t, row)))
    return out


def _tasks(table: PaperTable, tasks: Sequence[str] | None, data: str | None) -> list[str]:
    from ps3_eval.tasks import find_card

    columns = list(dict.fromkeys(c.task for c in table.columns if c.task))
    if tasks:
        unknown = [t for t in tasks if t not in columns]
        if unknown:
            raise UsageError(
                f"{table.name} has no column for task '{unknown[0]}'; its tasks are "
                f"{', '.join(columns)}."
            )
        chosen = list(tasks)
    else:  # data only some users hold locally (4KPro) is asked for by name, with --data
        chosen = [t for t in columns if find_card(t).card.source.local is None]
    for t in chosen:
        if find_card(t).card.source.local is not None and data is None:
            raise UsageError(f"task '{t}' has no public data; give its local copy with --data.")
    if data is not None and len(chosen) != 1:
        raise UsageError("--data is the local copy of one task; choose it with --task.")
    return chosen


def recipe_spec(
    table: str,
    rows: Sequence[str] = (),
    *,
    tasks: Sequence[str] | None = None,
    data: str | None = None,
    checkpoint: str | None = None,
    limit: int | None = None,
    output_dir: str = "runs",
    name: str | None = None,
) -> SweepSpec:
    """The sweep that reproduces the chosen rows: one cell per row and benchmark of the table.

    Args:
        table: ``table1``, ``table2`` or ``table13``.
        rows: As :func:`paper_recipes` takes them (default: every row with a recipe).
        tasks: The table's benchmarks to run (default: every one with public data).
        data: The local copy of the one task chosen (4KPro).
        checkpoint: For rows whose model is not published.
        limit: Only the first N samples of each task.
        output_dir: Parent folder of the runs.
        name: The sweep's name (default: ``<table>-recipe``).
    """
    t = load_table(table)
    recipes = paper_recipes(table, rows, checkpoint)
    backends = {r.backend for r in recipes}
    if len(backends) != 1:
        raise UsageError(f"the rows chosen run on several backends ({sorted(backends)}).")
    keys = list(dict.fromkeys(k for r in recipes for k in r.args))
    zipped: dict[str, list[Any]] = {k: [r.args.get(k) for r in recipes] for k in keys}
    zipped["label"] = [r.label for r in recipes]
    zipped["series"] = [r.row.model for r in recipes]
    return SweepSpec(
        name=name or f"{t.name}-recipe",
        tasks=_tasks(t, tasks, data),
        model=recipes[0].backend,
        zip=zipped,
        data=data,
        limit=limit,
        max_tokens=None,
        concurrency=1,
        output_dir=output_dir,
        title=f"{t.name}: {t.caption}",
        description=(
            f"The paper's recipe for {len(recipes)} row(s) of {t.name} ({t.section}): each row's "
            f"checkpoint and test-time controls, on the table's benchmarks."
        ),
        paper=[t.name],
    )


def write_recipe(spec: SweepSpec, to: str | Path) -> Path:
    """Write a recipe's sweep spec as YAML (what ``ps3-eval sweep`` reads)."""
    import yaml

    path = Path(to)
    data = spec.model_dump(mode="json", exclude_defaults=True)
    data = {"name": spec.name, **data}
    header = (
        f"# The paper's recipe for {', '.join(spec.paper)}, written by `ps3-eval paper recipe`.\n"
        f"# Run it with `ps3-eval sweep {path.name}`, then `ps3-eval report {path.name}`.\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path
