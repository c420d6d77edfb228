"""The ``ps3-eval`` Typer app: every command and command group, registered in help order.

A command is a function in the module of its group (``runs``, ``catalog``, ``sweeps``,
``reports``; ``export``, and the ``curate`` and ``mrr`` packages for groups); adding one means
writing it there, naming it below, and giving it an example in ``console.EXAMPLES``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from ps3_eval.cli import catalog, reports, runs, sweeps
from ps3_eval.cli.export import export_app, paper_app
from ps3_eval.console import example
from ps3_eval.curate.cli import app as curate_app
from ps3_eval.mrr.cli import app as mrr_app

app = typer.Typer(
    name="ps3-eval",
    help="Evaluate high-resolution vision-language models (PS3 / VILA-HD / 4KPro).",
    no_args_is_help=False,  # no command: one usage line (run_cli), not the whole help
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from ps3_eval.version import __version__

        print(f"ps3-eval {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Evaluate high-resolution vision-language models (PS3 / VILA-HD / 4KPro)."""


COMMANDS: list[tuple[str, Callable[..., Any]]] = [
    ("run", runs.run_cmd),
    ("merge", runs.merge_cmd),
    ("show", runs.show_cmd),
    ("tasks", catalog.tasks_cmd),
    ("data", catalog.data_cmd),
    ("models", catalog.models_cmd),
    ("runs", runs.runs_cmd),
    ("sweep", sweeps.sweep_cmd),
    ("report", reports.report_cmd),
    ("plot", reports.plot_cmd),
    ("compare", runs.compare_cmd),
    ("encoder-study", sweeps.encoder_study_cmd),
    ("demo", sweeps.demo_cmd),
]
"""The top-level commands, in the order ``ps3-eval --help`` lists them."""

for _name, _command in COMMANDS:
    app.command(_name, epilog=example(_name))(_command)

app.add_typer(curate_app, name="curate")
app.add_typer(export_app, name="export")
app.add_typer(mrr_app, name="mrr")
app.add_typer(paper_app, name="paper")
