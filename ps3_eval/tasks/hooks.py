"""Loaders of the built-in cards (referenced from benchmarks/*.yaml as ``module:function``)."""

from __future__ import annotations

from typing import Any

from pydantic import validate_call


@validate_call
def probe4k_rows(n: int = 48, seed: int = 0, categories: str | None = None) -> list[dict[str, Any]]:
    """Rows of the synthetic 4K probe, generated (or read from the cache) for ``(seed, n)``.

    Args:
        n: Number of items.
        seed: Generator seed.
        categories: Comma-separated subset of the four categories (default: all).
    """
    from ps3_eval.tasks import probe4k

    cats = [c.strip() for c in categories.split(",") if c.strip()] if categories else None
    return [item.to_dict() for item in probe4k.generate(n, seed=seed, categories=cats)]
