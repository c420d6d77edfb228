"""What the commands share: the exit code of error records, ``key=value`` options, summaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ps3_eval.console import out, print_summary

EXIT_ERRORS = 3
"""Exit code of a run (or sweep) that ended with error records: a re-run retries them."""


def kv(pairs: list[str] | None, what: str, numbers: bool = False) -> dict[str, Any]:
    """``key=value`` options as a mapping (one line naming a bad pair)."""
    from ps3_eval.models import parse_assignments

    return parse_assignments(pairs or [], what, numbers)


def show_summary(summary: Any, as_json: bool, run_dir: Path | None = None) -> None:
    """A summary as JSON (for scripts) or as the terminal table."""
    if as_json:
        out.print_json(summary.model_dump_json())
    else:
        print_summary(summary, run_dir=run_dir)
