"""Code found by name at run time: registries, ``file.py:function`` hooks and entry points.

A foundation below scoring, tasks and models. Scorers and aggregations (``ps3_eval.scoring``) and
model backends (``ps3_eval.models``) are kept in a :class:`Registry`; a card names its custom
loader or scorer as a hook, ``module:function`` or ``file.py:function`` (a file relative to the
card's folder), loaded by :func:`load_hook`; other packages add backends through the entry-point
group a registry names.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, Generic, TypeVar

from ps3_eval.errors import UsageError

T = TypeVar("T")


def split_ref(ref: str, what: str) -> tuple[str, str]:
    """``(target, attribute)`` of a ``module:name`` or ``file.py:name`` reference.

    Raises:
        UsageError: when ``ref`` is not of that form.
    """
    target, sep, attr = ref.rpartition(":")
    if not sep or not target or not attr:
        raise UsageError(f"{what} '{ref}' must look like module:function or file.py:function.")
    return target, attr


def hook_file(ref: str, base: Path | None) -> Path | None:
    """The file a ``file.py:function`` reference names (relative to ``base``), else ``None``."""
    target = ref.rpartition(":")[0]
    if not target.endswith(".py"):
        return None
    path = Path(target)
    if not path.is_absolute() and base is not None:
        path = base / path
    return path


def load_hook(ref: str, base: Path | None, what: str) -> Callable[..., Any]:
    """Import ``module:function`` or ``file.py:function`` (a file relative to ``base``).

    A file is imported under a name made from its path, so two cards' ``utils.py`` never share a
    module; importing it again re-reads it only in a new process.

    Raises:
        UsageError: naming the hook when the reference, file, module or function is wrong.
    """
    target, attr = split_ref(ref, what)
    file = hook_file(ref, base)
    if file is not None:
        if not file.is_file():
            raise UsageError(f"{what} file {file} does not exist.")
        mod_name = f"_ps3_eval_hook_{hashlib.sha1(str(file).encode()).hexdigest()[:8]}"
        spec = importlib.util.spec_from_file_location(mod_name, file)
        if spec is None or spec.loader is None:
            raise UsageError(f"cannot import {what} file {file}.")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise UsageError(f"cannot import {what} module '{target}': {exc}.") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise UsageError(f"{what} '{ref}': no function '{attr}' in {target}.")
    hook: Callable[..., Any] = fn
    return hook


def import_target(target: str) -> Any:
    """The object a ``module:attribute`` string names (its module imported now).

    Raises:
        ImportError: when the module (or a package it needs) is not installed; the caller says
            which extra provides it.
        AttributeError: when the module has no such attribute.
    """
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def entry_point_targets(group: str) -> dict[str, str]:
    """``name -> "module:attribute"`` of the installed packages' entry points in ``group``."""
    return {ep.name: ep.value for ep in metadata.entry_points(group=group)}


class Registry(Generic[T]):
    """Things of one kind by name: given objects, or ``"module:attribute"`` strings imported late.

    Precedence, lowest first: the built-ins given at construction, the installed entry points of
    ``group`` (which never replace a built-in), then :meth:`register` calls (which replace both).
    """

    def __init__(
        self, what: str, builtin: dict[str, str | T] | None = None, group: str | None = None
    ) -> None:
        self.what = what
        """The kind, as error messages name it (``scorer``, ``model``)."""
        self.group = group
        """The entry-point group other packages register in, if any."""
        self._builtin: dict[str, str | T] = dict(builtin or {})
        self._registered: dict[str, str | T] = {}

    def register(self, name: str, target: str | T) -> None:
        """Register ``target`` (an object, or a lazy ``"module:attribute"``) under ``name``."""
        self._registered[name] = target

    def decorator(self, name: str) -> Callable[[T], T]:
        """A decorator that registers what it decorates under ``name``."""

        def wrap(obj: T) -> T:
            self.register(name, obj)
            return obj

        return wrap

    def targets(self) -> dict[str, str | T]:
        """Every name with what it stands for (objects, or strings not imported yet)."""
        found = dict(self._builtin)
        if self.group:
            for name, value in entry_point_targets(self.group).items():
                found.setdefault(name, value)
        found.update(self._registered)
        return found

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self.targets())

    def __contains__(self, name: object) -> bool:
        return name in self.targets()

    def load(self, name: str) -> T:
        """What ``name`` stands for, its module imported now when it is given as a string.

        Raises:
            UsageError: for an unknown name.
            ImportError: when the module of a string target cannot be imported.
        """
        target = self.target(name)
        if isinstance(target, str):
            loaded: T = import_target(target)
            return loaded
        return target

    def target(self, name: str) -> str | T:
        """What ``name`` stands for, not imported.

        Raises:
            UsageError: for an unknown name, with the nearest name and the valid ones.
        """
        targets = self.targets()
        if name in targets:
            return targets[name]
        close = difflib.get_close_matches(name, targets, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise UsageError(
            f"unknown {self.what} '{name}'.{hint} Valid {self.what}s: {', '.join(sorted(targets))}."
        )
