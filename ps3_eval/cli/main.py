"""Running the command line: one-line errors and the exit codes (see :mod:`ps3_eval.cli`)."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType
from typing import Any

import typer
from rich.markup import escape

from ps3_eval.cli.app import app
from ps3_eval.console import err
from ps3_eval.errors import Ps3EvalError
from ps3_eval.progress import EXIT_INTERRUPTED, EXIT_TERMINATED, note_terminated, was_terminated


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Stop as Ctrl-C stops: hand the signal to whatever handles SIGINT now.

    During a run that is asyncio's handler, which cancels the run so that finished samples and
    the summary are written; elsewhere it is Python's, which raises KeyboardInterrupt.
    """
    note_terminated()
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:  # SIGINT ignored (a background job): interrupt all the same
        signal.default_int_handler(signal.SIGINT, frame)


def _click_errors() -> tuple[tuple[type[BaseException], ...], ...]:
    """The exception classes of click: typer's own copy of click, and click itself.

    Typer (0.2x) raises its vendored copy of click's exceptions, which ``click`` does not know;
    older typers raise click's.
    """
    import importlib

    found: list[Any] = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(importlib.import_module(name))
        except ImportError:
            continue

    def of(attr: str) -> tuple[type[BaseException], ...]:
        return tuple(getattr(m, attr) for m in found if hasattr(m, attr))

    return of("NoArgsIsHelpError"), of("UsageError"), of("Abort"), of("ClickException")


def _usage_line(exc: Any) -> str:
    """A click usage error as one line: what is wrong, and where help is."""
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "ps3-eval"
    message = " ".join(exc.format_message().split())
    if message.startswith("Missing command"):
        return _bare_line(exc)
    return f"error: {message.rstrip('.')}; see '{where} --help'."


def _bare_line(exc: Any) -> str:
    """The one line ``ps3-eval`` (or a command group) prints when given no command."""
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "ps3-eval"
    group = getattr(ctx, "command", None)
    names = sorted(getattr(group, "commands", {}) or {})
    listed = f" ({', '.join(names)})" if names else ""
    return f"usage: {where} COMMAND [ARGS]...{listed}; '{where} --help' describes them."


def run_cli(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit code; every error is one line on stderr."""
    no_args, usage, abort, click_error = _click_errors()
    try:
        # Without standalone mode click returns (not raises) the code of typer.Exit.
        code = app(args=argv, prog_name="ps3-eval", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except Ps3EvalError as exc:
        # Escaped: a message's own brackets (pip install 'ps3-eval[curate]', a path) are text.
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except no_args as exc:
        err.print(_bare_line(exc), highlight=False, soft_wrap=True, markup=False)
        return 2
    except usage as exc:
        err.print(_usage_line(exc), highlight=False, soft_wrap=True, markup=False)
        return 2
    except (KeyboardInterrupt, *abort):  # type: ignore[misc]
        err.print("Stopped by SIGTERM." if was_terminated() else "Interrupted.", highlight=False)
        return EXIT_TERMINATED if was_terminated() else EXIT_INTERRUPTED
    except click_error as exc:
        message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
        err.print(f"error: {message}", highlight=False, soft_wrap=True, markup=False)
        return int(exc.exit_code)  # type: ignore[attr-defined]
    except OSError as exc:
        if exc.filename is None:
            raise
        # A folder or file the command cannot use (read-only, missing, full disk).
        err.print(
            f"error: cannot use {exc.filename}: {exc.strerror or exc}.",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
        return 2


def main() -> None:
    """Console-script entry point: one-line errors, exit 2 for bad input."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _on_sigterm)
    sys.exit(run_cli())
