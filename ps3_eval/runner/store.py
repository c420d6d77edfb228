"""A run directory: ``spec.json``, append-only ``samples.jsonl``, ``summary.json``."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ValidationError

from ps3_eval.records import RunSpec, RunSummary, SampleResult

log = logging.getLogger(__name__)

SPEC = "spec.json"
SAMPLES = "samples.jsonl"
ERRORS = "errors.jsonl"
SUMMARY = "summary.json"


def write_json_atomic(path: Path, record: BaseModel) -> None:
    """Write a record as indented JSON through a temporary file and a rename."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(record.model_dump_json(indent=2) + "\n")
    os.replace(tmp, path)


def read_results(path: Path) -> tuple[dict[str, SampleResult], list[SampleResult], int]:
    """Read ``samples.jsonl``: the last scored result per id, error records, and damaged lines.

    A line cut short by a killed process is counted as damaged and skipped; nothing else is lost.
    """
    good: dict[str, SampleResult] = {}
    errors: list[SampleResult] = []
    damaged = 0
    if not path.exists():
        return good, errors, damaged
    with path.open("rb") as fh:
        for raw in fh:
            try:
                result = SampleResult.model_validate_json(raw)
            except ValidationError:
                damaged += 1
                continue
            if result.error is None:
                good[result.sample_id] = result
            else:
                errors.append(result)
    return good, errors, damaged


def latest_results(path: Path) -> list[SampleResult]:
    """One result per sample, sorted by id: the scored one, else the latest error."""
    good, errors, _ = read_results(path)
    failed = {e.sample_id: e for e in errors if e.sample_id not in good}
    return sorted([*good.values(), *failed.values()], key=lambda r: r.sample_id)


class RunStore:
    """Owns one run directory; appends results and flushes each at once."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir
        self._fh: IO[str] | None = None

    @property
    def samples_path(self) -> Path:
        """Path of ``samples.jsonl``."""
        return self.dir / SAMPLES

    def exists(self) -> bool:
        """True when the directory holds a run."""
        return (self.dir / SPEC).exists()

    def read_spec(self) -> RunSpec:
        """The run's spec."""
        return RunSpec.model_validate_json((self.dir / SPEC).read_text())

    def write_spec(self, spec: RunSpec) -> None:
        """Create the directory and write ``spec.json``."""
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.dir / SPEC, spec)

    def read_summary(self) -> RunSummary | None:
        """The last written summary, if any."""
        path = self.dir / SUMMARY
        if not path.exists():
            return None
        try:
            return RunSummary.model_validate_json(path.read_text())
        except ValidationError:
            return None

    def write_summary(self, summary: RunSummary) -> None:
        """Write ``summary.json``."""
        write_json_atomic(self.dir / SUMMARY, summary)

    def prepare(self) -> tuple[dict[str, SampleResult], list[SampleResult]]:
        """Load finished results and compact the file so each sample ends up on one line.

        Returns the scored results by id and the error records that are retried now.

        Error records and damaged lines move out of ``samples.jsonl`` (errors are kept in
        ``errors.jsonl`` as history) so the retried samples do not appear twice. The rewrite goes
        through a temporary file and a rename: a crash here loses nothing.
        """
        good, errors, damaged = read_results(self.samples_path)
        if errors or damaged:
            if errors:
                with (self.dir / ERRORS).open("a") as fh:
                    for e in errors:
                        fh.write(e.model_dump_json() + "\n")
            tmp = self.samples_path.with_suffix(".jsonl.tmp")
            with tmp.open("w") as fh:
                for r in good.values():
                    fh.write(r.model_dump_json() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.samples_path)
            log.info(
                "resume: kept %d results, retrying %d errors, dropped %d damaged lines",
                len(good),
                len(errors),
                damaged,
            )
        return good, errors

    def append(self, result: SampleResult) -> None:
        """Append one result and flush it to the OS before returning."""
        if self._fh is None:
            self._fh = self.samples_path.open("a")
        self._fh.write(result.model_dump_json() + "\n")
        self._fh.flush()

    def close(self) -> None:
        """Close the samples file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
