"""Reading runs back: ``load_run``, ``runs_df`` and ``samples_df``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ps3_eval.errors import UsageError
from ps3_eval.records import SCHEMA_VERSION, RunSpec, RunSummary, SampleResult
from ps3_eval.runner.store import SAMPLES, SPEC, SUMMARY, latest_results

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Run:
    """A run directory read back through the record types."""

    dir: Path
    spec: RunSpec
    summary: RunSummary | None
    results: list[SampleResult]
    """One result per sample (the scored one when a sample was retried), sorted by id."""

    @property
    def id(self) -> str:
        """The run directory's name."""
        return self.dir.name


def load_run(path: str | Path) -> Run:
    """Read ``spec.json``, ``summary.json`` and ``samples.jsonl`` of one run directory."""
    run_dir = Path(path)
    if not (run_dir / SPEC).is_file():
        raise UsageError(
            f"{run_dir} is not a run directory (no {SPEC}); pass a folder under runs/."
        )
    spec = RunSpec.model_validate_json((run_dir / SPEC).read_text())
    if spec.schema_version > SCHEMA_VERSION:
        raise UsageError(
            f"{run_dir} was written by a newer ps3-eval (schema {spec.schema_version}); upgrade."
        )
    summary = None
    if (run_dir / SUMMARY).is_file():
        summary = RunSummary.model_validate_json((run_dir / SUMMARY).read_text())
    return Run(run_dir, spec, summary, latest_results(run_dir / SAMPLES))


def _find_runs(paths: Iterable[str | Path]) -> list[Path]:
    found = []
    for p in paths:
        p = Path(p)
        if (p / SPEC).is_file():
            found.append(p)
        elif p.is_dir():
            found.extend(sorted(q.parent for q in p.glob(f"*/{SPEC}")))
    return found


def runs_df(paths: str | Path | Iterable[str | Path] = "runs") -> pd.DataFrame:
    """One row per run and metric: task, model, arguments, n, errors, mean, CI, latency, tokens."""
    import pandas as pd

    items = [paths] if isinstance(paths, str | Path) else list(paths)
    rows: list[dict[str, Any]] = []
    for run_dir in _find_runs(items):
        run = load_run(run_dir)
        s = run.summary
        base: dict[str, Any] = {
            "run_id": run.id,
            "task": run.spec.task,
            "model": run.spec.model,
            **{f"arg.{k}": v for k, v in run.spec.model_args.items()},
            "n": s.n if s else None,
            "n_errors": s.n_errors if s else None,
            "complete": s.complete if s else False,
            "latency_mean": s.latency.mean if s else None,
            "latency_p50": s.latency.p50 if s else None,
            "latency_p90": s.latency.p90 if s else None,
            "failed_calls": s.latency_failed.n if s else None,
            "failed_latency_mean": s.latency_failed.mean if s else None,
            "input_tokens": s.tokens.input if s else None,
            "visual_tokens": s.tokens.visual if s else None,
            "output_tokens": s.tokens.output if s else None,
            "cost": s.cost.total if s else None,
            "throughput": s.throughput if s else None,
            "answered_throughput": s.answered_throughput if s else None,
            "path": str(run.dir),
        }
        metrics = s.metrics if s else {}
        for name, mv in metrics.items():
            rows.append(
                {
                    **base,
                    "metric": name,
                    "value": mv.mean if mv else None,
                    "ci_low": mv.ci_low if mv else None,
                    "ci_high": mv.ci_high if mv else None,
                    "ci_method": mv.method if mv else None,
                }
            )
        if not metrics:
            rows.append(
                {
                    **base,
                    "metric": None,
                    "value": None,
                    "ci_low": None,
                    "ci_high": None,
                    "ci_method": None,
                }
            )
    return pd.DataFrame(rows)


def samples_df(paths: str | Path | Iterable[str | Path] = "runs") -> pd.DataFrame:
    """One row per sample per run, with scores as ``score.<name>`` columns and timing/usage flat."""
    import pandas as pd

    items = [paths] if isinstance(paths, str | Path) else list(paths)
    rows: list[dict[str, Any]] = []
    for run_dir in _find_runs(items):
        run = load_run(run_dir)
        for r in run.results:
            o = r.output
            row: dict[str, Any] = {
                "run_id": run.id,
                "task": run.spec.task,
                "model": run.spec.model,
                **{f"arg.{k}": v for k, v in run.spec.model_args.items()},
                "sample_id": r.sample_id,
                "category": r.category,
                "mrr": r.mrr,
                "target": r.targets[0] if r.targets else None,
                "prediction": r.prediction,
                "extracted": r.extracted,
                "unparsed": "unparsed" in r.notes,
                "judged": r.judge is not None and r.judge.error is None,
                "judge_input_tokens": r.judge.usage.input_tokens if r.judge else None,
                "judge_output_tokens": r.judge.usage.output_tokens if r.judge else None,
                "group": r.group,
                "error": r.error,
                "error_kind": r.error_kind,
                "question": r.question,
                "session": r.session,
                "latency": o.timing.latency,
                "input_tokens": o.usage.input_tokens,
                "visual_tokens": o.usage.visual_tokens,
                "output_tokens": o.usage.output_tokens,
                "cached": o.cached,
                **{f"score.{k}": v for k, v in r.scores.items()},
                **{f"stage.{k}": v for k, v in o.timing.stages.items()},
            }
            if o.selection is not None:
                row.update(
                    selected_patches=o.selection.selected_patches,
                    total_patches=o.selection.total_patches,
                    recall=o.selection.recall,
                )
            rows.append(row)
    return pd.DataFrame(rows)
