"""Progress on the terminal: a live bar when stderr is a terminal, plain lines when it is not.

Under nohup, in CI or with output sent to a file, a live bar draws nothing, so a long run would be
silent for minutes. There a ticker prints one line when a run starts, one at a steady interval
(``PS3_EVAL_PROGRESS_INTERVAL`` seconds, default 10) and one when it ends.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.console import Console

    from ps3_eval.runner import Progress

INTERVAL_ENV = "PS3_EVAL_PROGRESS_INTERVAL"
"""Seconds between plain progress lines when stderr is not a terminal."""
DEFAULT_INTERVAL = 10.0


class ProgressView(Protocol):
    """What the CLI drives: one view may show several runs in turn (the demo's configurations)."""

    def start(self, label: str, progress: Progress) -> None:
        """A run starts (``progress`` counts samples finished in earlier sessions)."""

    def update(self, progress: Progress) -> None:
        """A sample was recorded."""

    def stop(self) -> None:
        """Nothing more will be shown; safe to call more than once."""


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def status_line(label: str, progress: Progress, elapsed: float) -> str:
    """One plain line: counts, pace of this session, ETA, running metric, errors."""
    p = progress
    pct = 100 * p.done / p.total if p.total else 100.0
    parts = [f"{label}: {p.done}/{p.total} ({pct:.0f}%)"]
    new = p.done - p.resumed
    if new > 0:
        pace = elapsed / new
        parts.append(f"{pace:.2f} s/sample")
        parts.append(f"ETA {_clock(pace * max(0, p.total - p.done))}")
    else:
        parts.append(f"elapsed {_clock(elapsed)}")
    if p.running is not None:
        parts.append(f"{p.metric}={p.running:.3f}")
    parts.append(f"errors={p.errors}")
    return "  ".join(parts)


class PlainLines:
    """Prints a status line at a steady interval from a background thread."""

    def __init__(self, console: Console, interval: float) -> None:
        self.console = console
        self.interval = interval
        self._lock = threading.Lock()
        self._label = ""
        self._progress: Progress | None = None
        self._started = 0.0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def _say(self, text: str) -> None:
        self.console.print(text, soft_wrap=True, highlight=False, markup=False)
        self.console.file.flush()

    def _line(self) -> str | None:
        with self._lock:
            if self._progress is None:
                return None
            return status_line(self._label, self._progress, time.monotonic() - self._started)

    def _tick(self) -> None:
        while not self._wake.wait(self.interval):
            line = self._line()
            if line is not None:
                self._say(line)

    def start(self, label: str, progress: Progress) -> None:
        """Print the start line and make sure the ticker runs."""
        self._finish_run()
        with self._lock:
            self._label, self._progress, self._started = label, progress, time.monotonic()
        resumed = f", {progress.done} already done" if progress.done else ""
        self._say(f"{label}: started, {progress.total} samples{resumed}")
        if self._thread is None:
            self._wake.clear()
            self._thread = threading.Thread(
                target=self._tick, name="ps3-eval-progress", daemon=True
            )
            self._thread.start()

    def update(self, progress: Progress) -> None:
        """Keep the latest counters for the next line."""
        with self._lock:
            self._progress = progress

    def _finish_run(self) -> None:
        line = self._line()
        if line is not None:
            self._say(line)
        with self._lock:
            self._progress = None

    def stop(self) -> None:
        """Print the last run's final line and end the ticker."""
        self._finish_run()
        if self._thread is not None:
            self._wake.set()
            self._thread.join()
            self._thread = None


class LiveBar:
    """rich's live progress bar, for terminals."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self.bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: Any = None

    def start(self, label: str, progress: Progress) -> None:
        """Add a bar for this run."""
        if not self.bar.live.is_started:
            self.bar.start()
        self._task = self.bar.add_task(
            label[:40], total=progress.total, completed=progress.done, stats=""
        )

    def update(self, progress: Progress) -> None:
        """Advance the bar."""
        acc = "" if progress.running is None else f"{progress.metric}={progress.running:.3f} "
        self.bar.update(self._task, completed=progress.done, stats=f"{acc}errors={progress.errors}")

    def stop(self) -> None:
        """Leave the finished bars on screen."""
        if self.bar.live.is_started:
            self.bar.stop()


class Silent:
    """``--quiet``: shows nothing."""

    def start(self, label: str, progress: Progress) -> None:
        """Show nothing."""

    def update(self, progress: Progress) -> None:
        """Show nothing."""

    def stop(self) -> None:
        """Show nothing."""


def interval_from_env() -> float:
    """``PS3_EVAL_PROGRESS_INTERVAL`` in seconds (default 10), validated."""
    from ps3_eval.errors import UsageError

    raw = os.environ.get(INTERVAL_ENV)
    if raw is None:
        return DEFAULT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UsageError(f"{INTERVAL_ENV}={raw!r} must be a positive number of seconds.")
    return value


def progress_view(console: Console, quiet: bool = False) -> ProgressView:
    """The view that fits where the output goes: silent, a live bar, or plain lines."""
    if quiet:
        return Silent()
    if console.is_terminal:
        return LiveBar(console)
    return PlainLines(console, interval_from_env())
