"""``ps3-eval run``, ``merge``, ``show``, ``runs`` and ``compare``: making runs and reading them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ps3_eval.cli.common import EXIT_ERRORS, kv, show_summary
from ps3_eval.console import compare_lines, compare_table, err, out, runs_table
from ps3_eval.errors import UsageError
from ps3_eval.progress import progress_view, stopped_exit


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
        model_args=kv(model_arg, "model argument"),
        data=data,
        task_args=kv(task_arg, "task argument", numbers=True) or None,
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
    show_summary(summary, as_json, where)
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


def merge_cmd(
    run_dir: Annotated[Path, typer.Argument(help="The run folder whose shards/ to merge.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Merge a run's shards (ps3-eval run --shard k/n) into the run's own folder."""
    from ps3_eval.runner.shards import merge

    summary = merge(run_dir)
    show_summary(summary, as_json, run_dir)
    if not as_json:
        out.print(f"[dim]merged into {run_dir}[/dim]", soft_wrap=True, highlight=False)


def show_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Print a run's summary again, with the arguments it was run with."""
    from ps3_eval.rundir import load_run

    run = load_run(run_dir)
    if run.summary is None:
        raise UsageError(
            f"{run_dir} has no summary.json yet; finish it with `ps3-eval run --resume {run_dir}`."
        )
    show_summary(run.summary, as_json, run_dir)


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


def compare_cmd(
    run_a: Annotated[Path, typer.Argument(help="The baseline run directory.")],
    run_b: Annotated[Path, typer.Argument(help="The run compared with it.")],
    metric: Annotated[
        str | None, typer.Option(help="Sample metric (default: the card's primary metric).")
    ] = None,
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
