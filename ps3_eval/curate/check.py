"""Checking questions with a reference model: without the image, and at 756, 1512 and 3780.

A question meant for 4K should be answered neither without looking nor from a downsampled
frame. ``check`` asks a model each question four times, as four ordinary runs of the ``4kpro``
card over the project's questions (``--no-image``, then ``--image-side`` 756, 1512 and 3780), so
they resume, show in ``ps3-eval runs`` and report like any run. Answers go back to the project:
the screening page shows them, and a question answered right without the image or below 4K is
flagged (``answerable at 1512``). One model's right answer can be a lucky guess (one in four);
the flag is a reason to look, not a verdict.

The questions are staged in 4KPro's local format under ``check/<digest>/`` of the project
(frames hard-linked, not copied); the same questions always stage to the same folder, so a
second check resumes its runs, and the project's response cache replays answers to questions
asked before when new ones are added.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ps3_eval.curate.project import (
    CHECK_SIDES,
    CONDITIONS,
    Project,
    cli_actor,
    model_label,
    qa_digest,
    qa_sample,
    question_id,
)
from ps3_eval.errors import UsageError
from ps3_eval.records import RunSummary
from ps3_eval.tasks.export import write_4kpro

log = logging.getLogger(__name__)

CHECK_DIR = "check"
CACHE_FILE = "cache.sqlite"
LETTERS = "ABCD"


def flag(answers: dict[str, bool | None]) -> str | None:
    """The lowest condition a question was answered right at, as the screening page says it.

    ``answerable without the image`` beats ``answerable at 756`` beats ``answerable at 1512``;
    ``None`` when only 3780 (or nothing) answered it.
    """
    if answers.get("no_image"):
        return "answerable without the image"
    for side in CHECK_SIDES[:-1]:
        if answers.get(str(side)):
            return f"answerable at {side}"
    return None


@dataclass
class CheckReport:
    """What one ``check`` call did."""

    questions: int = 0
    runs: dict[str, Path] = field(default_factory=dict)
    """Run directory per condition (``no_image``, ``756``, ``1512``, ``3780``)."""
    summaries: dict[str, RunSummary] = field(default_factory=dict)
    flagged: dict[int, str] = field(default_factory=dict)
    """Question id -> flag, for questions answered without the image or below 4K."""
    errors: int = 0


def stage(project: Project, rows: list[dict[str, Any]]) -> Path:
    """The questions in 4KPro's format under ``check/<digest>/`` (reused when it exists)."""
    digest = hashlib.sha256(
        json.dumps(
            [
                [
                    r["id"],
                    qa_digest(r),
                    r["frame_id"],
                    r["x0"],
                    r["y0"],
                    r["x1"],
                    r["y1"],
                    r["category"],
                ]
                for r in rows
            ]
        ).encode()
    ).hexdigest()[:16]
    target = project.root / CHECK_DIR / digest
    if (target / "test.jsonl").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".stage-", dir=target.parent))
    try:
        write_4kpro(
            (qa_sample(project, r) for r in rows), tmp / "data", name=project.name, link=True
        )
        (tmp / "data").rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def check_questions(
    project: str | Path | Project,
    model: str,
    *,
    model_args: dict[str, Any] | None = None,
    output_dir: str | Path = "runs",
    concurrency: int = 8,
    timeout: float | None = None,
    cache: bool = True,
    include_rejected: bool = False,
    on_start: Callable[[str, Any, Path], None] | None = None,
    on_progress: Callable[[str, Any], None] | None = None,
    actor: str | None = None,
) -> CheckReport:
    """Ask a reference model every generated question without the image and at each side.

    The twin of ``ps3-eval curate check``; the four runs are ordinary runs of the ``4kpro`` card.

    Args:
        project: the project folder or an open project.
        model: a backend spec (``NAME:key=value,...``).
        model_args: more backend arguments.
        output_dir: parent folder of the run directories (``ps3-eval runs`` lists them).
        concurrency: model calls in flight.
        timeout: seconds per model call.
        cache: replay answers from the project's response cache (``cache.sqlite``).
        include_rejected: also check questions a reviewer rejected.
        on_start: ``(condition, progress, run_dir)`` when each run starts.
        on_progress: ``(condition, progress)`` after each sample.
        actor: the name in the audit log.

    Returns:
        The runs, their summaries and the questions flagged.
    """
    from ps3_eval.rundir import load_run
    from ps3_eval.runner import evaluate

    proj = project if isinstance(project, Project) else Project(project)
    who = actor or cli_actor()
    label = model_label(model, model_args)
    try:
        rows = [r for r in proj.qa_rows() if include_rejected or r["decision"] != "rejected"]
        if not rows:
            raise UsageError(
                f"{proj.root} has no generated questions to check; run `ps3-eval curate "
                f"generate {proj.root} --model ...` first."
            )
        data = stage(proj, rows)
        report = CheckReport(questions=len(rows))
        by_id = {question_id(int(r["id"])): r for r in rows}
        answers: dict[int, dict[str, bool | None]] = {int(r["id"]): {} for r in rows}
        for condition in CONDITIONS:
            side = None if condition == "no_image" else int(condition)

            def started(p: Any, d: Path, c: str = condition) -> None:
                report.runs[c] = d
                if on_start is not None:
                    on_start(c, p, d)

            def progressed(p: Any, c: str = condition) -> None:
                if on_progress is not None:
                    on_progress(c, p)

            summary = evaluate(
                "4kpro",
                model,
                model_args=model_args,
                data=str(data),
                output_dir=output_dir,
                concurrency=concurrency,
                timeout=timeout,
                cache=proj.root / CACHE_FILE if cache else None,
                image_side=side,
                no_image=side is None,
                on_start=started,
                on_progress=progressed,
            )
            report.summaries[condition] = summary
            run = load_run(report.runs[condition])
            with proj.db.write(who) as tx:
                for result in run.results:
                    row = by_id.get(result.sample_id)
                    if row is None:
                        continue
                    correct = None if result.error else bool(result.scores.get("accuracy"))
                    if result.error:
                        report.errors += 1
                    answers[int(row["id"])][condition] = correct
                    values = {
                        "qa_digest": qa_digest(row),
                        "prediction": result.extracted or result.prediction,
                        "correct": None if correct is None else int(correct),
                        "error": result.error,
                        "run_dir": str(report.runs[condition]),
                    }
                    got = tx.execute(
                        "SELECT id FROM checks WHERE qa_id = ? AND condition = ? AND model = ?",
                        (row["id"], condition, label),
                    ).fetchone()
                    if got is None:
                        tx.insert(
                            "checks",
                            {
                                "qa_id": row["id"],
                                "condition": condition,
                                "model": label,
                                **values,
                            },
                        )
                        continue
                    held = tx.get("checks", int(got[0]))
                    assert held is not None
                    if any(held[k] != v for k, v in values.items()):  # a resumed run: no churn
                        tx.update("checks", int(got[0]), values, int(held["version"]))
        for qa_id, got_answers in answers.items():
            reason = flag(got_answers)
            if reason is not None:
                report.flagged[qa_id] = reason
        return report
    finally:
        if not isinstance(project, Project):
            proj.close()
