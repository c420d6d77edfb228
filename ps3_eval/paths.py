"""Where ps3-eval keeps things: the cache root, and the folders shipped inside the package.

Every module that needs one of these asks here, so an installed wheel, an editable install and a
source tree used without installing find the same files.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "PS3_EVAL_CACHE"
"""Environment variable naming the cache root (default ``~/.cache/ps3_eval``)."""

TASKS_ENV = "PS3_EVAL_TASKS"
"""Environment variable listing more folders of task cards (``os.pathsep``-separated); they are
searched before the shipped cards, so a card there wins over a shipped card of the same name."""

_PACKAGE = Path(__file__).resolve().parent


def cache_root() -> Path:
    """The cache root: ``$PS3_EVAL_CACHE`` if set, else ``~/.cache/ps3_eval``.

    Everything cached lives under it: generated benchmark images (probe4k), the response cache
    (``responses.sqlite``) and the judge's cache (``judge.sqlite``).
    """
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ps3_eval"


def response_cache_file() -> Path:
    """The default SQLite file of the response cache (``ps3-eval run --cache``)."""
    return cache_root() / "responses.sqlite"


def judge_cache_file() -> Path:
    """The SQLite file that caches judge calls when a run names no cache file of its own."""
    return cache_root() / "judge.sqlite"


def benchmarks_dir() -> Path:
    """The shipped benchmarks folder: task cards, ``paper/`` tables and ``sweeps/`` specs.

    It is the package ``ps3_eval.benchmarks``: the checkout's ``benchmarks/`` folder in an
    editable install, a folder inside site-packages in a wheel install, and the checkout's folder
    again in a source tree used without installing.
    """
    try:
        import ps3_eval.benchmarks as shipped
    except ImportError:  # a source tree on sys.path, not installed: the checkout's folder
        return _PACKAGE.parent / "benchmarks"
    return Path(next(iter(shipped.__path__)))


def card_dirs() -> list[Path]:
    """Folders searched for task cards, in order: ``$PS3_EVAL_TASKS`` entries, then the shipped."""
    extra = [Path(p) for p in os.environ.get(TASKS_ENV, "").split(os.pathsep) if p]
    return [*extra, benchmarks_dir()]


def paper_tables_dir() -> Path:
    """The paper's tables as data (``benchmarks/paper/*.yaml``)."""
    return benchmarks_dir() / "paper"


def sweeps_dir() -> Path:
    """The sweep specs shipped with the package (``benchmarks/sweeps/*.yaml``: the demo's)."""
    return benchmarks_dir() / "sweeps"


def curate_prompts_dir() -> Path:
    """The prompt templates of ``ps3-eval curate generate``."""
    return _PACKAGE / "curate" / "prompts"


def web_static_dir() -> Path:
    """Pages, scripts and styles of the web tools; ``lib/`` holds vendored libraries."""
    return _PACKAGE / "web" / "static"
