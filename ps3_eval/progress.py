"""Progress on the terminal: a live bar when stderr is a terminal, plain lines when it is not.

Under nohup, in CI or with output sent to a file, a live bar draws nothing, so a long run would be
silent for minutes. There a ticker prints one line when a run starts, one at a steady interval
(``PS3_EVAL_PROGRESS_INTERVAL`` seconds, default 10) and one when it ends, for example (the
label is the run directory's name, or the demo's configuration)::

    full 756: started, 24 samples
    full 756: 12/24 (50%)  0.84 s/sample  ETA 0:10  accuracy=0.917  errors=0
    full 756: 24/24 (100%)  0.83 s/sample  ETA 0:00  accuracy=0.875  errors=0  finished in 0:20
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import typer
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


def status_line(label: str, progress: Progress, elapsed: float, idle: float = 0.0) -> str:
    """One plain line: counts, pace of this session, ETA, running metric, errors.

    Args:
        label: what runs (the run directory's name, or the demo's configuration).
        progress: the runner's live counters.
        elapsed: seconds since this session started.
        idle: seconds since the last sample was recorded. The pace counts only time up to then,
            so it does not creep up while a slow sample is in work; the ETA counts down instead.
    """
    p = progress
    pct = 100 * p.done / p.total if p.total else 100.0
    parts = [f"{label}: {p.done}/{p.total} ({pct:.0f}%)"]
    new = p.done - p.resumed
    if new > 0:
        pace = max(0.0, elapsed - idle) / new
        parts.append(f"{pace:.2f} s/sample")
        parts.append(f"ETA {_clock(pace * max(0, p.total - p.done) - idle)}")
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
        """Guards the run's state; held only briefly, so the runner never waits on output."""
        self._say_lock = threading.Lock()
        """Orders output, so a ticker line never follows the run's final line."""
        self._label = ""
        self._progress: Progress | None = None
        self._started = 0.0
        self._seen = 0
        """Samples done at the last update; ``_recorded_at`` is when that count last rose."""
        self._recorded_at = 0.0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def _say(self, text: str) -> None:
        self.console.print(text, soft_wrap=True, highlight=False, markup=False)
        self.console.file.flush()

    def _emit(self, final: bool = False) -> None:
        """Print the current run's line; the final one says how it ended and closes the run."""
        with self._say_lock:
            with self._lock:
                p = self._progress
                if p is None:
                    return
                now = time.monotonic()
                elapsed = now - self._started
                line = status_line(self._label, p, elapsed, now - self._recorded_at)
                if final:
                    self._progress = None
                    ended = "finished in" if p.done >= p.total else "stopped after"
                    line += f"  {ended} {_clock(elapsed)}"
            self._say(line)

    def _tick(self) -> None:
        while not self._wake.wait(self.interval):
            self._emit()

    def start(self, label: str, progress: Progress) -> None:
        """Print the start line and make sure the ticker runs."""
        self._emit(final=True)
        resumed = f", {progress.done} already done" if progress.done else ""
        with self._say_lock:  # the start line comes before any ticker line of this run
            with self._lock:
                self._label, self._progress = label, progress
                self._started = self._recorded_at = time.monotonic()
                self._seen = progress.done
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
            if progress.done != self._seen:
                self._seen, self._recorded_at = progress.done, time.monotonic()

    def stop(self) -> None:
        """Print the last run's final line and end the ticker."""
        self._emit(final=True)
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


def _draws_live(console: Console) -> bool:
    """Whether rich's live bar would redraw in place: stderr is an interactive terminal.

    ``console.is_terminal`` alone is not enough: ``FORCE_COLOR``, set by many CI systems, makes rich
    take a pipe for a terminal and fill the log with redraws. ``TTY_INTERACTIVE=1`` (rich's own
    switch) still asks for the bar anywhere.
    """
    if not console.is_interactive:  # no terminal, TERM=dumb or TTY_INTERACTIVE=0: no redraws
        return False
    if os.environ.get("TTY_INTERACTIVE") == "1":
        return True
    try:
        return console.file.isatty()
    except ValueError:  # a closed stream
        return False


def progress_view(console: Console, quiet: bool = False) -> ProgressView:
    """The view that fits where the output goes: silent, a live bar, or plain lines."""
    if quiet:
        return Silent()
    if _draws_live(console):
        return LiveBar(console)
    return PlainLines(console, interval_from_env())


EXIT_INTERRUPTED = 130
"""Exit code of a command stopped by Ctrl-C."""
EXIT_TERMINATED = 143
"""Exit code of a command stopped by SIGTERM (stopped as Ctrl-C stops it)."""

_terminated = False
"""Set when SIGTERM stopped the command, so the interrupt is reported as that."""


def note_terminated() -> None:
    """Record that the interrupt being raised comes from SIGTERM (the CLI's signal handler)."""
    global _terminated
    _terminated = True


def was_terminated() -> bool:
    """True when SIGTERM, not Ctrl-C, stopped the command."""
    return _terminated


def stopped_exit(again: str, console: Console | None = None) -> typer.Exit:
    """Say how the command was stopped and how to resume it; the exit to raise.

    Args:
        again: the command that resumes it (``ps3-eval run --resume DIR``, "the same command
            again").
        console: where to say it (stderr by default).
    """
    import typer

    if console is None:
        from rich.console import Console

        console = Console(stderr=True)
    how = "Stopped by SIGTERM" if _terminated else "Interrupted"
    console.print(
        f"\n{how}; every finished sample is saved. Resume with:\n  {again}",
        soft_wrap=True,
        highlight=False,
    )
    return typer.Exit(EXIT_TERMINATED if _terminated else EXIT_INTERRUPTED)


@contextlib.contextmanager
def rerun_resumes(view: ProgressView, again: str, console: Console | None = None) -> Iterator[None]:
    """Around a resumable command: stop ``view`` at the end; on Ctrl-C or SIGTERM, say how to go on.

    The command ends with exit code 130 (143 for SIGTERM) after saying that the finished samples
    are kept and which command picks up the rest.
    """
    try:
        yield
    except KeyboardInterrupt:
        view.stop()
        raise stopped_exit(again, console) from None
    finally:
        view.stop()
