"""``ps3-eval demo``: the offline default, probe4k read by the CPU OCR reader at several settings.

Runs the synthetic 4K probe with the ``ocr-reader`` at 756, 1512 and 3780 (whole image) and at 3780
with two PS3-style selection budgets, then writes a self-contained HTML report. Every run is an
ordinary resumable run directory, so an interrupted demo picks up where it stopped.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ps3_eval.analysis import load_run
from ps3_eval.records import RunSummary
from ps3_eval.report import ConfigRow, config_rows, render_html
from ps3_eval.runner import Progress, evaluate

DEMO_CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("full 756", {"resolution": 756}),
    ("full 1512", {"resolution": 1512}),
    ("full 3780", {"resolution": 3780}),
    ("sel 10% 3780", {"resolution": 3780, "select": 0.10}),
    ("sel 15% 3780", {"resolution": 3780, "select": 0.15}),
]
"""Label and ``ocr-reader`` arguments of each demo configuration."""

CHANCE = 0.25


@dataclass
class DemoResult:
    """What the demo produced."""

    report: Path
    rows: list[ConfigRow]
    findings: list[str]
    summaries: list[RunSummary]


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def findings(rows: list[ConfigRow]) -> list[str]:
    """Plain statements of what the runs measured (no claim the data does not carry)."""
    by = {r.label: r for r in rows}
    out: list[str] = []
    full = [r for r in rows if r.label.startswith("full")]
    if full:
        chain = " -> ".join(f"{r.label.split()[1]}: {r.value:.2f}" for r in full)
        rising = all(a.value <= b.value for a, b in itertools.pairwise(full))
        out.append(
            f"Whole-image accuracy by reading resolution: {chain} "
            f"({'rises' if rising else 'does not rise monotonically'} with resolution; "
            f"chance is {CHANCE:.2f})."
        )
        for bucket in sorted({b for r in full for b in r.by_mrr}):
            chain = ", ".join(
                f"{r.label.split()[1]}: {r.by_mrr[bucket]:.2f}" for r in full if bucket in r.by_mrr
            )
            out.append(f"Designed-MRR {bucket} items, accuracy by resolution: {chain}.")
    ref = by.get("full 3780")
    for r in rows:
        if not r.label.startswith("sel") or ref is None or not ref.value:
            continue
        lat = (
            f", {_pct(r.latency / ref.latency)} of its latency" if r.latency and ref.latency else ""
        )
        recall = f"; mean recall of the answer's box {r.recall:.2f}" if r.recall is not None else ""
        out.append(
            f"{r.label}: accuracy {r.value:.2f} = {_pct(r.value / ref.value)} of full 3780, "
            f"with {_pct(r.visual_tokens / max(ref.visual_tokens, 1))} of its visual tokens"
            f"{lat}{recall}."
        )
    errors = sum(r.n_errors for r in rows)
    if errors:
        out.append(f"{errors} samples failed across the runs and are excluded from accuracy.")
    return out


def run_demo(
    n: int = 24,
    seed: int = 0,
    output_dir: str | Path = "runs",
    report_dir: str | Path = "reports/demo",
    configs: list[tuple[str, dict[str, Any]]] | None = None,
    on_start: Callable[[str, Progress, Path], None] | None = None,
    on_progress: Callable[[str, Progress], None] | None = None,
) -> DemoResult:
    """Run every demo configuration (resuming finished ones) and write ``report.html``."""
    summaries: list[RunSummary] = []
    labelled: list[tuple[str, Path]] = []
    for label, args in configs or DEMO_CONFIGS:
        summary = evaluate(
            "probe4k",
            "ocr-reader",
            model_args=args,
            task_args={"n": n, "seed": seed},
            output_dir=output_dir,
            concurrency=1,
            on_start=functools.partial(on_start, label) if on_start else None,
            on_progress=functools.partial(on_progress, label) if on_progress else None,
        )
        summaries.append(summary)
        labelled.append((label, Path(output_dir) / summary.run_id))
    rows = config_rows([(label, load_run(d)) for label, d in labelled])
    facts = findings(rows)
    report = Path(report_dir) / "report.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    intro = (
        f"probe4k (synthetic 3840x2160 scenes, n={n}, seed={seed}) read by ocr-reader, a CPU "
        f"PP-OCRv4 model, at whole-image resolutions and with PS3-style patch selection. "
        f"Visual tokens are 14x14-pixel patches processed; box recall is the share of the "
        f"answer's patches that selection kept (the paper's Table 7 recall)."
    )
    report.write_text(
        render_html(
            "ps3-eval demo: resolution and selection on probe4k",
            rows,
            facts,
            intro,
        )
    )
    return DemoResult(report=report, rows=rows, findings=facts, summaries=summaries)
