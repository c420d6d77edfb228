"""Runs as tables: ``runs_df`` and ``samples_df`` (``load_run`` reads one run: ps3_eval.rundir)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ps3_eval.rundir import Run, RunDir, find_run_dirs, load_run

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Run", "find_run_dirs", "images_shown", "load_run", "runs_df", "samples_df"]


def images_shown(image_side: Any, no_image: Any) -> str:
    """How a run showed its images, in a few words: ``no image``, ``756 px`` or ``as stored``.

    Takes the ``image_side`` and ``no_image`` values of a :func:`runs_df` row.
    """
    if no_image is True:
        return "no image"
    if isinstance(image_side, int) and not isinstance(image_side, bool):
        return f"{image_side} px"
    return "as stored"


def _sides_as_ints(frame: pd.DataFrame) -> pd.DataFrame:
    """``image_side`` as whole numbers with gaps (pandas would make 756 a float beside a None)."""
    if "image_side" in frame:
        frame["image_side"] = frame["image_side"].astype("Int64")
    return frame


def runs_df(paths: str | Path | Iterable[str | Path] = "runs") -> pd.DataFrame:
    """One row per run: task, model, ``arg.*`` arguments, each metric with its CI, latency, tokens.

    Each metric ``m`` gives the columns ``m``, ``m.ci_low`` and ``m.ci_high``; ``metric`` names
    the run's primary metric (its card's ``primary_metric``). ``image_side`` and ``no_image`` say
    how the images were shown (the rungs of a resolution ladder differ only there; see
    :func:`images_shown`). Only ``spec.json`` and ``summary.json`` are read.
    """
    import pandas as pd

    items = [paths] if isinstance(paths, str | Path) else list(paths)
    rows: list[dict[str, Any]] = []
    for run_dir in find_run_dirs(items):
        folder = RunDir(run_dir)
        spec, s = folder.read_spec(), folder.read_summary()
        row: dict[str, Any] = {
            "run_id": run_dir.name,
            "task": spec.task,
            "model": spec.model,
            **{f"arg.{k}": v for k, v in spec.model_args.items()},
            "image_side": spec.image_side,
            "no_image": bool(spec.no_image),
            "complete": s.complete if s else False,
            "n_total": s.n_total if s else None,
            "n": s.n if s else None,
            "n_errors": s.n_errors if s else None,
            "metric": s.primary if s else None,
        }
        for name, mv in (s.metrics if s else {}).items():
            row.update({name: mv.mean, f"{name}.ci_low": mv.ci_low, f"{name}.ci_high": mv.ci_high})
        if s is not None:
            row.update(
                latency_mean=s.latency.mean,
                latency_p50=s.latency.p50,
                latency_p90=s.latency.p90,
                failed_calls=s.latency_failed.n,
                failed_latency_mean=s.latency_failed.mean,
                input_tokens=s.tokens.input,
                visual_tokens=s.tokens.visual,
                output_tokens=s.tokens.output,
                cost=s.cost.total,
                vision_encoder_mean=s.stage_means.get("vision_encoder"),
                llm_mean=s.stage_means.get("llm"),
                ttft_mean=s.stage_means.get("ttft"),
                peak_memory_mb=s.peak_memory_mb,
                throughput=s.throughput,
                answered_throughput=s.answered_throughput,
            )
        row["path"] = str(run_dir)
        rows.append(row)
    return _sides_as_ints(pd.DataFrame(rows))


def samples_df(paths: str | Path | Iterable[str | Path] = "runs") -> pd.DataFrame:
    """One row per sample per run, with scores as ``score.<name>`` columns and timing/usage flat.

    Runs are read one at a time, so memory holds the frame and one run's records.
    """
    import pandas as pd

    items = [paths] if isinstance(paths, str | Path) else list(paths)
    frames = []
    for run_dir in find_run_dirs(items):  # one run's records at a time
        run = load_run(run_dir)
        rows: list[dict[str, Any]] = []
        for r in run.results:
            o = r.output
            row: dict[str, Any] = {
                "run_id": run.id,
                "task": run.spec.task,
                "model": run.spec.model,
                **{f"arg.{k}": v for k, v in run.spec.model_args.items()},
                "image_side": run.spec.image_side,
                "no_image": bool(run.spec.no_image),
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
        frames.append(pd.DataFrame(rows))
    return _sides_as_ints(pd.concat(frames, ignore_index=True)) if frames else pd.DataFrame()
