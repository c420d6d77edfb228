"""The paper's tables as data (benchmarks/paper/*.yaml), for reports that set runs beside them.

Each table keeps its caption and section, names its columns in the toolkit's terms (a task and a
metric for a benchmark column, with the paper's scale: 100 for percentages, 1 for OCRBench's score
out of 1000; a setting name for a configuration column) and lists its rows as printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ps3_eval.errors import UsageError
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


class PaperRow(_Strict):
    """One row as printed; ``None`` where the paper has no value."""

    model: str
    values: dict[str, Any]
    note: str | None = None


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
    import ps3_eval.benchmarks as shipped

    return Path(next(iter(shipped.__path__))) / "paper"


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
