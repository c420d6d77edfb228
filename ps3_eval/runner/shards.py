"""Sharded runs: each process takes every n-th sample, and the shards merge into one run.

A run split ``n`` ways keeps the identity (and folder) of the unsplit run. Shard ``k`` writes an
ordinary run directory of its own under ``<run>/shards/<k>-of-<n>/``, with the same spec and
``shard: "k/n"``, so each shard resumes on its own. When the last shard ends, whichever process
ends it merges every shard into ``<run>/``: a run directory like one a single process writes.
Under ``torchrun`` or ``accelerate launch`` the shard comes from ``RANK`` and ``WORLD_SIZE``.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

from ps3_eval.errors import UsageError
from ps3_eval.records import RunSpec, RunSummary, SampleResult
from ps3_eval.rundir import RunDir, merge_lock
from ps3_eval.runner.summary import summarize


def parse_shard(text: str) -> tuple[int, int]:
    """``"k/n"`` as ``(k, n)``, with 1 <= k <= n."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise UsageError(f"--shard must be k/n with 1 <= k <= n (e.g. 2/4), got '{text}'.")
    return int(m.group(1)), int(m.group(2))


def shard_from_env() -> tuple[int, int] | None:
    """The shard of this process under torchrun / accelerate (``RANK`` of ``WORLD_SIZE``)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
    except ValueError:
        raise UsageError(
            "RANK and WORLD_SIZE must be integers (as torchrun sets them); unset them to run "
            "in one process."
        ) from None
    if world <= 1:
        return None
    if not 0 <= rank < world:
        raise UsageError(f"RANK={rank} is outside WORLD_SIZE={world}.")
    return rank + 1, world


def in_shard(index: int, shard: tuple[int, int] | None) -> bool:
    """Whether the sample at ``index`` (in the task's order) belongs to ``shard``."""
    return shard is None or index % shard[1] == shard[0] - 1


def shard_size(n_total: int, shard: tuple[int, int] | None) -> int:
    """How many of ``n_total`` samples a shard takes."""
    if shard is None:
        return n_total
    k, n = shard
    return len(range(k - 1, n_total, n))


def _ended(folder: RunDir) -> bool:
    """Whether a shard's latest session has ended (its summary is newer than its last start)."""
    if not folder.exists():
        return False
    summary = folder.read_summary()
    spec = folder.read_spec()
    if summary is None:
        return False
    return not spec.sessions or summary.finished_at >= spec.sessions[-1].started_at


def ready_to_merge(run_dir: Path) -> bool:
    """Whether every shard of the run exists and has ended.

    A shard whose files cannot be read is not ready; ``merge`` then says what is wrong.
    """
    try:
        _, shards = RunDir(run_dir).shards()
        return all(_ended(s) for s in shards)
    except UsageError:
        return False


def merged_into(shard_folder: Path, since: datetime) -> tuple[Path, bool]:
    """The run a shard's folder belongs to, and whether it was merged at ``since`` or later."""
    whole = RunDir(shard_folder).whole()
    summary = whole.read_summary()
    return whole.dir, summary is not None and summary.finished_at >= since


def merge(run_dir: str | Path) -> RunSummary:
    """Merge every shard of a run into the run's own directory and summarize it.

    The merged ``samples.jsonl`` holds each shard's latest record per sample (sorted by id), the
    spec lists every shard's sessions, and the summary covers the whole task. Merging again
    gives the same run.

    Raises:
        UsageError: a shard is missing or has not ended, or shards disagree on the run.
    """
    whole = RunDir(run_dir)
    root = whole.dir
    n, stores = whole.shards()
    for k, store in enumerate(stores, 1):
        if not store.exists():
            raise UsageError(f"shard {k}/{n} of {root} has not run; run it with --shard {k}/{n}.")
        if not _ended(store):
            raise UsageError(
                f"shard {k}/{n} of {root} has not ended (it is running, or was killed: run it "
                f"again with --shard {k}/{n} to finish it)."
            )
    with merge_lock(root):
        specs = [s.read_spec() for s in stores]
        identity = specs[0].identity()
        if any(s.identity() != identity for s in specs):
            raise UsageError(f"the shards under {root} belong to different runs; merge refused.")
        spec: RunSpec = specs[0].model_copy(deep=True)
        spec.shard = None
        spec.sessions = []
        results: list[SampleResult] = []
        n_total, wall, n_new = 0, 0.0, 0
        for store, shard_spec in zip(stores, specs, strict=True):
            offset = len(spec.sessions)
            spec.sessions.extend(shard_spec.sessions)
            for r in store.results():
                if r.session is not None:
                    r.session += offset
                results.append(r)
            summary = store.read_summary()
            assert summary is not None  # checked by _ended
            n_total += summary.n_total
            wall = max(wall, summary.wall_time_s)
            n_new += summary.n + summary.n_errors
        results.sort(key=lambda r: r.sample_id)
        whole.replace_results(results)
        whole.write_spec(spec)
        merged = summarize(
            root.name,
            spec,
            results,
            n_total=n_total,
            wall_time_s=wall,
            n_new=n_new,
            n_new_scored=sum(r.error is None for r in results),
        )
        whole.write_summary(merged)
    return merged
