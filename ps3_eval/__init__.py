"""ps3-eval: evaluation toolkit for high-resolution vision-language models."""

from ps3_eval.analysis import runs_df, samples_df
from ps3_eval.models import build_model, list_models, register_model
from ps3_eval.records import (
    ModelOutput,
    Request,
    RunSpec,
    RunSummary,
    Sample,
    SampleResult,
    Usage,
)
from ps3_eval.rundir import Run, load_run
from ps3_eval.runner import Progress, RunOptions, evaluate, evaluate_async
from ps3_eval.tasks import Task, list_tasks, load_task
from ps3_eval.version import __version__

__all__ = [
    "ModelOutput",
    "Progress",
    "Request",
    "Run",
    "RunOptions",
    "RunSpec",
    "RunSummary",
    "Sample",
    "SampleResult",
    "Task",
    "Usage",
    "__version__",
    "build_model",
    "evaluate",
    "evaluate_async",
    "list_models",
    "list_tasks",
    "load_run",
    "load_task",
    "register_model",
    "runs_df",
    "samples_df",
]
