"""``ps3-eval sweep``, ``encoder-study`` and ``demo``: grids of runs, run and reduced."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ps3_eval.cli.common import EXIT_ERRORS, kv
from ps3_eval.console import demo_table, err, fmt, out, sweep_table
from ps3_eval.errors import UsageError
from ps3_eval.progress import progress_view, rerun_resumes


def sweep_cmd(
    spec: Annotated[Path, typer.Argument(help="The sweep spec (YAML).")],
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check every cell (task arguments and data included) and list the cells, "
            "their run directories and state; nothing runs.",
        ),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Wait for a cell another process is running to end."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the cells as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run a grid of runs; running it again resumes it cell by cell.

    Exits 1 when a cell could not run, 3 when cells ended with error records.
    """
    from ps3_eval.sweep import load_spec, run_sweep

    parsed = load_spec(spec)
    view = progress_view(err, quiet or dry_run)

    def ended(cell: Any) -> None:
        view.stop()
        if not as_json:
            what = cell.error if cell.status == "failed" else f"{cell.metric}={fmt(cell.value)}"
            err.print(f"{cell.label}: {cell.status}  {what}", highlight=False, soft_wrap=True)

    with rerun_resumes(view, f"ps3-eval sweep {spec}"):
        result = run_sweep(
            parsed,
            dry_run=dry_run,
            wait=wait,
            on_cell=None if dry_run else ended,
            on_start=lambda c, p, d: view.start(c.label, p),
            on_progress=lambda c, p: view.update(p),
        )
    if as_json:
        import json

        print(json.dumps([c.model_dump(mode="json") for c in result], indent=2))
    else:
        out.print(sweep_table(parsed.name, result))
    if dry_run:
        return
    failed = [c for c in result if c.status == "failed"]
    if failed:
        err.print(
            f"{len(failed)} of {len(result)} cells failed: {', '.join(c.label for c in failed)}",
            soft_wrap=True,
            highlight=False,
        )
        raise typer.Exit(1)
    with_errors = [c for c in result if c.n_errors]
    if with_errors:
        n = sum(c.n_errors or 0 for c in with_errors)
        err.print(
            f"{n} samples in {len(with_errors)} of {len(result)} cells ended in an error (not "
            f"scored): {', '.join(c.label for c in with_errors)}; a re-run retries them: "
            f"ps3-eval sweep {spec}",
            soft_wrap=True,
            highlight=False,
        )
        raise typer.Exit(EXIT_ERRORS)


def encoder_study_cmd(
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="ps3:model=ID_OR_FOLDER[,k=v] (PS3 alone), or vila-hd:model=... (VILA-HD's "
            "own top-down selection, where VILA is installed)",
        ),
    ],
    task: Annotated[str, typer.Option("--task", "-t", help="Task whose images are encoded.")] = (
        "probe4k"
    ),
    budgets: Annotated[
        str, typer.Option(help="num_token_look_close values, comma-separated (0 and all allowed).")
    ] = "0,1024,2048,4096,all",
    modes: Annotated[
        str, typer.Option(help="after_image (bottom-up) and/or after_prompt (top-down).")
    ] = "after_image",
    data: Annotated[str | None, typer.Option(help="Local copy of the task's data.")] = None,
    task_arg: Annotated[
        list[str] | None, typer.Option("--task-arg", help="Task loader argument key=value.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N images.")] = None,
    output_dir: Annotated[Path, typer.Option(help="Parent folder of run directories.")] = Path(
        "runs"
    ),
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder of the table and figures.")
    ] = Path("reports/encoder-study"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """PS3 encoder latency, tokens, recall and memory against num_token_look_close."""
    from ps3_eval.encoder_study import BACKENDS, encoder_study
    from ps3_eval.models import parse_model_spec

    name, args = parse_model_spec(model)
    if name not in BACKENDS:
        raise UsageError(
            f"encoder-study runs the ps3 or vila-hd backend; got '{name}' (use -m ps3:model=...)."
        )
    values: list[int | str] = [
        b if b == "all" else int(b) if b.isdigit() else b
        for b in (x.strip() for x in budgets.split(","))
        if b
    ]
    view = progress_view(err, quiet)
    with rerun_resumes(view, "the same command again"):
        study = encoder_study(
            task,
            args,
            values,
            modes=[m.strip() for m in modes.split(",") if m.strip()],
            task_args=kv(task_arg, "task argument", numbers=True) or None,
            data=data,
            limit=limit,
            output_dir=output_dir,
            out=out_dir,
            backend=name,
            on_start=lambda label, p, d: view.start(label, p),
            on_progress=lambda label, p: view.update(p),
        )
    out.print(study.markdown.read_text(), highlight=False, soft_wrap=True)
    for path in (study.csv, *study.figures):
        out.print(str(path), highlight=False, soft_wrap=True)


def demo_cmd(
    n: Annotated[
        int, typer.Option(help="probe4k items (multiples of 12 balance everything).")
    ] = 24,
    seed: Annotated[int, typer.Option(help="probe4k generator seed.")] = 0,
    output_dir: Annotated[Path, typer.Option(help="Parent folder of run directories.")] = Path(
        "runs"
    ),
    report_dir: Annotated[Path, typer.Option(help="Where report.html and report.md go.")] = Path(
        "reports/demo"
    ),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Offline demo: probe4k read by the CPU OCR reader at 756/1512/3780 and with selection.

    It is the sweep spec shipped as ps3_eval/benchmarks/sweeps/demo.yaml, run and reported.
    """
    from ps3_eval.demo import run_demo

    if n <= 0:
        raise UsageError(f"--n must be a positive number of items, got {n}.")
    view = progress_view(err, quiet)
    with rerun_resumes(view, "ps3-eval demo (the same command again)"):
        result = run_demo(
            n=n,
            seed=seed,
            output_dir=output_dir,
            report_dir=report_dir,
            on_start=lambda label, p, d: view.start(label, p),
            on_progress=lambda label, p: view.update(p),
        )
    out.print(demo_table(result.report.rows))
    for line in result.report.findings:
        out.print(f"- {line}", soft_wrap=True, highlight=False)
    out.print(f"report: {result.report.html}", soft_wrap=True, highlight=False)
