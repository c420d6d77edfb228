"""``ps3-eval mrr ...``: MRR studies from the command line (a thin layer over ps3_eval.mrr)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from ps3_eval.console import example
from ps3_eval.errors import UsageError

app = typer.Typer(
    help="Minimum recognizable resolution (MRR) studies: sample, label (serve a page, or CSV), "
    "auto, agreement, report.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)

_TaskArgs = Annotated[
    list[str] | None, typer.Option("--task-arg", help="Task loader argument key=value.")
]
_Ladder = Annotated[
    str | None,
    typer.Option(help="Rungs LABEL=PIXELS, lowest first (default 1K=756,2K=1512,4K=3780)."),
]


def _kv(pairs: list[str] | None, what: str, numbers: bool = False) -> dict[str, Any]:
    from ps3_eval.models import parse_assignments

    return parse_assignments(pairs or [], what, numbers)


def _ladder(text: str | None) -> Any:
    from ps3_eval.mrr.ladder import Ladder

    return Ladder.parse(text) if text else None


@app.command("sample", epilog=example("mrr sample"))
def sample_cmd(
    task: Annotated[str, typer.Argument(help="Task name or card file path.")],
    n: Annotated[int, typer.Option(help="Items to sample.")] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the sample.")] = 0,
    study: Annotated[
        Path | None,
        typer.Option(help="The study folder (default annotations/mrr/<task>-s<seed>-n<n>)."),
    ] = None,
    data: Annotated[str | None, typer.Option(help="Local copy of the task's data.")] = None,
    task_arg: _TaskArgs = None,
    ladder: _Ladder = None,
) -> None:
    """Sample N items of a benchmark into a self-contained study folder (images copied)."""
    from ps3_eval.mrr.sample import sample_study

    s = sample_study(
        task,
        n=n,
        seed=seed,
        study=study,
        data=data,
        task_args=_kv(task_arg, "task argument", numbers=True) or None,
        ladder=_ladder(ladder),
    )
    spec = s.spec
    sides = sorted(it.native_side for it in s.items)
    skipped = ", ".join(f"{v} {k}" for k, v in spec.skipped.items()) or "none"
    out.print(
        f"study {s.dir}: {spec.n_items} of {spec.n_seen} items of {spec.task} (seed {spec.seed}; "
        f"left out: {skipped}); native long side {sides[0]}-{sides[-1]} px, median "
        f"{sides[len(sides) // 2]} px; ladder {spec.ladder.text()}",
        soft_wrap=True,
        highlight=False,
    )
    if spec.n_items < spec.n:
        err.print(f"only {spec.n_items} usable items, fewer than the {spec.n} asked for")
    out.print(
        f"next: ps3-eval mrr auto {s.dir} -m MODEL, or label it "
        f"(ps3-eval mrr label {s.dir} --import labels.csv)",
        soft_wrap=True,
        highlight=False,
    )


@app.command("label", epilog=example("mrr label"))
def label_cmd(
    study: Annotated[Path, typer.Argument(help="The study folder.")],
    import_file: Annotated[
        Path | None,
        typer.Option("--import", help="CSV of labels: item, labeller, mrr[, time]."),
    ] = None,
    item: Annotated[str | None, typer.Option(help="Label one item: its id.")] = None,
    labeller: Annotated[
        str | None, typer.Option(help="Who labels (for --item, or a CSV without that column).")
    ] = None,
    mrr: Annotated[
        str | None,
        typer.Option(
            help="The label: a rung (1K, 2K, 4K), beyond (needs more than the "
            "original) or no_image (answerable without the image)."
        ),
    ] = None,
    export: Annotated[
        Path | None, typer.Option(help="Write every stored label to this CSV file.")
    ] = None,
) -> None:
    """Add labels to a study (one, or a CSV file), export them, or show who labelled what."""
    from ps3_eval.mrr.study import Study

    s = Study(study)
    one = item is not None or mrr is not None
    if one and import_file is not None:
        raise UsageError("give --import FILE or --item/--labeller/--mrr, not both.")
    if one:
        if item is None or mrr is None or labeller is None:
            raise UsageError("labelling one item needs --item ID, --labeller NAME and --mrr LABEL.")
        lab = s.add_label(item, labeller, mrr, source="cli")
        out.print(f"{lab.labeller}: {lab.item} -> {lab.label} at {lab.at.isoformat()}",
                  highlight=False)  # fmt: skip
    elif import_file is not None:
        added, skipped = s.import_labels(import_file, labeller=labeller)
        again = f" ({skipped} already stored)" if skipped else ""
        out.print(f"imported {added} labels from {import_file}{again}", highlight=False)
    if export is not None:
        count = s.export_labels(export)
        out.print(f"wrote {count} labels to {export}", highlight=False)
    humans = s.human_labels()
    table = Table(title=f"study {s.name}: {len(s.items)} items", box=box.SIMPLE,
                  title_justify="left")  # fmt: skip
    table.add_column("labeller")
    table.add_column("items labelled", justify="right")
    for label in s.ladder.scale:
        table.add_column(label, justify="right")
    for who, labels in humans.items():
        values = list(labels.values())
        table.add_row(who, f"{len(labels)}/{len(s.items)}",
                      *(str(values.count(k)) for k in s.ladder.scale))  # fmt: skip
    if humans:
        out.print(table)
    else:
        out.print("no labels yet", highlight=False)


@app.command("serve", epilog=example("mrr serve"))
def serve_cmd(
    studies: Annotated[list[Path], typer.Argument(help="Study folders (each /mrr/<name>/).")],
    host: Annotated[
        str, typer.Option(help="Address to listen on (any but loopback needs --token).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = 8766,
    token: Annotated[
        str | None, typer.Option(help="Token required on every request; 'auto' makes one.")
    ] = None,
) -> None:
    """Serve the labelling page of studies: each item at every rung, labelled blind (Ctrl-C stops).

    To serve them beside a curation project on one server: ps3-eval curate serve DIR --study S.
    """
    from ps3_eval.mrr.server import serve_studies

    def ready(url: str) -> None:
        out.print(f"labelling {', '.join(map(str, studies))} at {url}", highlight=False,
                  soft_wrap=True)  # fmt: skip

    serve_studies(studies, host=host, port=port, token=token, on_ready=ready)


def _print_agreements(items: list[Any]) -> None:
    from ps3_eval.mrr.report import fmt_kappa

    if not items:
        return
    table = Table(title="agreement (Cohen's kappa)", box=box.SIMPLE, title_justify="left")
    for col in ("rater A", "rater B", "items", "agree", "kappa", "linear", "quadratic"):
        table.add_column(col, justify="left" if col.startswith("rater") else "right")
    for a in items:
        agree = "-" if a.observed is None else f"{a.observed:.1%}"
        table.add_row(a.a, a.b, str(a.n), agree, fmt_kappa(a.kappa), fmt_kappa(a.kappa_linear),
                      fmt_kappa(a.kappa_quadratic))  # fmt: skip
    out.print(table)
    for a in items:
        used = [i for i, _ in enumerate(a.labels)
                if any(a.confusion[i]) or any(row[i] for row in a.confusion)]  # fmt: skip
        t = Table(title=f"{a.a} (rows) vs {a.b} (columns)", box=box.SIMPLE, title_justify="left")
        t.add_column("")
        for j in used:
            t.add_column(a.labels[j], justify="right")
        for i in used:
            t.add_row(a.labels[i], *(str(a.confusion[i][j]) for j in used))
        out.print(t)


@app.command("auto", epilog=example("mrr auto"))
def auto_cmd(
    target: Annotated[str, typer.Argument(help="A study folder, or a task name / card path.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Backend, NAME or NAME:k=v,...")],
    model_arg: Annotated[
        list[str] | None, typer.Option("--model-arg", "-a", help="Backend argument key=value.")
    ] = None,
    ladder: _Ladder = None,
    no_image: Annotated[
        bool, typer.Option("--no-image", help="Also ask without the image (no_image items).")
    ] = False,
    threshold: Annotated[
        float, typer.Option(help="Right means the task's primary score is at least this.")
    ] = 0.5,
    data: Annotated[str | None, typer.Option(help="Local copy of the task's data.")] = None,
    task_arg: _TaskArgs = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N items.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the runs.")] = 0,
    concurrency: Annotated[int, typer.Option(help="Model calls in flight.")] = 8,
    timeout: Annotated[float | None, typer.Option(help="Seconds per model call.")] = None,
    output_dir: Annotated[Path, typer.Option(help="Parent folder of the rung runs.")] = Path(
        "runs"
    ),
    cache: Annotated[bool, typer.Option(help="Replay and store answers in the response cache.")] = (
        False
    ),
    cache_file: Annotated[Path, typer.Option(help="SQLite file of the response cache.")] = Path(
        "~/.cache/ps3_eval/responses.sqlite"
    ),
    judge: Annotated[str | None, typer.Option(help="A model that reads answers rules cannot.")] = (
        None
    ),
    out_file: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Save the result as JSON (a study: auto/<model>.json)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """A model answers each item at each rung of a resolution ladder.

    An item's MRR is the lowest rung from which it is right at every higher rung. Each rung is an
    ordinary run: running the same command again resumes it.
    """
    from ps3_eval.mrr.auto import auto_mrr
    from ps3_eval.mrr.kappa import agreement, study_agreement
    from ps3_eval.mrr.study import Study, is_study
    from ps3_eval.progress import progress_view, rerun_resumes

    view = progress_view(err, quiet or as_json)
    with rerun_resumes(view, "the same command again", err):
        result = auto_mrr(
            target,
            model,
            model_args=_kv(model_arg, "model argument") or None,
            ladder=_ladder(ladder),
            no_image=no_image,
            threshold=threshold,
            data=data,
            task_args=_kv(task_arg, "task argument", numbers=True) or None,
            limit=limit,
            seed=seed,
            output_dir=output_dir,
            cache=cache_file.expanduser() if cache else None,
            concurrency=concurrency,
            timeout=timeout,
            judge=judge,
            out=out_file,
            on_start=lambda label, p, d: view.start(f"rung {label}", p),
            on_progress=lambda label, p: view.update(p),
        )
    if as_json:
        out.print_json(result.model_dump_json())
        return
    table = Table(title=f"{result.task} x {result.model}: rungs", box=box.SIMPLE,
                  title_justify="left")  # fmt: skip
    for col in ("rung", result.metric or "score", "run directory"):
        table.add_column(col)
    for label, run in result.runs.items():
        acc = result.accuracy.get(label)
        table.add_row(label, "-" if acc is None else f"{acc:.3f}", run)
    out.print(table)
    counts = result.counts()
    shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v or k in result.ladder.labels)
    out.print(f"MRR of {len(result.items)} items: {shown}", highlight=False, soft_wrap=True)
    sides = [result.ladder.side(m) for m in result.labels().values()]
    valued = [s for s in sides if s is not None]
    if valued:
        out.print(f"mean MRR {sum(valued) / len(valued):.0f} px over {len(valued)} items "
                  f"(beyond and no_image apart)", highlight=False)  # fmt: skip
    if counts.get("incomplete"):
        err.print(f"{counts['incomplete']} items are incomplete (failed calls): run the same "
                  "command again to finish them")  # fmt: skip
    agreements = []
    if is_study(target):
        agreements = [a for a in study_agreement(Study(target), [result])
                      if a.b.startswith("auto:")]  # fmt: skip
    elif result.designed():
        agreements = [agreement(result.designed(), result.labels(), result.ladder.scale,
                                ("designed", f"auto:{result.model}"))]  # fmt: skip
    _print_agreements(agreements)
    saved = out_file or (Path(target) / "auto" if is_study(target) else None)
    if saved is not None:
        out.print(f"[dim]saved under {saved}[/dim]", soft_wrap=True, highlight=False)


@app.command("agreement", epilog=example("mrr agreement"))
def agreement_cmd(
    study: Annotated[Path, typer.Argument(help="The study folder.")],
    auto: Annotated[
        list[Path] | None,
        typer.Option(help="Automatic results to include (default: the study's auto/*.json)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Cohen's kappa (unweighted, linear, quadratic) and confusion matrices of a study's raters."""
    import json

    from ps3_eval.mrr.auto import load_auto
    from ps3_eval.mrr.kappa import study_agreement
    from ps3_eval.mrr.study import Study

    s = Study(study)
    items = study_agreement(s, [load_auto(p) for p in auto] if auto else None)
    if as_json:
        print(json.dumps([a.to_dict() for a in items], indent=2))
        return
    if not items:
        raise UsageError(
            f"study {s.name} has no two raters with items in common yet (labellers, automatic "
            "results on its ladder, or a designed MRR)."
        )
    _print_agreements(items)


@app.command("report", epilog=example("mrr report"))
def report_cmd(
    sources: Annotated[
        list[Path], typer.Argument(help="Study folders and automatic results (.json).")
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder of report.html, figure8.png, mrr.json.")
    ] = Path("reports/mrr"),
    title: Annotated[str, typer.Option(help="The page's title.")] = "MRR report",
    no_paper: Annotated[
        bool, typer.Option("--no-paper", help="Leave out the paper's Figure 8 points.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
) -> None:
    """Mean MRR per benchmark with a bootstrap CI, its distribution, agreement and Figure 8."""
    from ps3_eval.mrr.report import build_mrr_report, summary_table

    rep = build_mrr_report(sources, out=out_dir, title=title, paper=not no_paper, seed=seed)
    headers, cells = summary_table(rep.rows, compact=True)
    table = Table(title="mean MRR (px) per benchmark", box=box.SIMPLE, title_justify="left")
    for h in headers:
        table.add_column(h)
    for row in cells:
        table.add_row(*row)
    out.print(table)
    out.print(f"report: {rep.html}\nfigure 8: {rep.figure8}\ndata: {rep.json}",
              soft_wrap=True, highlight=False)  # fmt: skip
