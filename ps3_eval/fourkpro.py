"""4KPro's vocabulary: its scene categories, its MRR buckets and the resolutions they stand for.

4KPro (the PS3 / VILA-HD paper's 4K perception benchmark) labels each question with one of four
scene categories and with its minimum recognizable resolution (MRR): the lowest of 1K, 2K and 4K
at which it can be answered, meaning the image read with its long side at 756, 1512 and 3780
pixels (PS3's scales). The synthetic probe draws scenes in these categories and buckets, the 4kpro
card's local format uses them, curation labels frames with them and the MRR ladder's default
rungs are these buckets; they all read them here.
"""

from __future__ import annotations

CATEGORIES: tuple[str, ...] = ("autonomous_vehicle", "household", "gaming", "ui")
"""The four 4KPro scene categories."""

MRR_BUCKETS: tuple[str, ...] = ("1K", "2K", "4K")
"""Minimum recognizable resolution buckets, lowest first."""

READ_RESOLUTIONS: dict[str, int] = {"1K": 756, "2K": 1512, "4K": 3780}
"""Long side (px) at which an image is read for each bucket."""

__all__ = ["CATEGORIES", "MRR_BUCKETS", "READ_RESOLUTIONS"]
