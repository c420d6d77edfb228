"""``ps3-eval export submission RUN_DIR --to FILE``: a run in its benchmark server's format.

For splits whose answers are hidden (MMBench's test split, the one the paper reports), the
numbers come from the benchmark's own server. MMBench's takes an Excel file with one row per
question rotation: its ``index``, the question, hint and options, and the model's ``prediction``
as it answered (the server reads the letter itself), with the category columns it was given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ps3_eval.errors import UsageError


def _index(sample_id: str) -> Any:
    return int(sample_id) if sample_id.lstrip("-").isdigit() else sample_id


def _order(sample_id: str) -> tuple[int, int, str]:
    value = _index(sample_id)
    return (0, value, "") if isinstance(value, int) else (1, 0, value)


def submission_rows(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of a complete run of a card that declares ``submission``, in index order."""
    from ps3_eval.rundir import load_run
    from ps3_eval.tasks import find_card

    run = load_run(run_dir)
    spec = run.spec
    card = find_card(spec.card_path or spec.task).card
    if card.submission is None:
        raise UsageError(
            f"task '{spec.task}' has no submission format; tasks with one: those whose card "
            f"says `submission:` (mmbench)."
        )
    failed = [r for r in run.results if r.error is not None]
    expected = run.summary.n_total if run.summary is not None else len(run.results)
    if failed or len(run.results) < expected:
        missing = expected - len(run.results) + len(failed)
        raise UsageError(
            f"{run_dir} is not complete ({missing} samples missing or failed); finish it by "
            f"running the same command again, then export."
        )
    rows = []
    for r in sorted(run.results, key=lambda r: _order(r.sample_id)):
        row: dict[str, Any] = {
            "index": _index(r.sample_id),
            "question": r.question or "",
            "hint": r.metadata.get("hint") or "",
        }
        for letter, option in zip("ABCDEFGHIJ", r.choices or [], strict=False):
            row[letter] = option
        row["answer"] = r.targets[0] if r.targets else ""
        row["prediction"] = r.prediction
        row["category"] = r.category or ""
        for key, value in r.metadata.items():
            if key not in row and key != "instruction":
                row[key.lower()] = value
        rows.append(row)
    return rows


def export_submission(run_dir: str | Path, to: str | Path) -> Path:
    """Write the run's submission file (``.xlsx``); returns its path."""
    import pandas as pd

    path = Path(to)
    if path.suffix.lower() != ".xlsx":
        raise UsageError(f"--to {to}: MMBench's server takes an Excel file; name it *.xlsx.")
    rows = submission_rows(run_dir)
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        raise UsageError("writing .xlsx needs openpyxl: pip install openpyxl.") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_excel(path, index=False)
    return path
