"""Tasks: a card plus its data, turned into samples, prompts and scores.

The package's parts: ``card`` (the YAML card, validated), ``loading`` (opening the data in each
layout it comes in), ``fields`` (turning a row into a ``Sample`` by the card's column map) and
``task`` (the ``Task`` that uses them, builds prompts and scores).
"""

from __future__ import annotations

from typing import Any

from ps3_eval.tasks.card import TaskCard, discover, find_card, read_card
from ps3_eval.tasks.fields import BrokenSample, RowMapping, split_inline_choices
from ps3_eval.tasks.task import Opened, Task

__all__ = [
    "BrokenSample",
    "Opened",
    "RowMapping",
    "Task",
    "TaskCard",
    "discover",
    "find_card",
    "list_tasks",
    "load_task",
    "read_card",
    "split_inline_choices",
]


def load_task(
    task: str,
    data: str | None = None,
    args: dict[str, Any] | None = None,
    prompt: str | None = None,
) -> Task:
    """Load a task by registered name or card path, optionally on a local copy of its data.

    Args:
        task: Registered name or card file.
        data: Local copy of the data (any layout the loader knows).
        args: Arguments of the card's custom loader.
        prompt: A prompt template replacing the card's.
    """
    return Task(find_card(task), data=data, args=args, prompt=prompt)


def list_tasks() -> list[TaskCard]:
    """All registered cards, by name."""
    return [read_card(p).card for _, p in sorted(discover().items())]
