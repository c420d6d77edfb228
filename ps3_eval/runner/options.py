"""The options of a run: one typed model that ``evaluate``, ``ps3-eval run`` and sweeps share.

:class:`ResultOptions` are the options that decide what a run answers, so they are part of its
identity (a change starts another run in another folder); :class:`OperationalOptions` decide how
it runs (and where it is written), never its results, so changing them continues the same run.
:class:`RunSettings` is both (a sweep sets them for all its cells); :class:`RunOptions` adds the
task, the model and ``resume``.

Adding a run option: add the field to one of the two classes (with its check), then use it
where it takes effect: an option that decides results also goes into the run's spec
(``runner.session.run_spec`` and a ``RunSpec`` field in its ``identity``). ``evaluate`` takes it
as a keyword and a sweep spec as a key at once; ``ps3-eval run`` needs its ``--option``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ps3_eval.errors import UsageError
from ps3_eval.models.base import Model
from ps3_eval.tasks import Task


def _kind(value: Any) -> str:
    return type(value).__name__


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class ResultOptions(_Options):
    """The options that decide a run's results: each is part of the run's identity."""

    model_args: dict[str, Any] = Field(default_factory=dict)
    """Backend arguments (validated against the backend's ``Args``; with a model name only)."""
    data: str | None = None
    """Local copy of the task's data (parquet / jsonl / csv / save_to_disk / hub snapshot)."""
    task_args: dict[str, Any] = Field(default_factory=dict)
    """Arguments of the task's loader (``variant`` and ``split`` are every card's)."""
    limit: int | None = None
    """Only the first ``limit`` samples."""
    seed: int = 0
    """Seed for generation and the bootstrap."""
    max_tokens: int | None = None
    """Override of the card's generation ``max_tokens``."""
    prompt: str | None = None
    """A prompt template replacing the card's (and the model's own); ``{question}``,
    ``{options}`` and the card's kept columns are filled in."""
    judge: str | Model | None = None
    """A model (name, ``NAME:key=value`` spec or instance) that reads the answers the scoring
    rules cannot; its calls are cached and recorded apart from the model's."""
    image_side: int | None = None
    """Show the model each image at most this many pixels on its long side, downsampled from the
    original (a rung of a resolution ladder)."""
    no_image: bool = False
    """Ask without the images (is the question answerable without looking?)."""

    @field_validator("model_args", "task_args", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("judge", mode="before")
    @classmethod
    def _judge(cls, value: Any) -> Any:
        if value is None or isinstance(value, str | Model):
            return value
        raise ValueError(f"judge must be a model name or a model object, got {_kind(value)}")

    @field_validator("limit")
    @classmethod
    def _limit(cls, value: int | None) -> int | None:
        if value is not None and value <= 0:
            raise ValueError(f"limit must be a positive number of samples, got {value}")
        return value

    @field_validator("max_tokens")
    @classmethod
    def _max_tokens(cls, value: int | None) -> int | None:
        if value is not None and value <= 0:
            raise ValueError(f"max_tokens must be at least 1, got {value}")
        return value

    @field_validator("image_side")
    @classmethod
    def _image_side(cls, value: int | None) -> int | None:
        if value is not None and value < 16:
            raise ValueError(f"image_side must be at least 16 pixels, got {value}")
        return value

    @model_validator(mode="after")
    def _one_way_to_show(self) -> ResultOptions:
        if self.image_side is not None and self.no_image:
            raise ValueError(
                "give image_side or no_image, not both: without images there is no side"
            )
        return self


class OperationalOptions(_Options):
    """The options that decide how a run is made, never its results (not in its identity)."""

    concurrency: int = 8
    """Model calls in flight at once (capped by the backend's own limit)."""
    prefetch: int | None = None
    """Samples decoded ahead of the model (default ``2 * decode_workers``)."""
    decode_workers: int | None = None
    """Threads that decode images (default: the cores, 2 to 8)."""
    timeout: float | None = None
    """Seconds per model call before it is recorded as an error."""
    output_dir: str | Path = "runs"
    """Parent folder of run directories."""
    cache: str | Path | None = None
    """SQLite file of the response cache; ``None`` disables caching (judge calls are cached
    under the cache root then)."""
    shard: str | tuple[int, int] | None = None
    """``"k/n"`` or ``(k, n)``: run every n-th sample from the k-th into the run's
    ``shards/k-of-n/`` folder; the last shard to end merges all of them into the run's folder.
    Under torchrun / accelerate launch (``WORLD_SIZE`` > 1) it defaults to ``RANK + 1`` of
    ``WORLD_SIZE``."""
    wait: bool = False
    """When another process is running the same run (its folder is locked), wait for it to end
    instead of raising ``RunLocked``."""

    @field_validator("concurrency")
    @classmethod
    def _concurrency(cls, value: int) -> int:
        if value <= 0:
            raise ValueError(f"concurrency must be at least 1, got {value}")
        return value

    @field_validator("prefetch", "decode_workers")
    @classmethod
    def _count(cls, value: int | None) -> int | None:
        if value is not None and value <= 0:
            raise ValueError(f"must be at least 1, got {value}")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {value:g}")
        return value


class RunSettings(ResultOptions, OperationalOptions):
    """Every option of a run but which task and model (what a sweep sets for all its cells)."""


class RunOptions(RunSettings):
    """Everything that says which run to make and how: what ``evaluate`` takes.

    ``task`` and ``model`` are required unless ``resume`` names a run folder, whose recorded
    spec then decides every result option (the ones given here are not used).
    """

    task: str | Task = ""
    """Registered task name, card path, or a loaded ``Task``."""
    model: str | Model = ""
    """Registered backend name (``NAME:key=value,...`` allowed), a backend instance, or any
    object implementing the ``Model`` protocol."""
    resume: str | Path | None = None
    """An existing run directory to finish, as recorded."""

    @field_validator("task", mode="before")
    @classmethod
    def _task(cls, value: Any) -> Any:
        if isinstance(value, str | Task):
            return value
        raise ValueError(f"task must be a task name, card path or Task, got {_kind(value)}")

    @field_validator("model", mode="before")
    @classmethod
    def _model(cls, value: Any) -> Any:
        if isinstance(value, str | Model):
            return value
        raise ValueError(
            f"model must be a backend name or an object with a name, generate() and "
            f"fingerprint() (the Model protocol), got {_kind(value)}"
        )

    @model_validator(mode="after")
    def _consistent(self) -> RunOptions:
        if self.model_args and not isinstance(self.model, str):
            raise ValueError("pass model_args only with a model name, not a model instance")
        return self

    @classmethod
    def of(cls, base: RunSettings | None = None, **options: Any) -> RunOptions:
        """Options from keywords, over ``base`` (a sweep's settings, other options) if given.

        Raises:
            UsageError: an unknown option or a value out of range, in one line.
        """
        given = {}
        if base is not None:  # the values themselves (a judge or task object is kept as is)
            shared = type(base).model_fields.keys() & cls.model_fields.keys()
            given = {k: getattr(base, k) for k in shared}
        try:
            return cls.model_validate({**given, **options})
        except ValidationError as exc:
            raise usage_error(exc, cls) from None


def usage_error(exc: ValidationError, cls: type[BaseModel]) -> UsageError:
    """The first problem of options that do not validate, as one line."""
    err = exc.errors()[0]
    name = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        known = ", ".join(sorted(cls.model_fields))
        return UsageError(f"unknown run option '{name}'; the options are: {known}.")
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "value_error" and (not name or msg.startswith(name)):
        return UsageError(f"{msg}.")
    return UsageError(f"{name}: {msg}.")
