"""The model seam: anything with ``async generate(request) -> ModelOutput``."""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from ps3_eval.records import ModelOutput, Request

ModelKind = Literal["embedded", "local", "served", "api", "test-double", "plugin"]


class ModelArgs(BaseModel):
    """Base for a backend's arguments; unknown keys are rejected with the valid ones listed."""

    model_config = ConfigDict(extra="forbid")


@runtime_checkable
class Model(Protocol):
    """What the runner needs from a backend."""

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
    """Bump when the backend's behaviour changes, so cached answers are not replayed."""
    max_concurrency: ClassVar[int | None] = None
    """Cap on concurrent ``generate`` calls (CPU-bound backends); ``None`` for no cap."""

    def __init__(self, args: ModelArgs) -> None:
        self.args = args

    async def generate(self, request: Request) -> ModelOutput:
        """Answer one request."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        """Hash of backend name, version and arguments."""
        blob = json.dumps(
            {"name": self.name, "version": self.version, "args": self.args.model_dump(mode="json")},
            sort_keys=True,
        )
        return f"{self.name}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"

    async def aclose(self) -> None:
        """Release clients, sessions or model memory."""

    def args_dict(self) -> dict[str, Any]:
        """Validated arguments as plain JSON values."""
        return self.args.model_dump(mode="json")
