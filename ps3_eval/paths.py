"""Where ps3-eval keeps what it caches: one root for generated data, answers and judge calls."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "PS3_EVAL_CACHE"
"""Environment variable naming the cache root (default ``~/.cache/ps3_eval``)."""


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
