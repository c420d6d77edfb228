"""What the command line prints: its consoles, run summaries and tables.

Tables printed without a terminal (to a pipe or a file) are never cut to a width: a script or a
log gets every digit and every name. On a terminal, a cell too wide wraps instead of ending in "…".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console, ConsoleDimensions
from rich.table import Table

from ps3_eval.fourkpro import MRR_BUCKETS

if TYPE_CHECKING:
    import pandas as pd

    from ps3_eval.compare import Comparison
    from ps3_eval.models import ModelEntry
    from ps3_eval.records import RunSpec, RunSummary
    from ps3_eval.report.rows import RunRow
    from ps3_eval.sweep import Cell

UNLIMITED = 100_000
"""The width of a console that writes to no terminal: wide enough that no table is ever cut."""


class _Console(Console):
    """A rich console whose width has no limit when its stream is not a terminal.

    rich takes 80 columns (or ``COLUMNS``, or another stream's terminal) for a pipe and cuts
    table cells to fit; a pipe or a file has no width, so nothing is cut there (``COLUMNS``
    describes a terminal, so it applies only to one).
    """

    def _writes_to_terminal(self) -> bool:
        try:
            return bool(self.file.isatty())
        except (AttributeError, ValueError):
            return False

    @property
    def size(self) -> ConsoleDimensions:
        """The terminal's size, or an unlimited width without a terminal."""
        if not self._writes_to_terminal():
            return ConsoleDimensions(UNLIMITED, super().size.height)
        return super().size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


out: Console = _Console()
err: Console = _Console(stderr=True)


def fmt(value: float | None, digits: int = 3) -> str:
    """A number to ``digits`` decimals; ``-`` for none (or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def table(*columns: str, title: str | None = None, style: box.Box | None = None) -> Table:
    """A table whose cells wrap rather than end in "…" when a terminal is too narrow."""
    t = Table(title=title, title_justify="left", box=style or box.HEAVY_HEAD)
    for i, name in enumerate(columns):
        t.add_column(name, justify="left" if i == 0 else "right", overflow="fold")
    return t


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def varying(args: Sequence[Mapping[str, Any]]) -> list[str]:
    """Argument names whose values differ between the mappings, in first-seen order."""
    keys = list(dict.fromkeys(k for a in args for k in a))
    return [
        k for k in keys if len({repr(None if _missing(a.get(k)) else a.get(k)) for a in args}) > 1
    ]


def args_text(args: Mapping[str, Any], keys: Iterable[str], unset: str | None = None) -> str:
    """``resolution=756 select=0.1``: the named arguments; unset ones as ``unset``, or left out."""
    from ps3_eval.report.rows import arg_text

    return " ".join(
        f"{k}={unset if _missing(args.get(k)) else arg_text(args[k])}"
        for k in keys
        if unset is not None or not _missing(args.get(k))
    )


def chosen_args(spec: RunSpec) -> str:
    """What a run was asked to do beyond its backend's defaults: model and task arguments.

    Arguments equal to the backend's default are left out (all are shown when the backend is
    not installed here); task arguments, seed and limit are shown when set.
    """
    from ps3_eval.errors import UsageError
    from ps3_eval.models import _resolve

    try:
        fields = _resolve(spec.model).Args.model_fields
        defaults = {k: f.default for k, f in fields.items() if not f.is_required()}
    except UsageError:
        defaults = {}
    keys = [
        k
        for k, v in spec.model_args.items()
        if k not in spec.operational and (k not in defaults or defaults[k] != v)
    ]
    parts = [f"{spec.model} {args_text(spec.model_args, keys)}".strip()]
    if spec.task_args:
        parts.append(f"task {args_text(spec.task_args, spec.task_args)}")
    if spec.seed:
        parts.append(f"seed={spec.seed}")
    if spec.limit:
        parts.append(f"limit={spec.limit}")
    return "; ".join(parts)


def _ci(mv: Any) -> str:
    return f"[{fmt(mv.ci_low)}, {fmt(mv.ci_high)}]"


def _latency(stats: Any) -> str:
    if not stats.n:
        return "-"
    return f"{fmt(stats.mean)}/{fmt(stats.p50)}/{fmt(stats.p90)} s (n={stats.n})"


def retry_hint(summary: RunSummary, run_dir: Path | str | None) -> str:
    """The line that says how many samples failed and that running again retries them."""
    where = f"ps3-eval run --resume {run_dir}" if run_dir else "the same command again"
    n = summary.n_errors
    return (
        f"{n} of {summary.n_total} sample{'' if n == 1 else 's'} ended in an error (not scored); "
        f"a re-run retries them: {where}"
    )


def print_summary(summary: RunSummary, console: Console = out, run_dir: Path | None = None) -> None:
    """Render a ``RunSummary`` as rich tables."""
    s = summary
    t = table(
        "metric", "value", "95% CI", "interval", "n",
        title=f"{s.spec.task} x {s.spec.model}  [dim]{s.run_id}[/dim]",
    )  # fmt: skip
    for name in sorted(s.metrics, key=lambda n: n != s.primary):  # the primary metric first
        mv = s.metrics[name]
        t.add_row(name, fmt(mv.mean), _ci(mv), mv.method, str(mv.n))
    console.print(t)
    console.print(
        f"arguments: {chosen_args(s.spec)}", soft_wrap=True, highlight=False, markup=False
    )
    for label, groups in (("category", s.by_category), ("MRR", s.by_mrr)):
        if not groups:
            continue
        names = sorted({m for g in groups.values() for m in g})
        cols = [c for name in names for c in (name, "95% CI", "n")]
        g = table(label, *cols, title=f"by {label}")
        for key, metrics in groups.items():
            cells = []
            for name in names:
                got = metrics.get(name)
                cells += [fmt(got.mean), _ci(got), str(got.n)] if got else ["-", "-", "0"]
            g.add_row(key, *cells)
        console.print(g)
    tok = s.tokens
    est = " (estimated)" if tok.estimated else ""
    console.print(
        f"n={s.n}/{s.n_total}  errors={s.n_errors}  complete={'yes' if s.complete else 'no'}  "
        f"throughput={fmt(s.throughput, 2)} samples/s "
        f"({fmt(s.answered_throughput, 2)} answered/s)  "
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
            f"batches (mean size {fmt(s.mean_batch_size, 1)}); each records its share of the "
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
    if s.n_errors:
        console.print(retry_hint(s, run_dir), soft_wrap=True, highlight=False, markup=False)


def runs_table(frame: pd.DataFrame) -> Table:
    """``ps3-eval runs``: one row per run with the model arguments that differ between runs."""
    from ps3_eval.analysis import images_shown
    from ps3_eval.report.rows import varying

    records = frame.to_dict("records")
    args = [{k[4:]: v for k, v in r.items() if k.startswith("arg.")} for r in records]
    keys = varying(args)
    t = table(
        "run", "task", "model", "arguments", "images", "metric", "value", "95% CI", "n",
        "errors", "complete", title="runs (primary metric)", style=box.SIMPLE,
    )  # fmt: skip
    for rec, a in zip(records, args, strict=True):
        m = rec["metric"]
        value, ci = ("-", "-") if not isinstance(m, str) else (
            fmt(rec[m]), f"{fmt(rec[f'{m}.ci_low'])}-{fmt(rec[f'{m}.ci_high'])}"
        )  # fmt: skip
        t.add_row(
            rec["run_id"], rec["task"], rec["model"], args_text(a, keys) or "-",
            images_shown(rec.get("image_side"), rec.get("no_image")),
            m if isinstance(m, str) else "-", value, ci, _count(rec["n"]),
            _count(rec["n_errors"]), str(rec["complete"]),
        )  # fmt: skip
    return t


def _count(v: Any) -> str:
    return "-" if _missing(v) else str(int(v))


def sweep_table(name: str, cells: Sequence[Cell]) -> Table:
    """``ps3-eval sweep``: each cell's state and primary metric."""
    t = table(
        "cell", "task", "status", "metric", "value", "n", "errors", "run directory",
        title=f"sweep {name}", style=box.SIMPLE,
    )  # fmt: skip
    for c in cells:
        t.add_row(
            c.label, Path(c.task).stem, c.status, c.metric or "-", fmt(c.value),
            "-" if c.n is None else str(c.n), "-" if c.n_errors is None else str(c.n_errors),
            c.run_dir or (c.error or "-"),
        )  # fmt: skip
    return t


def compare_lines(c: Comparison, spec_a: RunSpec, spec_b: RunSpec) -> list[str]:
    """What differs between the two runs' settings, as ``A: ...`` and ``B: ...`` lines."""

    def settings(s: RunSpec) -> dict[str, Any]:
        return {
            "model": s.model,
            **s.model_args,
            **{f"task.{k}": v for k, v in s.task_args.items()},
            "seed": s.seed,
            "limit": s.limit,
            "max_tokens": s.generation.max_tokens,
            "prompt": "own" if s.prompt else None,
            "judge": s.judge_model,
        }

    from ps3_eval.report.rows import varying

    a, b = settings(spec_a), settings(spec_b)
    keys = [k for k in varying([a, b]) if k not in spec_a.operational + spec_b.operational]
    if not keys:
        return ["A and B differ in no argument (data, code version or chance)"]
    return [
        f"A ({c.run_a}): {args_text(a, keys, 'None')}",
        f"B ({c.run_b}): {args_text(b, keys, 'None')}",
    ]


def compare_table(c: Comparison) -> Table:
    """``ps3-eval compare``: the paired difference overall and per group."""
    t = table(
        "scope", "n", "A", "B", "B - A", "95% CI", "A only", "B only", "McNemar p",
        title=f"{c.task}: {c.run_b} minus {c.run_a} ({c.metric})",
    )  # fmt: skip

    def row(scope: str, st: Any) -> None:
        p = "-" if st.p_value is None else f"{st.p_value:.4g}"
        t.add_row(
            scope, str(st.n), fmt(st.mean_a), fmt(st.mean_b), f"{st.delta:+.3f}",
            f"[{st.ci_low:+.3f}, {st.ci_high:+.3f}]",
            "-" if st.only_a is None else str(st.only_a),
            "-" if st.only_b is None else str(st.only_b), p,
        )  # fmt: skip

    row("all shared", c.overall)
    for name, st in c.by_category.items():
        row(f"category {name}", st)
    for name, st in c.by_mrr.items():
        row(f"MRR {name}", st)
    return t


def demo_table(rows: Sequence[RunRow]) -> Table:
    """``ps3-eval demo``: accuracy per configuration, per designed MRR bucket, cost and recall."""
    t = table(
        "config", "acc", "95% CI", *MRR_BUCKETS, "tokens", "sec", "rec",
        title="demo: probe4k x ocr-reader (accuracy; 1K/2K/4K = designed MRR bucket, with n)",
        style=box.SIMPLE_HEAD,
    )  # fmt: skip
    for r in rows:
        t.add_row(
            r.label,
            fmt(r.value, 2),
            f"{fmt(r.ci_low, 2)}-{fmt(r.ci_high, 2)}",
            *(
                f"{fmt(r.by_mrr[b].mean, 2)} ({r.by_mrr[b].n})" if b in r.by_mrr else "-"
                for b in MRR_BUCKETS
            ),
            f"{r.visual_tokens:.0f}",
            fmt(r.latency, 2),
            fmt(r.recall, 2),
        )
    return t


def print_models(entries: Sequence[ModelEntry], console: Console = out) -> None:
    """``ps3-eval models``: each backend, its kind, and its arguments with their types."""
    from rich.markup import escape

    for entry in entries:
        kind = (
            "[yellow]test double, not a model[/yellow]"
            if entry.kind == "test-double"
            else escape(entry.kind)
        )
        console.print(
            f"[bold]{escape(entry.name)}[/bold]  ({kind})  {escape(entry.description)}",
            soft_wrap=True,
        )
        for a in entry.args:
            default = "required" if a.required else f"default {a.default!r}"
            console.print(
                f"    {escape(a.name)}: {escape(a.type)}, {escape(default)}  "
                f"[dim]{escape(a.help)}[/dim]",
                soft_wrap=True,
                highlight=False,
            )


def tasks_table(cards: Mapping[str, Path]) -> Table:
    """The task cards found (name -> card path): each card's source and scorer, or its error."""
    from rich.markup import escape

    from ps3_eval.errors import Ps3EvalError
    from ps3_eval.tasks import read_card

    listing = table("name", "version", "source", "scorer", "description", title="tasks")
    for name, path in sorted(cards.items()):
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
    return listing


# One example per command, closing its --help (a test runs every registered command's help).
EXAMPLES = {
    "run": "ps3-eval run -t probe4k -m ocr-reader:resolution=1512 --task-arg n=12",
    "merge": "ps3-eval merge runs/docvqa__hf__0123456789",
    "show": "ps3-eval show runs/probe4k__ocr-reader__0123456789",
    "tasks": "ps3-eval tasks --json",
    "data": "ps3-eval data docvqa --to /data/docvqa",
    "models": "ps3-eval models openai",
    "runs": "ps3-eval runs runs/ --csv > runs.csv",
    "sweep": "ps3-eval sweep my_sweep.yaml --dry-run",
    "report": "ps3-eval report my_sweep.yaml --paper table13:PS3 --out reports/mine",
    "plot": "ps3-eval plot latency runs/ --task probe4k --out latency.png",
    "compare": "ps3-eval compare runs/A runs/B --metric accuracy",
    "encoder-study": "ps3-eval encoder-study -m ps3:model=nvidia/PS3-1.5K-SigLIP --budgets 0,1024",
    "export lmms": "ps3-eval export lmms probe4k --to lmms_tasks/probe4k",
    "demo": "ps3-eval demo --n 12",
    "export submission": "ps3-eval export submission runs/mmbench__hf__0123456789 --to test.xlsx",
    "paper recipe": "ps3-eval paper recipe table1 --row 15 --to table1.yaml",
    "curate frames": "ps3-eval curate frames drive.mp4 --project annotations/drive --per-video 5",
    "curate serve": "ps3-eval curate serve annotations/drive",
    "curate generate": "ps3-eval curate generate annotations/drive -m openai:model=gpt-4o",
    "curate check": "ps3-eval curate check annotations/drive -m openai:model=gpt-4o",
    "curate export": "ps3-eval curate export annotations/drive --to data/my-4kpro",
    "curate import": "ps3-eval curate import annotations/drive labelstudio.json",
    "mrr sample": "ps3-eval mrr sample docvqa --n 50 --seed 0 --data /data/docvqa",
    "mrr label": "ps3-eval mrr label annotations/mrr/docvqa-s0-n50 --import labels.csv",
    "mrr serve": "ps3-eval mrr serve annotations/mrr/docvqa-s0-n50",
    "mrr auto": "ps3-eval mrr auto probe4k -m ocr-reader --limit 12",
    "mrr agreement": "ps3-eval mrr agreement annotations/mrr/docvqa-s0-n50",
    "mrr report": "ps3-eval mrr report annotations/mrr/docvqa-s0-n50 --out reports/mrr",
}


def example(command: str) -> str:
    """The ``Example:`` line closing a command's help (``command`` as typed: ``"mrr auto"``)."""
    return f"Example: {EXAMPLES[command]}"
