"""Runs read back: ``load_run`` and the run folders among paths, all through :class:`RunDir`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ps3_eval.errors import UsageError
from ps3_eval.records import RunSpec, RunSummary, SampleResult
from ps3_eval.rundir.files import SPEC, DamagedRunFile, RunDir


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
    """Read ``spec.json``, ``summary.json`` and ``samples.jsonl`` of one run directory.

    Raises:
        UsageError: the folder holds no run, or a file in it is newer than this ps3-eval.
        DamagedRunFile: its spec or summary is not one (the message names the file and the fix).
    """
    folder = RunDir(path)
    spec = folder.read_spec()
    return Run(folder.dir, spec, folder.read_summary(), folder.results())


def find_run_dirs(paths: Iterable[str | Path], strict: bool = False) -> list[Path]:
    """Run directories among ``paths`` and directly inside the folders among them.

    With ``strict``, a path that is neither a run directory nor a folder is an error.
    """
    found = []
    for p in paths:
        p = Path(p)
        if RunDir(p).exists():
            found.append(p)
        elif p.is_dir():
            found.extend(sorted(q.parent for q in p.glob(f"*/{SPEC}") if q.is_file()))
        elif strict:
            raise UsageError(f"{p} is neither a run directory nor a folder of them.")
    return found


def recorded_specs(root: Path) -> list[tuple[Path, RunSpec]]:
    """Every run directory directly under ``root`` with its recorded spec, read once.

    A folder whose spec cannot be read (damaged, or not a spec) is passed over: it is not a run
    anything can be matched with. A spec newer than this ps3-eval is an error (upgrade).
    """
    found = []
    for spec_file in sorted(root.glob(f"*/{SPEC}")) if root.is_dir() else []:
        run_dir = spec_file.parent
        try:
            found.append((run_dir, RunDir(run_dir).read_spec()))
        except (OSError, DamagedRunFile):
            continue
    return found
