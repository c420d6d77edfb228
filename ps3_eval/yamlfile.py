"""YAML files holding a typed mapping: task cards, sweep specs, paper tables.

They are read with one-line errors that name the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ps3_eval.errors import UsageError

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
        raise UsageError(f"{what} {path} is not valid YAML: {str(exc).splitlines()[0]}.") from None
    if not isinstance(data, dict):
        raise UsageError(f"{what} {path} must be a YAML mapping.")
    return raw, data


def validate(model: type[M], data: dict[str, Any], path: Path, what: str) -> M:
    """``data`` as ``model``; the first problem as one line naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "top level"
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise UsageError(f"{what} {path}: {where}: {msg}.") from None
