"""``ps3-eval curate ...``: build a 4KPro-style benchmark from 4K video frames.

frames -> boxes (serve) -> generate -> check -> screening (serve) -> export. Each command is a
thin layer over the function of the same job in :mod:`ps3_eval.curate`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ps3_eval.console import example
from ps3_eval.errors import UsageError

app = typer.Typer(
    help="Curate a 4KPro-style benchmark: frames, boxes, generated questions, screening, export.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)

ProjectArg = Annotated[
    str, typer.Argument(help="Project folder (a bare name means annotations/<name>).")
]
ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Backend, NAME or NAME:k=v,...")]
ModelArgOpt = Annotated[
    list[str] | None, typer.Option("--model-arg", "-a", help="Backend argument key=value.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def project_path(name_or_path: str) -> Path:
    """The project folder an argument names (imported late: the CLI starts light)."""
    from ps3_eval.curate.project import project_path as resolve

    return resolve(name_or_path)


def _kv(pairs: list[str] | None) -> dict[str, Any]:
    from ps3_eval.models import parse_assignments

    return parse_assignments(pairs or [], "model argument")


@contextlib.contextmanager
def _bar(quiet: bool) -> Iterator[Progress | None]:
    if quiet:
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    with bar:
        yield bar


@app.command("frames", epilog=example("curate frames"))
def frames_cmd(
    sources: Annotated[list[Path], typer.Argument(help="Video files or folders of images.")],
    project: Annotated[
        str, typer.Option("--project", "-p", help="Project folder (a bare name: annotations/NAME).")
    ],
    per_video: Annotated[int, typer.Option(help="Frames kept per video, spread over it.")] = 5,
    interval: Annotated[float, typer.Option(help="Seconds between evenly spaced candidates.")] = (
        1.0
    ),
    scene_threshold: Annotated[
        float, typer.Option(help="PySceneDetect content threshold (higher: fewer cuts).")
    ] = 27.0,
    categories: Annotated[
        str | None,
        typer.Option(help="The project's frame categories, comma-separated (default: 4KPro's)."),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Propose the frames of 4K videos worth annotating (scene changes, intervals, detail score)."""
    from ps3_eval.curate.frames import propose_frames
    from ps3_eval.curate.project import Project, cli_actor

    root = project_path(project)
    if categories is not None:
        with Project(root, create=True) as proj:
            proj.set_categories(categories.split(","), cli_actor())
    with _bar(quiet) as bar:
        tasks: dict[str, Any] = {}

        def tick(name: str, done: int, total: int | None) -> None:
            if bar is None:
                return
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done, total=total)

        reports = propose_frames(
            sources,
            root,
            per_video=per_video,
            interval=interval,
            scene_threshold=scene_threshold,
            on_progress=tick,
        )
    for r in reports:
        name = Path(r.source).name
        if r.skipped:
            out.print(f"{name}: skipped, {r.skipped}", highlight=False, soft_wrap=True)
            continue
        size = f"{r.size[0]}x{r.size[1]}" if r.size else "?"
        what = f"{r.decoded} frames decoded, {r.scene_changes} scene changes, " if r.decoded else ""
        out.print(
            f"{name} ({size}): {what}{r.candidates} candidates scored, kept {len(r.kept)} "
            f"(frames {', '.join(map(str, r.kept))})",
            highlight=False,
            soft_wrap=True,
        )
        for w in r.warnings:
            err.print(f"[yellow]warning:[/yellow] {w}", highlight=False, soft_wrap=True)
    out.print(
        f"project: {root}; next: ps3-eval curate serve {root}", highlight=False, soft_wrap=True
    )


@app.command("serve", epilog=example("curate serve"))
def serve_cmd(
    project: ProjectArg,
    host: Annotated[
        str, typer.Option(help="Address to listen on (any but loopback needs --token).")
    ] = ("127.0.0.1"),
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = 8765,
    token: Annotated[
        str | None, typer.Option(help="Token required on every request; 'auto' makes one.")
    ] = None,
    study: Annotated[
        list[Path] | None,
        typer.Option(help="An MRR study to label on the same server (/mrr/<name>/); repeatable."),
    ] = None,
) -> None:
    """Serve the annotation and screening pages of a project (Ctrl-C stops it)."""
    from ps3_eval.curate.server import serve

    def ready(url: str) -> None:
        out.print(f"serving {project_path(project)} at {url}", highlight=False, soft_wrap=True)

    serve(project_path(project), host=host, port=port, token=token, studies=study or (),
          on_ready=ready)  # fmt: skip


@app.command("generate", epilog=example("curate generate"))
def generate_cmd(
    project: ProjectArg,
    model: ModelOpt,
    model_arg: ModelArgOpt = None,
    prompt_file: Annotated[
        Path | None, typer.Option(help="Prompt template (default: the project's prompt.txt).")
    ] = None,
    retries: Annotated[int, typer.Option(help="Attempts after an invalid reply.")] = 2,
    concurrency: Annotated[int, typer.Option(help="Boxes asked at once.")] = 4,
    limit: Annotated[int | None, typer.Option(help="At most this many boxes now.")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Generate one four-option question per box from the frame and the box's crop (resumable)."""
    from ps3_eval.curate.generate import generate_questions

    root = project_path(project)
    with _bar(quiet) as bar:
        task = bar.add_task("generate", total=None) if bar is not None else None

        def tick(done: int, total: int) -> None:
            if bar is not None and task is not None:
                bar.update(task, completed=done, total=total)

        report = generate_questions(
            root,
            model,
            model_args=_kv(model_arg) or None,
            prompt_file=prompt_file,
            retries=retries,
            concurrency=concurrency,
            limit=limit,
            on_progress=tick,
        )
    cost = f", ${report.cost:.4f}" if report.cost else ""
    out.print(
        f"generated {report.generated}, failed {report.failed}, already done {report.skipped}; "
        f"tokens in/out {report.input_tokens}/{report.output_tokens}{cost}",
        highlight=False,
        soft_wrap=True,
    )
    for e in report.errors[:10]:
        err.print(f"[red]failed[/red] {e}", highlight=False, soft_wrap=True)
    if report.failed:
        err.print("run the same command again to retry the failed ones", highlight=False)


@app.command("check", epilog=example("curate check"))
def check_cmd(
    project: ProjectArg,
    model: ModelOpt,
    model_arg: ModelArgOpt = None,
    output_dir: Annotated[Path, typer.Option(help="Parent folder of the run directories.")] = Path(
        "runs"
    ),
    concurrency: Annotated[int, typer.Option(help="Model calls in flight.")] = 8,
    timeout: Annotated[float | None, typer.Option(help="Seconds per model call.")] = None,
    cache: Annotated[bool, typer.Option(help="Use the project's response cache.")] = True,
    quiet: QuietOpt = False,
) -> None:
    """Ask a reference model each question without the image and at 756, 1512 and 3780."""
    from ps3_eval.curate.check import check_questions
    from ps3_eval.progress import progress_view

    view = progress_view(err, quiet)
    try:
        report = check_questions(
            project_path(project),
            model,
            model_args=_kv(model_arg) or None,
            output_dir=output_dir,
            concurrency=concurrency,
            timeout=timeout,
            cache=cache,
            on_start=lambda c, p, d: view.start(f"check {c}", p),
            on_progress=lambda c, p: view.update(p),
        )
    finally:
        view.stop()
    for condition, summary in report.summaries.items():
        acc = summary.metrics.get("accuracy")
        value = f"{acc.mean:.3f}" if acc is not None and acc.mean is not None else "-"
        out.print(
            f"{condition:>8}: accuracy {value} (n={summary.n}, errors={summary.n_errors})  "
            f"{report.runs[condition]}",
            highlight=False,
            soft_wrap=True,
        )
    out.print(
        f"{len(report.flagged)} of {report.questions} questions flagged as answerable without "
        f"4K; see them on the screening page",
        highlight=False,
        soft_wrap=True,
    )


@app.command("export", epilog=example("curate export"))
def export_cmd(
    project: ProjectArg,
    to: Annotated[
        Path, typer.Option("--to", help="A new or empty folder (a .json file for labelstudio).")
    ],
    fmt: Annotated[
        str, typer.Option("--format", help="4kpro (accepted questions) or labelstudio (boxes).")
    ] = "4kpro",
    image_prefix: Annotated[
        str, typer.Option(help="labelstudio: put before each frame's file name in data.image.")
    ] = "frames/",
) -> None:
    """Write accepted questions in the 4kpro card's format, or boxes as Label Studio tasks."""
    from ps3_eval.curate.export import export_4kpro, export_labelstudio

    root = project_path(project)
    if fmt == "4kpro":
        n = export_4kpro(root, to)
        out.print(
            f"wrote {n} questions to {to}; run them with: ps3-eval run -t 4kpro --data {to} -m ...",
            highlight=False,
            soft_wrap=True,
        )
    elif fmt == "labelstudio":
        n = export_labelstudio(root, to, image_prefix)
        out.print(f"wrote {n} Label Studio tasks to {to}", highlight=False, soft_wrap=True)
    else:
        raise UsageError(f"unknown format '{fmt}'; valid formats: 4kpro, labelstudio.")


@app.command("import", epilog=example("curate import"))
def import_cmd(
    project: ProjectArg,
    file: Annotated[Path, typer.Argument(help="A Label Studio JSON export.")],
) -> None:
    """Add the boxes of a Label Studio JSON export to the project's frames."""
    from ps3_eval.curate.export import import_labelstudio

    report = import_labelstudio(project_path(project), file)
    out.print(f"added {report.added} boxes ({report.duplicates} already there)", highlight=False)
    for name in report.unmatched[:10]:
        err.print(f"[yellow]no frame matches[/yellow] {name}", highlight=False, soft_wrap=True)
