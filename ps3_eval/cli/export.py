"""``ps3-eval export ...`` and ``ps3-eval paper ...``: work for other harnesses, paper recipes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ps3_eval.cli.common import kv
from ps3_eval.console import example, out

export_app = typer.Typer(help="Write a task for another harness.", no_args_is_help=False)


@export_app.command("lmms", epilog=example("export lmms"))
def export_lmms_cmd(
    task: Annotated[str, typer.Argument(help="Task name or card path (e.g. 4kpro, probe4k).")],
    to: Annotated[Path, typer.Option("--to", help="A new or empty folder.")],
    data: Annotated[str | None, typer.Option(help="Local copy of the task's data.")] = None,
    task_arg: Annotated[
        list[str] | None, typer.Option("--task-arg", help="Task loader argument key=value.")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="lmms-eval task name (default ps3_<task>[_<args hash>]).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace a previous export in --to.")] = False,
) -> None:
    """Write an lmms-eval task folder (YAML, utils.py, data) that scores like ps3-eval."""
    from ps3_eval.tasks.lmms_export import INSTALL, export_lmms

    yaml_file = export_lmms(
        task,
        to,
        data=data,
        args=kv(task_arg, "task argument", numbers=True) or None,
        name=name,
        force=force,
    )
    out.print(
        f"wrote {yaml_file}\nrun it with: lmms-eval --include_path {yaml_file.parent} "
        f"--tasks {yaml_file.stem} --model ...\n({INSTALL})",
        soft_wrap=True,
        highlight=False,
    )


@export_app.command("submission", epilog=example("export submission"))
def export_submission_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A complete run (e.g. mmbench, split=test).")],
    to: Annotated[Path, typer.Option("--to", help="The file to write (.xlsx).")],
) -> None:
    """Write a run in its benchmark server's submission format (MMBench's Excel file)."""
    from ps3_eval.submission import export_submission

    path = export_submission(run_dir, to)
    out.print(f"wrote {path}", soft_wrap=True, highlight=False)


paper_app = typer.Typer(
    help="The paper's tables: recipes that reproduce them.", no_args_is_help=True
)


@paper_app.command("recipe", epilog=example("paper recipe"))
def paper_recipe_cmd(
    table: Annotated[str, typer.Argument(help="table1, table2 or table13.")],
    to: Annotated[Path, typer.Option("--to", help="The sweep spec to write (YAML).")],
    row: Annotated[
        list[str] | None,
        typer.Option("--row", help="Row number, model name or label (repeatable; default all)."),
    ] = None,
    task: Annotated[
        list[str] | None, typer.Option("--task", "-t", help="Benchmarks to run (repeatable).")
    ] = None,
    data: Annotated[str | None, typer.Option(help="Local copy of the one task chosen.")] = None,
    checkpoint: Annotated[
        str | None, typer.Option(help="Checkpoint for rows whose model is not published.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N samples per task.")] = None,
    output_dir: Annotated[str, typer.Option(help="Parent folder of the runs.")] = "runs",
) -> None:
    """Write the sweep spec that reproduces a table's VILA-HD rows (checkpoint and controls)."""
    from ps3_eval.recipes import recipe_spec, write_recipe

    spec = recipe_spec(
        table, row or (), tasks=task, data=data, checkpoint=checkpoint, limit=limit,
        output_dir=output_dir,
    )  # fmt: skip
    path = write_recipe(spec, to)
    labels = spec.zip["label"]
    out.print(
        f"wrote {path}: {len(labels)} row(s) x {len(spec.tasks)} task(s) "
        f"({', '.join(map(str, labels))})\nrun it with: ps3-eval sweep {path} && "
        f"ps3-eval report {path}",
        soft_wrap=True,
        highlight=False,
    )
