"""Run folders: the only code that reads or writes them.

A run lives in ``<output_dir>/<task>__<model>__<identity>/`` (:func:`run_dir_for`)::

    spec.json       the RunSpec (what was run) and its sessions
    samples.jsonl   one SampleResult per line, appended and flushed as each sample is scored
    errors.jsonl    failed attempts that a resume retried (history)
    summary.json    the RunSummary
    run.lock        who runs it now (pid, host, since); empty otherwise
    shards/k-of-n/  the folders of a run split over processes, each an ordinary run folder

Every read checks the schema version (see :mod:`ps3_eval.rundir.files`). Read runs through
:func:`load_run` (or ``ps3_eval.runs_df`` / ``samples_df``), never by parsing the files.
"""

from ps3_eval.rundir.files import (
    ERRORS,
    SAMPLES,
    SHARDS,
    SPEC,
    SUMMARY,
    DamagedRunFile,
    RunDir,
    run_dir_for,
    shard_dir,
)
from ps3_eval.rundir.lock import LOCK, Holder, RunLock, RunLocked, merge_lock
from ps3_eval.rundir.runs import Run, find_run_dirs, load_run, recorded_specs

__all__ = [
    "ERRORS",
    "LOCK",
    "SAMPLES",
    "SHARDS",
    "SPEC",
    "SUMMARY",
    "DamagedRunFile",
    "Holder",
    "Run",
    "RunDir",
    "RunLock",
    "RunLocked",
    "find_run_dirs",
    "load_run",
    "merge_lock",
    "recorded_specs",
    "run_dir_for",
    "shard_dir",
]
