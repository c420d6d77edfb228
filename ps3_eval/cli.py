"""The ``ps3-eval`` command line: a thin layer over the Python API."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ps3_eval.errors import Ps3EvalError, UsageError
from ps3_eval.mrr.cli import app as mrr_app
from ps3_eval.progress import progress_view
from ps3_eval.progress import rerun_resumes as _rerun_resumes

app = typer.Typer(
    name="ps3-eval",
    help="Evaluate high-resolution vision-language models (PS3 / VILA-HD / 4KPro).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

DEFAULT_CACHE = Path("~/.cache/ps3_eval/responses.sqlite")


def _kv(pairs: list[str] | None, what: str, numbers: bool = False) -> dict[str, Any]:
    from ps3_eval.models import parse_assignments

    return parse_assignments(pairs or [], what, numbers)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ci(mv: Any) -> str:
    return f"[{_fmt(mv.ci_low)}, {_fmt(mv.ci_high)}]"


def _latency(stats: Any) -> str:
    if not stats.n:
        return "-"
    return f"{_fmt(stats.mean)}/{_fmt(stats.p50)}/{_fmt(stats.p90)} s (n={stats.n})"


def print_summary(summary: Any, console: Console = out) -> None:
    """Render a ``RunSummary`` as rich tables."""
    s = summary
    title = f"{s.spec.task} x {s.spec.model}  [dim]{s.run_id}[/dim]"
    table = Table(title=title, title_justify="left")
    for col in ("metric", "value", "95% CI", "interval", "n"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    for name, mv in s.metrics.items():
        table.add_row(name, _fmt(mv.mean), _ci(mv), mv.method, str(mv.n))
    console.print(table)
    for label, groups in (("category", s.by_category), ("MRR", s.by_mrr)):
        if not groups:
            continue
        t = Table(title=f"by {label}", title_justify="left")
        t.add_column(label)
        names = sorted({m for g in groups.values() for m in g})
        for name in names:
            t.add_column(name, justify="right")
            t.add_column("95% CI", justify="right")
            t.add_column("n", justify="right")
        for key, metrics in groups.items():
            cells = []
            for name in names:
                mv = metrics.get(name)
                cells += [_fmt(mv.mean), _ci(mv), str(mv.n)] if mv else ["-", "-", "0"]
            t.add_row(key, *cells)
        console.print(t)
    tok = s.tokens
    est = " (estimated)" if tok.estimated else ""
    console.print(
        f"n={s.n}/{s.n_total}  errors={s.n_errors}  complete={'yes' if s.complete else 'no'}  "
        f"throughput={_fmt(s.throughput, 2)} samples/s "
        f"({_fmt(s.answered_throughput, 2)} answered/s)  "
        f"tokens in/visual/out={tok.input:.0f}/{tok.visual:.0f}/{tok.output:.0f}{est}",
        soft_wrap=True,
    )
    console.print(
        f"latency mean/p50/p90: answered {_latency(s.latency)}  "
        f"failed {_latency(s.latency_failed)}",
        soft_wrap=True,
    )
    if s.batched_calls:
        console.print(
            f"latency from batches: {s.batched_calls} of {s.latency.n} answered calls ran in "
            f"batches (mean size {_fmt(s.mean_batch_size, 1)}); each records its share of the "
            f"batch's wall time",
            soft_wrap=True,
            highlight=False,
        )
    extraction = s.extraction
    if s.n_judged:
        j = s.judge_tokens
        extraction += f" (judged {s.n_judged}; judge tokens in/out {j.input:.0f}/{j.output:.0f})"
    if s.n_unparsed:
        extraction += f"; {s.n_unparsed} answers unparsed (scored wrong)"
    console.print(f"answers: {extraction}", soft_wrap=True, highlight=False)
    if s.stage_means or s.peak_memory_mb is not None:
        stages = ", ".join(f"{k} {v:.3f}s" for k, v in s.stage_means.items())
        peak = f"peak GPU memory {s.peak_memory_mb:.0f} MB" if s.peak_memory_mb else ""
        console.print(f"stage means: {'; '.join(x for x in (stages, peak) if x)}", highlight=False)
    if s.cost.prices:
        unpriced = f", {s.cost.n_unpriced} calls without a price" if s.cost.n_unpriced else ""
        console.print(
            f"cost: ${s.cost.total:.4f} (${s.cost.per_sample:.5f} per call, prices "
            f"{s.cost.prices}{unpriced})",
            soft_wrap=True,
            highlight=False,
        )
    files = s.spec.data_files
    if files:
        shown = ", ".join(files[:4]) + (f" and {len(files) - 4} more" if len(files) > 4 else "")
        console.print(f"data: {shown}", soft_wrap=True, highlight=False)
    if len(s.code_revisions) > 1:
        console.print(
            f"[yellow]results come from {len(s.code_revisions)} code revisions:[/yellow] "
            f"{', '.join(s.code_revisions)}",
            soft_wrap=True,
        )
    for message, count in list(s.errors.items())[:5]:
        console.print(f"[red]error x{count}[/red]: {message}", soft_wrap=True, highlight=False)


def _show(summary: Any, as_json: bool) -> None:
    """A summary as JSON (for scripts) or as the terminal table."""
    if as_json:
        out.print_json(summary.model_dump_json())
    else:
        print_summary(summary)


@app.command("run")
def run_cmd(
    task: Annotated[str, typer.Option("--task", "-t", help="Task name or card file path.")] = "",
    model: Annotated[str, typer.Option("--model", "-m", help="Backend, NAME or NAME:k=v,...")] = "",
    model_arg: Annotated[
        list[str] | None, typer.Option("--model-arg", "-a", help="Backend argument key=value.")
    ] = None,
    data: Annotated[str | None, typer.Option(help="Local copy of the task's data.")] = None,
    task_arg: Annotated[
        list[str] | None, typer.Option("--task-arg", help="Task loader argument key=value.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N samples.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for generation and bootstrap.")] = 0,
    concurrency: Annotated[int, typer.Option(help="Model calls in flight.")] = 8,
    timeout: Annotated[float | None, typer.Option(help="Seconds per model call.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Override the card's max_tokens.")] = None,
    output_dir: Annotated[Path, typer.Option(help="Parent folder of run directories.")] = Path(
        "runs"
    ),
    resume: Annotated[
        Path | None, typer.Option(help="Finish this run directory (its spec is reused).")
    ] = None,
    cache: Annotated[bool, typer.Option(help="Replay and store answers in the response cache.")] = (
        False
    ),
    cache_file: Annotated[Path, typer.Option(help="SQLite file of the response cache.")] = (
        DEFAULT_CACHE
    ),
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
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Evaluate a model on a task; re-running the same command resumes it."""
    from ps3_eval.runner import evaluate

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
    run_dir: list[Path] = []
    view = progress_view(err, quiet)

    def started(p: Any, d: Path) -> None:
        run_dir.append(d)
        view.start(d.name, p)

    try:
        summary = evaluate(
            task,
            model,
            model_args=_kv(model_arg, "model argument"),
            data=data,
            task_args=_kv(task_arg, "task argument", numbers=True) or None,
            limit=limit,
            seed=seed,
            concurrency=concurrency,
            timeout=timeout,
            output_dir=output_dir,
            resume=resume,
            cache=cache_file.expanduser() if cache else None,
            max_tokens=max_tokens,
            prompt=prompt,
            judge=judge,
            shard=shard,
            image_side=image_side,
            no_image=no_image,
            on_progress=view.update,
            on_start=started,
        )
    except KeyboardInterrupt:
        view.stop()
        where = run_dir[0] if run_dir else "the run directory"
        err.print(
            f"\nInterrupted; every finished sample is saved. Resume with:\n"
            f"  ps3-eval run --resume {where}",
            soft_wrap=True,
            highlight=False,
        )
        raise typer.Exit(130) from None
    finally:
        view.stop()
    _show(summary, as_json)
    if not as_json:
        where = run_dir[0] if run_dir else output_dir
        out.print(f"[dim]saved to {where}[/dim]", soft_wrap=True, highlight=False)
    if summary.spec.shard and run_dir:
        from ps3_eval.runner.store import RunStore

        whole = run_dir[0].parent.parent
        combined = RunStore(whole).read_summary()
        merged = combined is not None and combined.finished_at >= summary.finished_at
        err.print(
            f"shard {summary.spec.shard}: "
            + (f"all shards merged into {whole}" if merged else "other shards still to end")
            + f" (ps3-eval merge {whole} merges by hand)",
            soft_wrap=True,
            highlight=False,
        )


@app.command("merge")
def merge_cmd(
    run_dir: Annotated[Path, typer.Argument(help="The run folder whose shards/ to merge.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Merge a run's shards (ps3-eval run --shard k/n) into the run's own folder."""
    from ps3_eval.runner.shards import merge

    summary = merge(run_dir)
    _show(summary, as_json)
    if not as_json:
        out.print(f"[dim]merged into {run_dir}[/dim]", soft_wrap=True, highlight=False)


@app.command("show")
def show_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Print a run's summary again."""
    from ps3_eval.analysis import load_run

    run = load_run(run_dir)
    if run.summary is None:
        raise UsageError(
            f"{run_dir} has no summary.json yet; finish it with `ps3-eval run --resume {run_dir}`."
        )
    _show(run.summary, as_json)


@app.command("tasks")
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
    table = Table(title="tasks")
    for col in ("name", "version", "source", "scorer", "description"):
        table.add_column(col)
    for name, path in sorted(discover().items()):
        try:
            card = read_card(path).card
        except Ps3EvalError as exc:
            table.add_row(name, "-", str(path), "-", f"[red]{exc}[/red]")
            continue
        src = card.source.hf or card.source.path or card.source.loader or "local copy (--data)"
        if card.source.hf:
            config = f" {card.source.config}" if card.source.config else ""
            src = f"{src}{config} [{card.source.split}]"
        table.add_row(card.name, card.version, src, card.scorer, card.description)
    out.print(table)


@app.command("data")
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


@app.command("models")
def models_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print the backends as JSON.")] = False,
) -> None:
    """List model backends with their arguments."""
    from ps3_eval.models import list_models

    if as_json:
        import dataclasses
        import json

        entries = [dataclasses.asdict(e) for e in list_models()]
        print(json.dumps(entries, indent=2, default=str))
        return
    for entry in list_models():
        kind = (
            "[yellow]test double, not a model[/yellow]"
            if entry.kind == "test-double"
            else (entry.kind)
        )
        out.print(f"[bold]{entry.name}[/bold]  ({kind})  {entry.description}")
        for a in entry.args:
            default = "required" if a.required else f"default {a.default!r}"
            out.print(f"    {a.name}: {a.type}, {default}  [dim]{a.help}[/dim]")


@app.command("runs")
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
    """One row per run: task, model, arguments, each metric with its CI, latency, tokens, cost."""
    from ps3_eval.analysis import images_shown, runs_df, samples_df

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
        table = Table(title="runs (primary metric)", box=box.SIMPLE)
        for c in ("run", "task", "model", "images", "metric", "value", "95% CI", "n", "errors",
                  "complete"):  # fmt: skip
            table.add_column(c)
        for rec in frame.to_dict("records"):
            m = rec["metric"]
            value, ci = ("-", "-") if not isinstance(m, str) else (
                _fmt(rec[m]), f"{_fmt(rec[f'{m}.ci_low'])}-{_fmt(rec[f'{m}.ci_high'])}"
            )  # fmt: skip
            table.add_row(
                rec["run_id"], rec["task"], rec["model"], images_shown(rec["image_side"],
                rec["no_image"]), m if isinstance(m, str) else "-",
                value, ci, str(rec["n"]), str(rec["n_errors"]), str(rec["complete"]),
            )  # fmt: skip
        out.print(table)


@app.command("sweep")
def sweep_cmd(
    spec: Annotated[Path, typer.Argument(help="The sweep spec (YAML).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the cells, their run directories and state.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the cells as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run a grid of runs; running it again resumes it cell by cell."""
    from ps3_eval.sweep import load_spec, run_sweep

    parsed = load_spec(spec)
    view = progress_view(err, quiet or dry_run)

    def ended(cell: Any) -> None:
        view.stop()
        if not as_json:
            what = cell.error if cell.status == "failed" else f"{cell.metric}={_fmt(cell.value)}"
            err.print(f"{cell.label}: {cell.status}  {what}", highlight=False, soft_wrap=True)

    with _rerun_resumes(view):
        result = run_sweep(
            parsed,
            dry_run=dry_run,
            on_cell=None if dry_run else ended,
            on_start=lambda c, p, d: view.start(c.label, p),
            on_progress=lambda c, p: view.update(p),
        )
    if as_json:
        import json

        print(json.dumps([c.model_dump(mode="json") for c in result], indent=2))
    else:
        table = Table(title=f"sweep {parsed.name}", title_justify="left", box=box.SIMPLE)
        for col in ("cell", "task", "status", "metric", "value", "n", "errors", "run directory"):
            table.add_column(col)
        for c in result:
            table.add_row(
                c.label, Path(c.task).stem, c.status, c.metric or "-", _fmt(c.value),
                "-" if c.n is None else str(c.n), "-" if c.n_errors is None else str(c.n_errors),
                c.run_dir or (c.error or "-"),
            )  # fmt: skip
        out.print(table)
    failed = [c for c in result if c.status == "failed"]
    if failed:
        err.print(
            f"{len(failed)} of {len(result)} cells failed: {', '.join(c.label for c in failed)}"
        )
        raise typer.Exit(1)


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


@app.command("report")
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
    gallery: Annotated[int, typer.Option(help="Samples in the gallery (0: none).")] = 24,
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
    n = len(report.rows)
    out.print(
        f"{n} run{'' if n == 1 else 's'} ({len(incomplete)} incomplete), "
        f"{len(report.figures)} figures, {len(report.paper)} paper values",
        highlight=False,
    )
    out.print(
        f"report: {report.html}\nmarkdown: {report.markdown}", soft_wrap=True, highlight=False
    )


@app.command("plot")
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


@app.command("compare")
def compare_cmd(
    run_a: Annotated[Path, typer.Argument(help="The baseline run directory.")],
    run_b: Annotated[Path, typer.Argument(help="The run compared with it.")],
    metric: Annotated[str | None, typer.Option(help="Sample metric (default: the first).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the paired bootstrap.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
    show: Annotated[int, typer.Option(help="Flipped samples to list.")] = 20,
) -> None:
    """Paired difference of B minus A on their shared samples, with McNemar's exact test."""
    from ps3_eval.compare import compare_runs

    c = compare_runs(run_a, run_b, metric=metric, seed=seed)
    if as_json:
        out.print_json(c.model_dump_json())
        return
    table = Table(title=f"{c.task}: {c.run_b} minus {c.run_a} ({c.metric})", title_justify="left")
    for col in ("scope", "n", "A", "B", "B - A", "95% CI", "A only", "B only", "McNemar p"):
        table.add_column(col, justify="left" if col == "scope" else "right")

    def row(scope: str, st: Any) -> None:
        p = "-" if st.p_value is None else f"{st.p_value:.4g}"
        table.add_row(
            scope, str(st.n), _fmt(st.mean_a), _fmt(st.mean_b), f"{st.delta:+.3f}",
            f"[{st.ci_low:+.3f}, {st.ci_high:+.3f}]",
            "-" if st.only_a is None else str(st.only_a),
            "-" if st.only_b is None else str(st.only_b), p,
        )  # fmt: skip

    row("all shared", c.overall)
    for name, st in c.by_category.items():
        row(f"category {name}", st)
    for name, st in c.by_mrr.items():
        row(f"MRR {name}", st)
    out.print(table)
    if c.n_only_a or c.n_only_b:
        out.print(f"left out: {c.n_only_a} scored only in A, {c.n_only_b} only in B")
    for f in c.flipped[:show]:
        out.print(f"  {f.sample_id}: {f.a:g} -> {f.b:g}", highlight=False)
    if len(c.flipped) > show:
        out.print(f"  ... and {len(c.flipped) - show} more flipped samples")


@app.command("encoder-study")
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
    with _rerun_resumes(view):
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

export_app = typer.Typer(help="Write a task for another harness.", no_args_is_help=True)
app.add_typer(export_app, name="export")
app.add_typer(mrr_app, name="mrr")


@export_app.command("lmms")
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


@export_app.command("submission")
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


@paper_app.command("recipe")
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


@app.command("demo")
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
    with _rerun_resumes(view):
        result = run_demo(
            n=n,
            seed=seed,
            output_dir=output_dir,
            report_dir=report_dir,
            on_start=lambda label, p, d: view.start(label, p),
            on_progress=lambda label, p: view.update(p),
        )
    table = Table(
        title="demo: probe4k x ocr-reader (accuracy; 1K/2K/4K = designed MRR bucket, with n)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for col in ("config", "acc", "95% CI", "1K", "2K", "4K", "tokens", "sec", "rec"):
        table.add_column(col, justify="left" if col == "config" else "right", no_wrap=True)
    for r in result.report.rows:
        table.add_row(
            r.label,
            _fmt(r.value, 2),
            f"{_fmt(r.ci_low, 2)}-{_fmt(r.ci_high, 2)}",
            *(
                f"{_fmt(r.by_mrr[b].mean, 2)} ({r.by_mrr[b].n})" if b in r.by_mrr else "-"
                for b in ("1K", "2K", "4K")
            ),
            f"{r.visual_tokens:.0f}",
            _fmt(r.latency, 2),
            _fmt(r.recall, 2),
        )
    out.print(table)
    for line in result.report.findings:
        out.print(f"- {line}", soft_wrap=True, highlight=False)
    out.print(f"report: {result.report.html}", soft_wrap=True, highlight=False)


def main() -> None:
    """Console-script entry point: one-line errors, exit 2 for bad input."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        # Without standalone mode click returns (not raises) the code of typer.Exit.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except Ps3EvalError as exc:
        # Escaped: a message's own brackets (pip install 'ps3-eval[curate]', a path) are text.
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.BadParameter, typer.Abort) as exc:
        err.print(f"error: {exc}")
        sys.exit(2)
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


__all__ = ["app", "main", "print_summary"]


if __name__ == "__main__":
    main()
