"""The ``ps3-eval`` command line: a thin layer over the Python API.

Exit codes: 0 done; 1 an unexpected failure (a sweep cell that could not run); 2 bad input (a
usage error, an unknown name or argument, an unwritable folder, a run another process holds);
3 the run ended with error records (a re-run retries them); 130 interrupted (Ctrl-C); 143
stopped by SIGTERM. Interrupted and stopped runs keep every finished sample.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.markup import escape

from ps3_eval.console import (
    compare_lines,
    compare_table,
    demo_table,
    err,
    example,
    fmt,
    out,
    print_models,
    print_summary,
    runs_table,
    sweep_table,
    table,
)
from ps3_eval.errors import Ps3EvalError, UsageError
from ps3_eval.mrr.cli import app as mrr_app
from ps3_eval.progress import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    note_terminated,
    progress_view,
    rerun_resumes,
    stopped_exit,
    was_terminated,
)

EXIT_ERRORS = 3
"""Exit code of a run (or sweep) that ended with error records: a re-run retries them."""

app = typer.Typer(
    name="ps3-eval",
    help="Evaluate high-resolution vision-language models (PS3 / VILA-HD / 4KPro).",
    no_args_is_help=False,  # no command: one usage line (run_cli), not the whole help
    add_completion=False,
    pretty_exceptions_enable=False,
)

def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Stop as Ctrl-C stops: hand the signal to whatever handles SIGINT now.

    During a run that is asyncio's handler, which cancels the run so that finished samples and
    the summary are written; elsewhere it is Python's, which raises KeyboardInterrupt.
    """
    note_terminated()
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:  # SIGINT ignored (a background job): interrupt all the same
        signal.default_int_handler(signal.SIGINT, frame)


def _kv(pairs: list[str] | None, what: str, numbers: bool = False) -> dict[str, Any]:
    from ps3_eval.models import parse_assignments

    return parse_assignments(pairs or [], what, numbers)


def _show(summary: Any, as_json: bool, run_dir: Path | None = None) -> None:
    """A summary as JSON (for scripts) or as the terminal table."""
    if as_json:
        out.print_json(summary.model_dump_json())
    else:
        print_summary(summary, run_dir=run_dir)


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


@app.command("run", epilog=example("run"))
def run_cmd(
    task: Annotated[
        str,
        typer.Option(
            "--task", "-t", help="Task name or card file path (required unless --resume)."
        ),
    ] = "",
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m", help="Backend, NAME or NAME:k=v,... (required unless --resume)."
        ),
    ] = "",
    model_arg: Annotated[
        list[str] | None, typer.Option("--model-arg", "-a", help="Backend argument key=value.")
    ] = None,
    data: Annotated[str | None, typer.Option(help="Local copy of the task's data.")] = None,
    task_arg: Annotated[
        list[str] | None, typer.Option("--task-arg", help="Task loader argument key=value.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N samples.", min=1)] = None,
    seed: Annotated[int, typer.Option(help="Seed for generation and bootstrap.")] = 0,
    concurrency: Annotated[int, typer.Option(help="Model calls in flight.", min=1)] = 8,
    timeout: Annotated[float | None, typer.Option(help="Seconds per model call.")] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="Override the card's max_tokens.", min=1)
    ] = None,
    output_dir: Annotated[Path, typer.Option(help="Parent folder of run directories.")] = Path(
        "runs"
    ),
    resume: Annotated[
        Path | None, typer.Option(help="Finish this run directory (its spec is reused).")
    ] = None,
    cache: Annotated[bool, typer.Option(help="Replay and store answers in the response cache.")] = (
        False
    ),
    cache_file: Annotated[
        Path | None,
        typer.Option(
            help="SQLite file of the response cache (default: responses.sqlite under "
            "$PS3_EVAL_CACHE or ~/.cache/ps3_eval)."
        ),
    ] = None,
    prompt_file: Annotated[
        Path | None,
        typer.Option(help="Prompt template file replacing the card's ({question}, {options})."),
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option(help="Model that reads answers the rules cannot, e.g. openai:model=gpt-4o."),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            help="Run shard k of n (every n-th sample from the k-th), e.g. 2/4; the last shard "
            "to end merges them. Under torchrun / accelerate launch it comes from RANK/WORLD_SIZE."
        ),
    ] = None,
    image_side: Annotated[
        int | None,
        typer.Option(
            help="Show the model each image at most this many pixels on its long side "
            "(downsampled from the original; a rung of a resolution ladder)."
        ),
    ] = None,
    no_image: Annotated[
        bool, typer.Option("--no-image", help="Ask without the images (answerable blind?).")
    ] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="If another process is running this run, wait for it to end."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Evaluate a model on a task; re-running the same command resumes it.

    Exits 3 when samples ended in errors (running it again retries them).
    """
    from ps3_eval.paths import response_cache_file
    from ps3_eval.runner import RunOptions, evaluate

    if resume is None and (not task or not model):
        raise UsageError(
            "give --task and --model (or --resume RUN_DIR); see `ps3-eval tasks` "
            "and `ps3-eval models`."
        )
    prompt = None
    if prompt_file is not None:
        try:
            prompt = prompt_file.read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise UsageError(f"cannot read --prompt-file {prompt_file}: {exc.strerror}.") from None
        if not prompt.strip():
            raise UsageError(f"--prompt-file {prompt_file} is empty; write a template in it.")
    options = RunOptions.of(
        task=task,
        model=model,
        model_args=_kv(model_arg, "model argument"),
        data=data,
        task_args=_kv(task_arg, "task argument", numbers=True) or None,
        limit=limit,
        seed=seed,
        concurrency=concurrency,
        timeout=timeout,
        output_dir=output_dir,
        resume=resume,
        cache=(cache_file or response_cache_file()).expanduser() if cache else None,
        max_tokens=max_tokens,
        prompt=prompt,
        judge=judge,
        shard=shard,
        image_side=image_side,
        no_image=no_image,
        wait=wait,
    )
    run_dir: list[Path] = []
    view = progress_view(err, quiet)

    def started(p: Any, d: Path) -> None:
        run_dir.append(d)
        view.start(d.name, p)

    try:
        summary = evaluate(options=options, on_progress=view.update, on_start=started)
    except KeyboardInterrupt:
        view.stop()
        resume_at = run_dir[0] if run_dir else "RUN_DIR"
        raise stopped_exit(f"ps3-eval run --resume {resume_at}") from None
    finally:
        view.stop()
    where = run_dir[0] if run_dir else None
    _show(summary, as_json, where)
    if not as_json:
        out.print(f"[dim]saved to {where or output_dir}[/dim]", soft_wrap=True, highlight=False)
    if summary.spec.shard and run_dir:
        from ps3_eval.runner.shards import merged_into

        whole, merged = merged_into(run_dir[0], summary.finished_at)
        err.print(
            f"shard {summary.spec.shard}: "
            + (f"all shards merged into {whole}" if merged else "other shards still to end")
            + f" (ps3-eval merge {whole} merges by hand)",
            soft_wrap=True,
            highlight=False,
        )
    if summary.n_errors:
        if as_json:
            from ps3_eval.console import retry_hint

            err.print(retry_hint(summary, where), soft_wrap=True, highlight=False, markup=False)
        raise typer.Exit(EXIT_ERRORS)


@app.command("merge", epilog=example("merge"))
def merge_cmd(
    run_dir: Annotated[Path, typer.Argument(help="The run folder whose shards/ to merge.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Merge a run's shards (ps3-eval run --shard k/n) into the run's own folder."""
    from ps3_eval.runner.shards import merge

    summary = merge(run_dir)
    _show(summary, as_json, run_dir)
    if not as_json:
        out.print(f"[dim]merged into {run_dir}[/dim]", soft_wrap=True, highlight=False)


@app.command("show", epilog=example("show"))
def show_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Print a run's summary again, with the arguments it was run with."""
    from ps3_eval.analysis import load_run

    run = load_run(run_dir)
    if run.summary is None:
        raise UsageError(
            f"{run_dir} has no summary.json yet; finish it with `ps3-eval run --resume {run_dir}`."
        )
    _show(run.summary, as_json, run_dir)


@app.command("tasks", epilog=example("tasks"))
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
    from rich.markup import escape

    listing = table("name", "version", "source", "scorer", "description", title="tasks")
    for name, path in sorted(discover().items()):
        try:
            card = read_card(path).card
        except Ps3EvalError as exc:
            listing.add_row(name, "-", escape(str(path)), "-", f"[red]{escape(str(exc))}[/red]")
            continue
        src = card.source.hf or card.source.path or card.source.loader or "local copy (--data)"
        if card.source.hf:
            config = f" {card.source.config}" if card.source.config else ""
            src = f"{src}{config} [{card.source.split}]"
        listing.add_row(
            *(escape(x) for x in (card.name, card.version, src, card.scorer, card.description))
        )
    out.print(listing)


@app.command("data", epilog=example("data"))
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
        task, to, fmt=fmt, data=data, args=_kv(task_arg, "task argument", numbers=True) or None
    )
    run_task = "4kpro" if fmt == "4kpro" else task
    out.print(
        f"saved {n} rows to {to}; run them with: ps3-eval run --task {run_task} --data {to} ...",
        soft_wrap=True,
        highlight=False,
    )


@app.command("models", epilog=example("models"))
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


@app.command("runs", epilog=example("runs"))
def runs_cmd(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Run directories or folders of them (default runs).")
    ] = None,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print CSV (one row per run, every metric).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records.")] = False,
    samples: Annotated[
        bool, typer.Option("--samples", help="One row per sample instead (with --csv or --json).")
    ] = False,
) -> None:
    """One row per run: task, model, the arguments that differ, each metric with its CI."""
    from ps3_eval.analysis import runs_df, samples_df

    if as_csv and as_json:
        raise UsageError("--csv and --json print different formats; give one of them.")
    if samples and not (as_csv or as_json):
        raise UsageError("--samples prints one row per sample; add --csv or --json.")
    frame = (samples_df if samples else runs_df)([str(p) for p in paths] if paths else "runs")
    if frame.empty:
        raise UsageError("no run directories found; pass run folders (default: runs/).")
    if as_csv:
        print(frame.to_csv(index=False), end="")
    elif as_json:
        print(frame.to_json(orient="records", indent=2))
    else:
        out.print(runs_table(frame))


@app.command("sweep", epilog=example("sweep"))
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


_SOURCES_HELP = "Run directories, folders of them, or a sweep spec (YAML); default runs/."
# The run filters ps3-eval report and ps3-eval plot share.
_TaskFilter = Annotated[str | None, typer.Option(help="Keep runs of this task.")]
_ModelFilter = Annotated[str | None, typer.Option(help="Keep runs of this backend.")]
_WhereFilter = Annotated[
    list[str] | None, typer.Option(help="Keep runs whose model argument is KEY=VALUE (repeat).")
]
_SeriesOption = Annotated[
    str | None, typer.Option(help="Model argument that names each run's series in figures.")
]


def _sources(given: list[str] | None) -> str | list[str]:
    """One source as itself (a sweep spec is one file), several as a list; default runs/."""
    picked = given or ["runs"]
    return picked[0] if len(picked) == 1 else picked


def _where(pairs: list[str] | None) -> dict[str, str]:
    return {k: str(v) for k, v in _kv(pairs, "--where").items()}


@app.command("report", epilog=example("report"))
def report_cmd(
    sources: Annotated[list[str] | None, typer.Argument(help=_SOURCES_HELP)] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for report.html, report.md, figures/.")
    ] = Path("reports/report"),
    paper: Annotated[
        list[str] | None,
        typer.Option(help="Paper table to set beside the runs: table13 or table13:PS3 (repeat)."),
    ] = None,
    title: Annotated[str | None, typer.Option(help="The report's title.")] = None,
    metric: Annotated[str | None, typer.Option(help="Metric to report (default: primary).")] = None,
    task: _TaskFilter = None,
    model: _ModelFilter = None,
    where: _WhereFilter = None,
    series: _SeriesOption = None,
    gallery: Annotated[int, typer.Option(help="Samples in the gallery (0: none).", min=0)] = 24,
    no_static: Annotated[
        bool, typer.Option("--no-static", help="Skip the PNG figures of report.md.")
    ] = False,
) -> None:
    """Write an HTML and a Markdown report of one run, a sweep, or a set of runs."""
    from ps3_eval.report import build_report

    report = build_report(
        _sources(sources),
        out=out_dir,
        title=title,
        paper=paper,
        metric=metric,
        task=task,
        model=model,
        where=_where(where),
        series=series,
        gallery=gallery,
        static=not no_static,
    )
    incomplete = [r for r in report.rows if not r.complete]
    for r in incomplete:
        err.print(f"{r.label}: {r.status}", highlight=False, soft_wrap=True)
    for note in report.paper_notes:
        err.print(note, highlight=False, soft_wrap=True)
    n = len(report.rows)
    out.print(
        f"{n} run{'' if n == 1 else 's'} ({len(incomplete)} incomplete), "
        f"{len(report.figures)} figures, {len(report.paper)} paper values",
        highlight=False,
    )
    out.print(
        f"report: {report.html}\nmarkdown: {report.markdown}", soft_wrap=True, highlight=False
    )


@app.command("plot", epilog=example("plot"))
def plot_cmd(
    kind: Annotated[
        str,
        typer.Argument(help="accuracy, tokens, resolution, selection, latency, category or mrr."),
    ],
    sources: Annotated[list[str] | None, typer.Argument(help=_SOURCES_HELP)] = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="File to write: .html, .png or .svg (default KIND.html)."),
    ] = None,
    metric: Annotated[str | None, typer.Option(help="Metric to plot (default: primary).")] = None,
    task: _TaskFilter = None,
    model: _ModelFilter = None,
    where: _WhereFilter = None,
    series: _SeriesOption = None,
) -> None:
    """Draw one figure from the runs chosen by the filters."""
    from ps3_eval.report import plot

    path = plot(
        kind,
        _sources(sources),
        out=out_file,
        metric=metric,
        task=task,
        model=model,
        where=_where(where),
        series=series,
    )
    out.print(str(path), soft_wrap=True, highlight=False)


@app.command("compare", epilog=example("compare"))
def compare_cmd(
    run_a: Annotated[Path, typer.Argument(help="The baseline run directory.")],
    run_b: Annotated[Path, typer.Argument(help="The run compared with it.")],
    metric: Annotated[str | None, typer.Option(help="Sample metric (default: the first).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the paired bootstrap.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
    show: Annotated[int, typer.Option(help="Flipped samples to list.", min=0)] = 20,
) -> None:
    """Paired difference of B minus A on their shared samples, with McNemar's exact test."""
    from ps3_eval.compare import compare_runs
    from ps3_eval.rundir import RunDir

    c = compare_runs(run_a, run_b, metric=metric, seed=seed)
    if as_json:
        out.print_json(c.model_dump_json())
        return
    out.print(compare_table(c))
    for line in compare_lines(c, RunDir(run_a).read_spec(), RunDir(run_b).read_spec()):
        out.print(line, highlight=False, soft_wrap=True, markup=False)
    if c.n_only_a or c.n_only_b:
        out.print(f"left out: {c.n_only_a} scored only in A, {c.n_only_b} only in B")
    for f in c.flipped[:show]:
        out.print(f"  {f.sample_id}: {f.a:g} -> {f.b:g}", highlight=False)
    if len(c.flipped) > show:
        out.print(f"  ... and {len(c.flipped) - show} more flipped samples")


@app.command("encoder-study", epilog=example("encoder-study"))
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
            task_args=_kv(task_arg, "task argument", numbers=True) or None,
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


from ps3_eval.curate.cli import app as curate_app  # noqa: E402 - its module imports lightly

app.add_typer(curate_app, name="curate")

export_app = typer.Typer(help="Write a task for another harness.", no_args_is_help=False)
app.add_typer(export_app, name="export")
app.add_typer(mrr_app, name="mrr")


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
        args=_kv(task_arg, "task argument", numbers=True) or None,
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
    from ps3_eval.tasks.submission import export_submission

    path = export_submission(run_dir, to)
    out.print(f"wrote {path}", soft_wrap=True, highlight=False)


paper_app = typer.Typer(
    help="The paper's tables: recipes that reproduce them.", no_args_is_help=True
)
app.add_typer(paper_app, name="paper")


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


@app.command("demo", epilog=example("demo"))
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


def _click_errors() -> tuple[tuple[type[BaseException], ...], ...]:
    """The exception classes of click: typer's own copy of click, and click itself.

    Typer (0.2x) raises its vendored copy of click's exceptions, which ``click`` does not know;
    older typers raise click's.
    """
    import importlib

    found: list[Any] = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(importlib.import_module(name))
        except ImportError:
            continue

    def of(attr: str) -> tuple[type[BaseException], ...]:
        return tuple(getattr(m, attr) for m in found if hasattr(m, attr))

    return of("NoArgsIsHelpError"), of("UsageError"), of("Abort"), of("ClickException")


def _usage_line(exc: Any) -> str:
    """A click usage error as one line: what is wrong, and where help is."""
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "ps3-eval"
    message = " ".join(exc.format_message().split())
    if message.startswith("Missing command"):
        return _bare_line(exc)
    return f"error: {message.rstrip('.')}; see '{where} --help'."


def _bare_line(exc: Any) -> str:
    """The one line ``ps3-eval`` (or a command group) prints when given no command."""
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "ps3-eval"
    group = getattr(ctx, "command", None)
    names = sorted(getattr(group, "commands", {}) or {})
    listed = f" ({', '.join(names)})" if names else ""
    return f"usage: {where} COMMAND [ARGS]...{listed}; '{where} --help' describes them."


def run_cli(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit code; every error is one line on stderr."""
    no_args, usage, abort, click_error = _click_errors()
    try:
        # Without standalone mode click returns (not raises) the code of typer.Exit.
        code = app(args=argv, prog_name="ps3-eval", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except Ps3EvalError as exc:
        # Escaped: a message's own brackets (pip install 'ps3-eval[curate]', a path) are text.
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except no_args as exc:
        err.print(_bare_line(exc), highlight=False, soft_wrap=True, markup=False)
        return 2
    except usage as exc:
        err.print(_usage_line(exc), highlight=False, soft_wrap=True, markup=False)
        return 2
    except (KeyboardInterrupt, *abort):  # type: ignore[misc]
        err.print("Stopped by SIGTERM." if was_terminated() else "Interrupted.", highlight=False)
        return EXIT_TERMINATED if was_terminated() else EXIT_INTERRUPTED
    except click_error as exc:
        message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
        err.print(f"error: {message}", highlight=False, soft_wrap=True, markup=False)
        return int(exc.exit_code)  # type: ignore[attr-defined]
    except OSError as exc:
        if exc.filename is None:
            raise
        # A folder or file the command cannot use (read-only, missing, full disk).
        err.print(
            f"error: cannot use {exc.filename}: {exc.strerror or exc}.",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
        return 2


def main() -> None:
    """Console-script entry point: one-line errors, exit 2 for bad input."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _on_sigterm)
    sys.exit(run_cli())


__all__ = ["app", "main", "print_summary", "run_cli"]


if __name__ == "__main__":
    main()
