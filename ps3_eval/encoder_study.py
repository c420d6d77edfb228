"""``ps3-eval encoder-study``: PS3's cost and selection against its high-res token budget.

A grid of ordinary runs (one per budget and selection mode, resumable like any sweep), reduced to
a table (selected patches, tokens, encoder latency, box recall, peak GPU memory, failures such as
running out of memory) and figures of latency and recall against the patches selected: the
encoder column of the paper's Table 9, and its Table 7 recall, for any checkpoint.

Each row names its selector, because top-down recall depends on it: the ``ps3`` backend alone
steers PS3 with its own text tower over the whole prompt, while VILA-HD (Table 7) steers it with
its LLM's last hidden state through the projector's ``top_down_prompt_head``. With the
``vila-hd`` backend (``-m vila-hd:model=...``, where VILA is installed), the study measures
VILA-HD's own selection, answering one token per image.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ps3_eval.errors import UsageError
from ps3_eval.runner import Progress, RunOptions, RunSettings

MODES = {"after_image": "bottom-up", "after_prompt": "top-down"}
_VARIED = ("num_token_look_close", "look_close_mode")
BACKENDS = ("ps3", "vila-hd")

SELECTORS = {
    ("ps3", "after_image"): "PS3 saliency",
    ("ps3", "after_prompt"): "PS3 text tower on the prompt",
    ("vila-hd", "after_image"): "PS3 saliency, inside VILA-HD",
    ("vila-hd", "after_prompt"): "VILA-HD LLM + top_down_prompt_head",
}
"""What chose the patches, by backend and mode."""


@dataclass
class StudyRow:
    """One budget and mode, averaged over the images."""

    mode: str
    selector: str
    """What chose the patches (see :data:`SELECTORS`)."""
    budget: str
    run_dir: str
    n: int
    errors: int
    out_of_memory: int
    selected: float | None
    ratio: float | None
    tokens: float | None
    encoder_s: float | None
    encoder_p50_s: float | None
    recall: float | None
    peak_memory_mb: float | None


@dataclass
class Study:
    """What the study wrote and the rows behind it."""

    rows: list[StudyRow]
    csv: Path
    markdown: Path
    figures: list[Path] = field(default_factory=list)


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _row(backend: str, mode: str, budget: str, run_dir: Path) -> StudyRow:
    from ps3_eval.rundir import load_run

    run = load_run(run_dir)
    ok = [r for r in run.results if r.error is None]
    failed = [r for r in run.results if r.error is not None]
    enc = [r.output.timing.vision_encoder for r in ok if r.output.timing.vision_encoder]
    recalls = [
        r.output.selection.recall
        for r in ok
        if r.output.selection is not None and r.output.selection.recall is not None
    ]
    peaks = [r.output.extra["peak_memory_mb"] for r in ok if "peak_memory_mb" in r.output.extra]
    return StudyRow(
        mode=MODES.get(mode, mode),
        selector=SELECTORS.get((backend, mode), mode),
        budget=budget,
        run_dir=str(run_dir),
        n=len(ok),
        errors=len(failed),
        out_of_memory=sum("out of GPU memory" in (r.error or "") for r in failed),
        selected=_mean([r.output.selection.selected_patches for r in ok if r.output.selection]),
        ratio=_mean([r.output.extra["selection_ratio"] for r in ok]),
        tokens=_mean([t for r in ok if (t := r.output.usage.visual_tokens) is not None]),
        encoder_s=_mean(enc),
        encoder_p50_s=statistics.median(enc) if enc else None,
        recall=_mean(recalls),
        peak_memory_mb=max(peaks) if peaks else None,
    )


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _figures(rows: list[StudyRow], out: Path) -> list[Path]:
    from ps3_eval.report.drawing import Figure, Trace

    def latency(r: StudyRow) -> float | None:
        return r.encoder_s

    def recall(r: StudyRow) -> float | None:
        return r.recall

    written = []
    for key, title, y_title, y_of in (
        ("encoder_latency", "PS3 encoder latency vs selected patches", "seconds per image",
         latency),
        ("recall", "Recall of the answer's box vs selected patches", "box recall", recall),
    ):  # fmt: skip
        traces = []
        for mode in dict.fromkeys(r.mode for r in rows):
            pts = sorted(
                (
                    r
                    for r in rows
                    if r.mode == mode and r.selected is not None and y_of(r) is not None
                ),
                key=lambda r: r.selected or 0.0,
            )
            if pts:
                traces.append(
                    Trace(
                        name=mode,
                        x=[r.selected for r in pts],
                        y=[y_of(r) for r in pts],
                        low=[None] * len(pts),
                        high=[None] * len(pts),
                        hover=[f"{r.selector}, budget {r.budget}" for r in pts],
                    )
                )
        if traces:
            fig = Figure(key, title, "high-res patches selected per image (mean)", y_title,
                         traces)  # fmt: skip
            written += [fig.write(out / f"{key}.html"), fig.write(out / f"{key}.png")]
    return written


def encoder_study(
    task: str,
    model_args: dict[str, Any],
    budgets: Sequence[int | str],
    *,
    modes: Sequence[str] = ("after_image",),
    out: str | Path = "reports/encoder-study",
    backend: str = "ps3",
    options: RunSettings | None = None,
    on_start: Callable[[str, Progress, Path], None] | None = None,
    on_progress: Callable[[str, Progress], None] | None = None,
    **settings: Any,
) -> Study:
    """Run the backend at every budget and mode, then write the table and figures.

    Args:
        task: The task whose images (and boxes, for recall) are encoded.
        model_args: The backend's arguments (``model`` at least).
        budgets: ``num_token_look_close`` values (0 for low resolution only, ``all``).
        modes: ``after_image`` (bottom-up) and/or ``after_prompt`` (top-down).
        out: Folder of the table and figures.
        backend: ``ps3`` (PS3 alone) or ``vila-hd`` (VILA-HD's own selection, answering one
            token per image; budgets of at least one patch).
        options: Run options every run of the study shares (a :class:`RunSettings`).
        on_start: Each run's start hook, given its label.
        on_progress: Each run's progress hook, given its label.
        **settings: Run options as keywords (``task_args``, ``data``, ``limit``,
            ``output_dir``, ...; they win over ``options``). The study runs one call at a time,
            and VILA-HD answers one token.
    """
    from ps3_eval.sweep import SweepSpec, run_sweep

    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise UsageError(f"unknown mode {bad[0] if bad else '(none)'}; modes are {list(MODES)}.")
    if not budgets:
        raise UsageError("give at least one budget (num_token_look_close), e.g. 0,1000,all.")
    if backend not in BACKENDS:
        raise UsageError(f"encoder-study runs {' or '.join(BACKENDS)}; got '{backend}'.")
    if backend == "vila-hd" and any(not isinstance(b, int) or b < 1 for b in budgets):
        raise UsageError("vila-hd takes budgets of at least one patch (no 0 or all), e.g. 2560.")
    run = RunOptions.of(options, **settings)
    shared = {k: getattr(run, k) for k in RunSettings.model_fields if k != "model_args"}
    spec = SweepSpec(
        **{
            **shared,
            "max_tokens": 1 if backend == "vila-hd" else run.max_tokens,
            "concurrency": 1,  # latency and memory are measured one call at a time
        },
        name="encoder-study",
        tasks=[task],
        model=backend,
        model_args={k: v for k, v in model_args.items() if k not in _VARIED},
        grid={"look_close_mode": list(modes), "num_token_look_close": list(budgets)},
        label="{look_close_mode} {num_token_look_close}",
        series="look_close_mode",
    )
    cells = run_sweep(
        spec,
        on_start=(lambda c, p, d: on_start(c.label, p, d)) if on_start else None,
        on_progress=(lambda c, p: on_progress(c.label, p)) if on_progress else None,
    )
    rows = []
    for cell in cells:
        mode, budget = cell.varied["look_close_mode"], str(cell.varied["num_token_look_close"])
        if cell.run_dir is None:
            raise UsageError(f"encoder-study cell '{cell.label}' failed: {cell.error}")
        rows.append(_row(backend, mode, budget, Path(cell.run_dir)))
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    table = folder / "encoder_study.csv"
    with table.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    headers = ["mode", "selector", "budget", "selected", "ratio", "tokens", "encoder s", "p50 s",
               "box recall", "peak GPU MB", "n", "errors (OOM)"]  # fmt: skip
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in rows:
        numbers = (r.selected, r.ratio, r.tokens, r.encoder_s, r.encoder_p50_s, r.recall,
                   r.peak_memory_mb)  # fmt: skip
        cells_md = [r.mode, r.selector, r.budget, *map(_fmt, numbers), str(r.n),
                    f"{r.errors} ({r.out_of_memory})"]  # fmt: skip
        lines.append("| " + " | ".join(cells_md) + " |")
    md = folder / "encoder_study.md"
    md.write_text("\n".join(lines) + "\n")
    return Study(rows, table, md, _figures(rows, folder))
