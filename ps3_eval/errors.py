"""Exceptions with one-line messages that say what is wrong and what to do."""

from __future__ import annotations


class Ps3EvalError(Exception):
    """Base class; the CLI prints the message on one line and exits with ``exit_code``."""

    exit_code = 1


class UsageError(Ps3EvalError):
    """Bad input from the user: unknown name, bad argument, missing file (exit code 2)."""

    exit_code = 2


class DataError(Ps3EvalError):
    """A dataset row or image that cannot be turned into a sample."""


class ModelError(Ps3EvalError):
    """A failed model call; the runner turns it into that sample's error record."""


def first_line(error: BaseException | str, default: str = "") -> str:
    """The first line of an exception's message (or of a text); ``default`` when it is blank.

    The one rule for putting an error from elsewhere (an SDK, a loader, YAML) into a one-line
    message.
    """
    text = str(error).strip()
    return text.splitlines()[0] if text else default
