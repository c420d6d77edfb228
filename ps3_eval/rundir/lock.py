"""One process at a time per run folder: an advisory lock held while a session adds results.

Two processes running the same run would each run every sample (twice the cost with an API
model) and one session's record would be lost. The lock is ``fcntl.flock`` on ``run.lock`` in the
run folder, so the kernel releases it when its process ends, however it ends. The file says who
holds it (pid, host, since) for the message a second process prints; a holder that ended without
releasing it leaves that text behind, and the next process takes the lock over and says so.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ps3_eval.errors import UsageError

log = logging.getLogger(__name__)

LOCK = "run.lock"
MERGE_LOCK = ".merge.lock"


@dataclass(frozen=True)
class Holder:
    """The process holding (or that held) a run folder."""

    pid: int
    host: str
    since: str
    """When it took the lock (UTC, ISO 8601 to the second)."""

    def describe(self) -> str:
        """``pid 123 on host since 2025-01-01T10:00:00Z``."""
        return f"pid {self.pid} on {self.host} since {self.since}"


class RunLocked(UsageError):
    """Another process holds the run folder (exit code 2)."""

    def __init__(self, run_dir: Path, holder: Holder | None) -> None:
        who = holder.describe() if holder else "another process (it has not said which yet)"
        super().__init__(
            f"{run_dir} is being run by {who}; wait for it to end, or pass --wait to start "
            f"when it does."
        )
        self.run_dir = run_dir
        self.holder = holder


def _read(fd: int) -> Holder | None:
    try:
        raw = os.pread(fd, 4096, 0)
        data = json.loads(raw) if raw.strip() else None
        if not isinstance(data, dict):
            return None
        return Holder(int(data["pid"]), str(data["host"]), str(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class RunLock:
    """The lock of one run folder; ``acquire`` raises :class:`RunLocked` while another holds it."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> Holder | None:
        """Take the lock without waiting.

        Returns:
            The holder a lock was taken over from (it ended without releasing it), or ``None``.

        Raises:
            RunLocked: another process holds it.
            OSError: the lock file cannot be created (a read-only folder).
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                holder = _read(fd)
                os.close(fd)
                raise RunLocked(self.path.parent, holder) from None
            # A file system without locks (some network mounts): run, but say what is at risk.
            log.warning(
                "cannot lock %s (%s); make sure no other process runs this run at the same time",
                self.path,
                exc.strerror,
            )
            os.close(fd)
            return None
        stale = _read(fd)
        me = Holder(
            os.getpid(),
            socket.gethostname(),
            datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me.__dict__).encode() + b"\n", 0)
        except OSError:
            os.close(fd)
            raise
        self._fd = fd
        if stale is not None:
            log.warning(
                "took over the lock of %s from %s, which ended without releasing it",
                self.path.parent,
                stale.describe(),
            )
        return stale

    def release(self) -> None:
        """Release the lock (the file stays, empty: removing it would race with a waiter)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        finally:
            os.close(fd)  # closing the descriptor releases the flock


@contextlib.contextmanager
def merge_lock(run_dir: Path) -> Iterator[None]:
    """One merge of a run's shards at a time (the merge is idempotent either way); waits."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / MERGE_LOCK).open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
