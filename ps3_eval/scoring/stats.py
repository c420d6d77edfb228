"""Confidence intervals: Wilson score for proportions, percentile bootstrap for other metrics."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Literal

import numpy as np

Interval = tuple[float, float, float]
"""``(mean, low, high)``."""


def wilson_ci(successes: float, n: int, *, level: float = 0.95) -> Interval:
    """Proportion and its Wilson score interval.

    Unlike a percentile bootstrap, it does not collapse to a point when every item is right (8/8
    gives about [0.68, 1.00], not [1.00, 1.00]), and it stays inside [0, 1].

    Returns:
        ``(p, low, high)``; all three are NaN when ``n`` is 0.
    """
    if n <= 0:
        return (math.nan,) * 3
    p = successes / n
    z = NormalDist().inv_cdf(0.5 + level / 2)
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # Clamp the rounding noise at the ends (p = 0 or 1 gives exactly 0 or 1 in exact arithmetic).
    low = 0.0 if p == 0 else max(0.0, centre - half)
    high = 1.0 if p == 1 else min(1.0, centre + half)
    return p, low, high


def bootstrap_ci(
    values: Sequence[float], *, seed: int = 0, n_boot: int = 1000, level: float = 0.95
) -> Interval:
    """Mean and percentile bootstrap interval of ``values``.

    Returns:
        ``(mean, low, high)``; all three are NaN for an empty sequence.
    """
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return (math.nan,) * 3
    mean = float(arr.mean())
    if arr.size == 1:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    # Resample in chunks so memory stays bounded for large runs.
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // arr.size)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, arr.size, size=(stop - start, arr.size))
        means[start:stop] = arr[idx].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return mean, float(low), float(high)


def mean_ci(
    values: Sequence[float], *, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float, Literal["wilson", "bootstrap", "none"]]:
    """Mean of a metric with the interval that fits it.

    A metric whose values are all 0 or 1 is a proportion and gets a Wilson interval; any other
    metric (VQA accuracy in thirds, ANLS, relaxed scores) gets a percentile bootstrap, which says
    nothing for a single value.

    Returns:
        ``(mean, low, high, method)``.
    """
    arr = np.asarray(values, dtype=float)
    if arr.size and bool(np.isin(arr, (0.0, 1.0)).all()):
        mean, low, high = wilson_ci(float(arr.sum()), int(arr.size), level=level)
        return mean, low, high, "wilson"
    mean, low, high = bootstrap_ci(arr.tolist(), seed=seed, level=level)
    return mean, low, high, "bootstrap" if arr.size > 1 else "none"
