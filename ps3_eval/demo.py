"""``ps3-eval demo``: the offline default, a sweep spec shipped with the package.

The spec (``ps3_eval/benchmarks/sweeps/demo.yaml``) runs the synthetic 4K probe with the
``ocr-reader`` at 756, 1512 and 3780 (whole image) and at 3780 with two PS3-style selection
budgets; the report is the general one every sweep gets. Every cell is an ordinary resumable run,
so an interrupted demo picks up where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ps3_eval.errors import Ps3EvalError
from ps3_eval.report import Report, build_report
from ps3_eval.runner import Progress
from ps3_eval.sweep import Cell, SweepSpec, load_spec, run_sweep


def shipped_spec(name: str = "demo") -> Path:
    """The path of a sweep spec shipped with the package."""
    from ps3_eval.paths import sweeps_dir

    return sweeps_dir() / f"{name}.yaml"


def demo_spec(n: int = 24, seed: int = 0, output_dir: str | Path = "runs") -> SweepSpec:
    """The shipped demo sweep with its item count, generator seed and run folder set."""
    spec = load_spec(shipped_spec())
    spec.task_args = {**spec.task_args, "n": n, "seed": seed}
    spec.output_dir = str(output_dir)
    return spec


@dataclass
class DemoResult:
    """What the demo produced."""

    report: Report
    cells: list[Cell]


def run_demo(
    n: int = 24,
    seed: int = 0,
    output_dir: str | Path = "runs",
    report_dir: str | Path = "reports/demo",
    on_start: Callable[[str, Progress, Path], None] | None = None,
    on_progress: Callable[[str, Progress], None] | None = None,
) -> DemoResult:
    """Run every demo cell (resuming finished ones) and write the report under ``report_dir``."""
    spec = demo_spec(n, seed, output_dir)
    cells = run_sweep(
        spec,
        on_start=(lambda c, p, d: on_start(c.label, p, d)) if on_start else None,
        on_progress=(lambda c, p: on_progress(c.label, p)) if on_progress else None,
    )
    failed = [c for c in cells if c.status == "failed"]
    if failed:
        raise Ps3EvalError(f"demo cell '{failed[0].label}' failed: {failed[0].error}")
    report = build_report(spec, out=report_dir, intro=f"{spec.description} n={n}, seed={seed}.")
    return DemoResult(report, cells)
