"""YAML files holding a typed mapping: task cards, sweep specs, paper tables.

They are read with one-line errors that name the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ps3_eval.errors import UsageError, first_line

M = TypeVar("M", bound=BaseModel)


def read_mapping(path: Path, what: str) -> tuple[bytes, dict[str, Any]]:
    """The file's bytes and its YAML mapping.

    Raises:
        UsageError: when the file cannot be read, is not YAML, or is not a mapping.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}.") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise UsageError(f"{what} {path} is not valid YAML: {_yaml_problem(exc)}.") from None
    if not isinstance(data, dict):
        raise UsageError(f"{what} {path} must be a YAML mapping.")
    return raw, data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What is wrong and where: ``line 3, column 7: mapping values are not allowed here``."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or first_line(exc)
    context = getattr(exc, "context", None)
    if context and getattr(exc, "problem", None):
        problem = f"{problem} ({context})"
    if mark is None:
        return str(problem)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


def validate(model: type[M], data: dict[str, Any], path: Path, what: str) -> M:
    """``data`` as ``model``; the first problem as one line naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "top level"
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise UsageError(f"{what} {path}: {where}: {msg}.") from None
