"""The model seam: anything with ``async generate(request) -> ModelOutput``."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, ClassVar, Literal, Protocol, TypeVar, cast, runtime_checkable

from pydantic import BaseModel, ConfigDict

from ps3_eval.records import ModelOutput, Request

T = TypeVar("T")

ModelKind = Literal["embedded", "local", "served", "api", "test-double", "plugin"]


def code_digest(sources: list[str]) -> str:
    """Hash of Python sources by what they do: comments, docstrings and layout do not count.

    Used to pin a backend's behaviour-defining code to its ``version``. Import statements do not
    count either: moving a helper to another module changes where it is imported from, not what
    the backend answers (the helper's own code is pinned where a backend names its module).
    """
    import ast

    class _Unimported(ast.NodeTransformer):
        def visit_Import(self, node: ast.Import) -> None:
            return None

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            return None

    h = hashlib.sha256()
    for source in sources:
        tree = _Unimported().visit(ast.parse(source))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (
                isinstance(body, list)
                and body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
        h.update(ast.unparse(tree).encode())
    return h.hexdigest()[:16]


def module_sources(modules: tuple[str, ...]) -> list[str]:
    """The source text of importable modules, in order."""
    import importlib.util

    out = []
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ValueError(f"module {name} cannot be found")
        with open(spec.origin, encoding="utf-8") as fh:
            out.append(fh.read())
    return out


class ModelArgs(BaseModel):
    """Base for a backend's arguments; unknown keys are rejected with the valid ones listed."""

    model_config = ConfigDict(extra="forbid")


@runtime_checkable
class Model(Protocol):
    """What the runner needs from a model: a name, ``generate`` and ``fingerprint``.

    Any object with these runs (``evaluate(task, obj)``); it may also state what :class:`Backend`
    declares (``max_concurrency``, ``min_concurrency``, ``decodes_pixels``, ``wants_oracle``,
    ``operational_args``, ``prompt_for``, ``args_dict``, ``aclose``), and gets Backend's
    defaults where it does not (see :func:`as_backend`).
    """

    name: str

    async def generate(self, request: Request) -> ModelOutput:
        """Answer one request. Raise on failure; the runner records the error."""
        ...

    def fingerprint(self) -> str:
        """Identity of everything that can change answers (keys the response cache)."""
        ...


class Backend:
    """Convenience base class for backends.

    Subclasses set ``name``, ``kind``, ``description`` and ``Args`` and implement ``generate``.
    Module-level imports of a backend must stay light: import SDKs or torch inside methods.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[ModelKind] = "local"
    description: ClassVar[str] = ""
    Args: ClassVar[type[ModelArgs]] = ModelArgs
    version: ClassVar[str] = "1"
    """Bump when the backend's behaviour changes: it is part of the fingerprint, so runs and cached
    answers of the old code are never resumed or replayed."""
    code_modules: ClassVar[tuple[str, ...]] = ()
    """Modules whose code decides the answers. For built-in backends a test pins a hash of them
    together with ``version``, so changing that code without a bump fails."""
    operational_args: ClassVar[frozenset[str]] = frozenset()
    """Arguments that change how calls are made, never what is answered (timeouts, rate limits):
    left out of the fingerprint, so changing them keeps the run and its cached answers."""
    decodes_pixels: ClassVar[bool] = True
    """False for backends that send encoded images on (API backends): the runner then reads each
    image's bytes and header only, and the backend decodes only what it must resize."""
    max_concurrency: ClassVar[int | None] = None
    """Cap on concurrent ``generate`` calls (CPU-bound backends); ``None`` for no cap."""
    wants_oracle: ClassVar[bool] = False
    """True for test doubles only: the runner then hands each request the sample's targets
    (``Request.oracle``), which no real model may see. A backend of kind ``test-double`` wants
    them unless it says otherwise."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "wants_oracle" not in cls.__dict__ and cls.kind == "test-double":
            cls.wants_oracle = True

    def __init__(self, args: ModelArgs) -> None:
        self.args = args

    @property
    def min_concurrency(self) -> int:
        """Calls the runner keeps in flight at least (a batching backend's batch size)."""
        return 1

    async def generate(self, request: Request) -> ModelOutput:
        """Answer one request."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        """Hash of backend name, version and the arguments that decide answers."""
        # through args_dict, so a backend that keeps a value out of its records keeps it out here
        args = {k: v for k, v in self.args_dict().items() if k not in self.operational_args}
        blob = json.dumps(
            {"name": self.name, "version": self.version, "args": args}, sort_keys=True
        )
        return f"{self.name}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"

    async def in_thread(self, fn: Callable[..., T], *args: Any, pool: Executor | None = None) -> T:
        """Run blocking work (a CPU model) in a thread, keeping the call's slot until it ends.

        A thread cannot be interrupted. When the call is cancelled (the runner's ``--timeout``),
        this waits for the thread to finish before the cancellation goes on, so the next call
        never runs beside a stale one: ``max_concurrency`` holds and later latencies stay honest.
        Backends that compute in threads should use this rather than ``asyncio.to_thread``.
        ``pool`` runs it on the backend's own executor instead of the loop's default one.
        """
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(pool, functools.partial(fn, *args))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait({future})
            if not future.cancelled():
                future.exception()  # retrieved, so asyncio does not log it as lost
            raise

    def prompt_for(self, task: str, template: str) -> str | None:
        """This model's own prompt template for ``task`` (whose card template is given).

        ``None`` keeps the card's; a run's ``--prompt-file`` overrides both.
        """
        return None

    async def aclose(self) -> None:
        """Release clients, sessions or model memory."""

    def args_dict(self) -> dict[str, Any]:
        """Validated arguments as plain JSON values."""
        return self.args.model_dump(mode="json")


class ProtocolBackend(Backend):
    """A :class:`Backend` around an object that implements only the :class:`Model` protocol.

    Made by :func:`as_backend`, which copies the object's name and the traits it states onto a
    subclass of its own; everything else is delegated, with Backend's defaults where the object
    has nothing to say.
    """

    kind = "plugin"

    def __init__(self, model: Model) -> None:
        super().__init__(ModelArgs())
        self.model = model

    @property
    def min_concurrency(self) -> int:
        """The wrapped model's own, else 1."""
        return int(getattr(self.model, "min_concurrency", 1))

    async def generate(self, request: Request) -> ModelOutput:
        """The wrapped model's answer."""
        return await self.model.generate(request)

    def fingerprint(self) -> str:
        """The wrapped model's fingerprint."""
        return self.model.fingerprint()

    def prompt_for(self, task: str, template: str) -> str | None:
        """The wrapped model's own prompt for ``task``, if it has a ``prompt_for``."""
        own = getattr(self.model, "prompt_for", None)
        return own(task, template) if callable(own) else None

    async def aclose(self) -> None:
        """Close the wrapped model, if it has an ``aclose``."""
        own = getattr(self.model, "aclose", None)
        if callable(own):
            await own()

    def args_dict(self) -> dict[str, Any]:
        """The wrapped model's ``args_dict()``, if it has one, else no arguments."""
        own = getattr(self.model, "args_dict", None)
        return dict(own()) if callable(own) else {}


_TRAITS = ("max_concurrency", "decodes_pixels", "wants_oracle", "operational_args", "kind")


def as_backend(model: object) -> Backend:
    """``model`` as a :class:`Backend`: backends as they are, other ``Model`` objects wrapped.

    Raises:
        TypeError: ``model`` does not implement the ``Model`` protocol.
    """
    if isinstance(model, Backend):
        return model
    if not isinstance(model, Model):
        raise TypeError(
            f"{type(model).__name__} is not a model: a model has a name, an async "
            f"generate(request) and fingerprint() (see ps3_eval.models.Model)"
        )
    stated = {k: getattr(model, k) for k in _TRAITS if hasattr(model, k)}
    cls = type(type(model).__name__, (ProtocolBackend,), {"name": str(model.name), **stated})
    return cast("type[ProtocolBackend]", cls)(model)
