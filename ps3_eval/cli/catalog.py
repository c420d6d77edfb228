"""``ps3-eval tasks``, ``models`` and ``data``: what can be run, and a task's data saved."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ps3_eval.cli.common import kv
from ps3_eval.console import out, print_models, tasks_table
from ps3_eval.errors import Ps3EvalError


def tasks_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print the cards as JSON.")] = False,
) -> None:
    """List registered task cards."""
    from ps3_eval.tasks import discover, read_card

    if as_json:
        import json

        cards = []
        for name, path in sorted(discover().items()):
            try:
                cards.append({**read_card(path).card.model_dump(mode="json"), "path": str(path)})
            except Ps3EvalError as exc:
                cards.append({"name": name, "path": str(path), "error": str(exc)})
        print(json.dumps(cards, indent=2))
        return
    out.print(tasks_table(discover()))


def data_cmd(
    task: Annotated[str, typer.Argument(help="Task name or card file path.")],
    to: Annotated[Path, typer.Option("--to", help="Folder to write (new or empty).")],
    fmt: Annotated[
        str, typer.Option("--format", help="dataset (a save_to_disk copy) or 4kpro.")
    ] = "dataset",
    data: Annotated[
        str | None, typer.Option(help="Read this local copy instead of the card's source.")
    ] = None,
    task_arg: Annotated[
        list[str] | None, typer.Option("--task-arg", help="Task loader argument key=value.")
    ] = None,
) -> None:
    """Fetch a task's data once and save it for machines without hub access."""
    from ps3_eval.tasks.export import save_data

    n = save_data(
        task, to, fmt=fmt, data=data, args=kv(task_arg, "task argument", numbers=True) or None
    )
    run_task = "4kpro" if fmt == "4kpro" else task
    out.print(
        f"saved {n} rows to {to}; run them with: ps3-eval run --task {run_task} --data {to} ...",
        soft_wrap=True,
        highlight=False,
    )


def models_cmd(
    name: Annotated[
        str | None, typer.Argument(help="Only this backend (default: every backend).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the backends as JSON.")] = False,
) -> None:
    """List model backends with their arguments, types (allowed values) and defaults."""
    from ps3_eval.models import _resolve, list_models

    entries = list_models()
    if name is not None:
        _resolve(name)  # an unknown name: one line with the nearest and the valid ones
        entries = [e for e in entries if e.name == name]
    if as_json:
        import dataclasses
        import json

        print(json.dumps([dataclasses.asdict(e) for e in entries], indent=2, default=str))
        return
    print_models(entries)
