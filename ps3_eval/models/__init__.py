"""Model registry: backends by name, imported only when used.

Built-in backends are listed here as ``"module:Class"`` strings; third-party packages add their own
through the ``ps3_eval.models`` entry-point group (``name = "pkg.module:Class"``).
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import ValidationError

from ps3_eval.errors import UsageError
from ps3_eval.models.base import Backend, Model, ModelArgs, as_backend
from ps3_eval.plugins import Registry

__all__ = [
    "Backend",
    "Model",
    "ModelArgs",
    "ModelEntry",
    "as_backend",
    "build_model",
    "describe_model",
    "list_models",
    "parse_assignments",
    "parse_model_spec",
    "register_model",
]

ENTRY_POINT_GROUP = "ps3_eval.models"

_BUILTIN: dict[str, str] = {
    "scripted": "ps3_eval.models.scripted:ScriptedModel",
    "ocr-reader": "ps3_eval.models.ocr.reader:OcrReader",
    "openai": "ps3_eval.models.api.openai_chat:OpenAIModel",
    "openai-compatible": "ps3_eval.models.api.openai_chat:OpenAICompatibleModel",
    "anthropic": "ps3_eval.models.api.anthropic_messages:AnthropicModel",
    "gemini": "ps3_eval.models.api.gemini:GeminiModel",
    "hf": "ps3_eval.models.hf:HfModel",
    "ps3": "ps3_eval.models.ps3_encoder:Ps3Encoder",
    "vila-hd": "ps3_eval.models.vila_hd:VilaHd",
    "lmms": "ps3_eval.models.lmms:LmmsModel",
}
MODELS: Registry[type[Backend]] = Registry("model", dict(_BUILTIN), ENTRY_POINT_GROUP)
"""Every backend by name: the built-ins, installed entry points, then ``register_model`` calls."""


@dataclass(frozen=True)
class ArgInfo:
    """One backend argument, for ``ps3-eval models``."""

    name: str
    type: str
    default: Any
    help: str
    required: bool = False


@dataclass(frozen=True)
class ModelEntry:
    """A registered backend, described without instantiating it."""

    name: str
    kind: str
    description: str
    args: list[ArgInfo]
    target: str


def register_model(name: str, target: str | type[Backend]) -> None:
    """Register a backend by name: a ``"module:Class"`` string (lazy) or the class itself."""
    MODELS.register(name, target)


def _resolve(name: str) -> type[Backend]:
    target = MODELS.target(name)
    try:
        cls = MODELS.load(name)
    except ImportError as exc:
        raise UsageError(
            f"model '{name}' needs a package that is not installed ({exc.name or exc}); "
            f"install the extra it names in `ps3-eval models`."
        ) from exc
    if not isinstance(cls, type) or not issubclass(cls, Backend):
        raise UsageError(f"model '{name}' points at {target}, which is not a ps3_eval Backend.")
    return cls


def type_text(ann: Any) -> str:
    """A type as a user reads it: ``'provider' | 'none'`` for a Literal, ``int | None``."""
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        return " | ".join(repr(v) for v in typing.get_args(ann))
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(type_text(a) for a in typing.get_args(ann))
    if ann is type(None):
        return "None"
    return str(getattr(ann, "__name__", None) or str(ann).replace("typing.", ""))


def _arg_infos(cls: type[Backend]) -> list[ArgInfo]:
    own: dict[str, str] = {}
    if cls.__module__.startswith("ps3_eval.models.api."):
        from ps3_eval.models.api import ARG_HELP

        own = ARG_HELP.get(cls.name, {})
    infos = []
    for key, field in cls.Args.model_fields.items():
        infos.append(
            ArgInfo(
                key,
                type_text(field.annotation),
                None if field.is_required() else field.default,
                own.get(key) or field.description or "",
                field.is_required(),
            )
        )
    return infos


def list_models() -> list[ModelEntry]:
    """All registered backends; a backend whose module fails to import is listed with the reason."""
    entries = []
    for name, target in sorted(MODELS.targets().items()):
        label = target if isinstance(target, str) else f"{target.__module__}:{target.__name__}"
        try:
            cls = _resolve(name)
        except UsageError as exc:
            entries.append(ModelEntry(name, "unavailable", str(exc), [], label))
            continue
        entries.append(ModelEntry(name, cls.kind, cls.description, _arg_infos(cls), label))
    return entries


def _coerce(value: str) -> Any:
    low = value.lower()
    if low in {"true", "false"}:
        return low == "true"
    if low in {"none", "null"}:
        return None
    return value


def parse_assignments(
    pairs: list[str], what: str = "argument", numbers: bool = False
) -> dict[str, Any]:
    """Turn ``key=value`` strings into a dict (``-`` in keys becomes ``_``; true/false/none).

    With ``numbers``, integer and decimal strings become numbers, so ``n=24`` on the command line
    and ``{"n": 24}`` from Python name the same run. Model arguments skip this: their pydantic
    models convert, and a string field such as an answer must stay a string. ``none`` becomes
    ``None``; :func:`validate_args` turns it back into the word for a model argument that takes
    the word and not ``None`` (``resize=none``).
    """
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{what} '{pair}' is not of the form key=value.")
        parsed = _coerce(value.strip())
        if numbers and isinstance(parsed, str):
            parsed = _number(parsed)
        args[key.strip().replace("-", "_")] = parsed
    return args


def _number(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def parse_model_spec(spec: str, extra_args: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    """Split ``NAME:key=value,...`` plus repeated ``key=value`` strings into name and args."""
    name, _, rest = spec.partition(":")
    pairs = [p for p in rest.split(",") if p] if rest else []
    return name.strip(), parse_assignments(pairs + list(extra_args or []), "model argument")


def _admits(annotation: Any) -> tuple[bool, bool]:
    """Whether a field type takes ``None``, and whether it takes the string ``"none"``."""
    if annotation is None or annotation is type(None):
        return True, False
    if annotation is str:
        return False, True
    origin = get_origin(annotation)
    if origin is Literal:
        values = get_args(annotation)
        return None in values, "none" in values
    if origin is Union or origin is types.UnionType:
        takes_none = takes_word = False
        for member in get_args(annotation):
            n, w = _admits(member)
            takes_none, takes_word = takes_none or n, takes_word or w
        return takes_none, takes_word
    return False, False


def _none_as_word(args_cls: type[ModelArgs], args: dict[str, Any]) -> dict[str, Any]:
    """``None`` back to the word ``"none"`` where the field takes the word and not ``None``.

    ``key=none`` parses to ``None`` (the usual meaning: "no value"), which is wrong for a choice
    such as ``resize: Literal["provider", "none"]`` or a plain string such as ``vision_rule``.
    """
    out = dict(args)
    for key, value in args.items():
        field = args_cls.model_fields.get(key)
        if value is None and field is not None:
            takes_none, takes_word = _admits(field.annotation)
            if takes_word and not takes_none:
                out[key] = "none"
    return out


def validate_args(name: str, cls: type[Backend], args: dict[str, Any]) -> ModelArgs:
    """Validate ``args`` against the backend's ``Args`` model, with a one-line error."""
    try:
        return cls.Args.model_validate(_none_as_word(cls.Args, args))
    except ValidationError as exc:
        valid = ", ".join(cls.Args.model_fields) or "(none)"
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "arguments"
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(loc, list(cls.Args.model_fields), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(
                f"unknown argument '{loc}' for model '{name}'{hint}. Valid arguments: {valid}."
            ) from None
        raise UsageError(f"model '{name}' argument '{loc}': {err['msg']}.") from None


def build_model(name: str, args: dict[str, Any] | None = None) -> Backend:
    """Instantiate a backend by name with validated arguments."""
    cls = _resolve(name)
    return cls(validate_args(name, cls, dict(args or {})))


def describe_model(name: str, args: dict[str, Any] | None = None) -> Backend:
    """A backend with validated arguments that is never called: its name, fingerprint, arguments.

    Skips the backend's own ``__init__`` (which may need an API key, an SDK or a GPU), so a
    machine without them can still tell which run folder a model's run has.
    """
    cls = _resolve(name)
    validated = validate_args(name, cls, dict(args or {}))
    backend = cls.__new__(cls)
    Backend.__init__(backend, validated)
    return backend
