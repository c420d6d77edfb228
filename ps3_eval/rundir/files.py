"""One run folder's files: ``spec.json``, append-only ``samples.jsonl``, ``summary.json``.

Every read checks the schema version (``records.SCHEMA_VERSION``): a file a newer ps3-eval wrote
is refused with one line that says to upgrade, never misread. A file that is not a record at all
(damaged, hand-edited) is :class:`DamagedRunFile`, which names the file, the first problem and
the fix; ``summary.json`` is never passed over as if the run had none (``run --resume`` writes it
again from the samples). Only a ``samples.jsonl`` line cut short by a killed process is skipped
(and dropped when the run resumes): it is the one damage a crash leaves behind.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TypeVar

from pydantic import BaseModel, ValidationError

from ps3_eval.errors import UsageError
from ps3_eval.records import SCHEMA_VERSION, RunSpec, RunSummary, SampleResult

log = logging.getLogger(__name__)

SPEC = "spec.json"
SAMPLES = "samples.jsonl"
ERRORS = "errors.jsonl"
SUMMARY = "summary.json"
SHARDS = "shards"

R = TypeVar("R", bound=BaseModel)


class DamagedRunFile(UsageError):
    """A run folder's file that does not hold the record it should (exit code 2)."""


def newer_schema(path: Path, version: object) -> UsageError:
    """The error for a file written by a newer ps3-eval."""
    return UsageError(
        f"{path} was written by a newer ps3-eval (schema {version}; this one reads up to "
        f"{SCHEMA_VERSION}); upgrade ps3-eval to read it."
    )


def _version_of(raw: str | bytes) -> object:
    """The ``schema_version`` a JSON object states, or ``None``."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data.get("schema_version") if isinstance(data, dict) else None


def _is_newer(version: object) -> bool:
    return isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION


def _problem(exc: ValidationError) -> str:
    """The first thing wrong, in a few words: ``n_total: Field required``."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def read_record(path: Path, cls: type[R], fix: str) -> R:
    """Read one JSON record, checking its schema version.

    Raises:
        UsageError: the file was written by a newer ps3-eval.
        DamagedRunFile: it is not a record of ``cls``; the message ends with ``fix``.
    """
    raw = path.read_text()
    try:
        record = cls.model_validate_json(raw)
    except ValidationError as exc:
        version = _version_of(raw)
        if _is_newer(version):
            raise newer_schema(path, version) from None
        raise DamagedRunFile(f"{path} cannot be read ({_problem(exc)}); {fix}") from None
    version = getattr(record, "schema_version", None)
    if _is_newer(version):
        raise newer_schema(path, version)
    return record


def write_json_atomic(path: Path, record: BaseModel) -> None:
    """Write a record as indented JSON through a temporary file and a rename."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(record.model_dump_json(indent=2) + "\n")
    os.replace(tmp, path)


def read_results(path: Path) -> tuple[dict[str, SampleResult], list[SampleResult], int]:
    """Read ``samples.jsonl``: the last scored result per id, error records, and damaged lines.

    A line cut short by a killed process is counted as damaged and skipped; nothing else is lost.

    Raises:
        UsageError: a line was written by a newer ps3-eval.
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
                version = _version_of(raw)
                if _is_newer(version):
                    raise newer_schema(path, version) from None
                damaged += 1
                continue
            if result.schema_version > SCHEMA_VERSION:
                raise newer_schema(path, result.schema_version)
            if result.error is None:
                good[result.sample_id] = result
            else:
                errors.append(result)
    return good, errors, damaged


def latest_of(good: dict[str, SampleResult], errors: list[SampleResult]) -> list[SampleResult]:
    """One result per sample, sorted by id: the scored one, else the latest error."""
    failed = {e.sample_id: e for e in errors if e.sample_id not in good}
    return sorted([*good.values(), *failed.values()], key=lambda r: r.sample_id)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "x"


def run_dir_for(output_dir: Path, spec: RunSpec) -> Path:
    """``<output_dir>/<task>__<model>__<identity>``: the same spec always maps to one folder."""
    return output_dir / f"{_slug(spec.task)}__{_slug(spec.model)}__{spec.identity()}"


def shard_dir(run_dir: Path, shard: tuple[int, int]) -> Path:
    """Where shard ``k`` of ``n`` of a run writes: ``<run>/shards/<k>-of-<n>/``."""
    return run_dir / SHARDS / f"{shard[0]}-of-{shard[1]}"


class RunDir:
    """One run folder: the only code that reads or writes its files.

    Results are appended and flushed one at a time (``append``); everything else is written
    whole, through a temporary file and a rename.
    """

    def __init__(self, path: str | Path) -> None:
        self.dir = Path(path)
        self._fh: IO[str] | None = None

    def __repr__(self) -> str:
        return f"RunDir({str(self.dir)!r})"

    @property
    def name(self) -> str:
        """The folder's name (the run's id)."""
        return self.dir.name

    def exists(self) -> bool:
        """True when the folder holds a run (its ``spec.json``)."""
        return (self.dir / SPEC).is_file()

    # -- spec and summary ---------------------------------------------------------------------

    def read_spec(self) -> RunSpec:
        """The run's spec.

        Raises:
            UsageError: the folder holds no run, or its spec is newer than this ps3-eval.
            DamagedRunFile: ``spec.json`` is not a spec.
        """
        if not self.exists():
            raise UsageError(
                f"{self.dir} is not a run directory (no {SPEC}); pass a folder under runs/."
            )
        return read_record(
            self.dir / SPEC,
            RunSpec,
            "restore it from a copy of the run, or start the run again in a new folder.",
        )

    def write_spec(self, spec: RunSpec) -> None:
        """Create the folder and write ``spec.json``."""
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.dir / SPEC, spec)

    def read_summary(self) -> RunSummary | None:
        """The last written summary; ``None`` when no session has written one yet.

        Raises:
            UsageError: the summary is newer than this ps3-eval.
            DamagedRunFile: ``summary.json`` is not a summary (the message says to resume the
                run, which writes it again from ``samples.jsonl``).
        """
        path = self.dir / SUMMARY
        if not path.is_file():
            return None
        return read_record(
            path,
            RunSummary,
            f"`ps3-eval run --resume {self.dir}` writes it again from the samples.",
        )

    def write_summary(self, summary: RunSummary) -> None:
        """Write ``summary.json``."""
        write_json_atomic(self.dir / SUMMARY, summary)

    # -- results ------------------------------------------------------------------------------

    @property
    def samples_path(self) -> Path:
        """Path of ``samples.jsonl``."""
        return self.dir / SAMPLES

    def read_results(self) -> tuple[dict[str, SampleResult], list[SampleResult], int]:
        """The last scored result per id, the error records, and the count of damaged lines."""
        return read_results(self.samples_path)

    def results(self) -> list[SampleResult]:
        """One result per sample, sorted by id: the scored one, else the latest error."""
        good, errors, _ = self.read_results()
        return latest_of(good, errors)

    def compact(self) -> tuple[dict[str, SampleResult], list[SampleResult]]:
        """Load finished results and compact the file so each sample ends up on one line.

        Returns the scored results by id and the error records that are retried now.

        Error records and damaged lines move out of ``samples.jsonl`` (errors are kept in
        ``errors.jsonl`` as history) so the retried samples do not appear twice. The rewrite goes
        through a temporary file and a rename: a crash here loses nothing.
        """
        good, errors, damaged = self.read_results()
        if errors or damaged:
            if errors:
                with (self.dir / ERRORS).open("a") as fh:
                    for e in errors:
                        fh.write(e.model_dump_json() + "\n")
            self.replace_results(good.values())
            log.info(
                "resume: kept %d results, retrying %d errors, dropped %d damaged lines",
                len(good),
                len(errors),
                damaged,
            )
        return good, errors

    def replace_results(self, results: Iterable[SampleResult]) -> None:
        """Write ``samples.jsonl`` anew with ``results``, through a temporary file and a rename."""
        tmp = self.samples_path.with_suffix(".jsonl.tmp")
        with tmp.open("w") as fh:
            for r in results:
                fh.write(r.model_dump_json() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.samples_path)

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

    # -- shards -------------------------------------------------------------------------------

    def shard(self, shard: tuple[int, int]) -> RunDir:
        """The folder of shard ``k`` of ``n`` of this run."""
        return RunDir(shard_dir(self.dir, shard))

    def whole(self) -> RunDir:
        """The run a shard's folder belongs to (``<run>/shards/k-of-n`` -> ``<run>``)."""
        return RunDir(self.dir.parent.parent)

    def shards(self) -> tuple[int, list[RunDir]]:
        """How many ways the run is split, and the folder of every shard (run or not).

        Raises:
            UsageError: there are no shard folders, or folders of different splits.
        """
        root = self.dir / SHARDS
        found = sorted(root.glob("*-of-*")) if root.is_dir() else []
        if not found:
            raise UsageError(f"{self.dir} has no shards (no {SHARDS}/K-of-N folders) to merge.")
        counts = {p.name.split("-of-")[1] for p in found}
        if len(counts) > 1:
            raise UsageError(
                f"{self.dir} holds shards of different splits ({', '.join(sorted(counts))} "
                f"ways); keep one split's folders under {SHARDS}/."
            )
        n = int(counts.pop())
        return n, [self.shard((k, n)) for k in range(1, n + 1)]
