"""One probe4k question and the constants every part of the generator shares."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ps3_eval.fourkpro import MRR_BUCKETS

VERSION = 2
"""Bump whenever the drawn images or questions change; it is part of the cache key."""

IMAGE_SIZE: tuple[int, int] = (3840, 2160)
"""Width and height of every image."""

TEXT_HEIGHTS: dict[str, int] = {"1K": 40, "2K": 18, "4K": 9}
"""Designed cap height (px at 3840x2160) of the detail text per MRR bucket.

Calibrated with PP-OCRv4 (the ``ocr-reader``'s engine reading whole images, then picking the
option its text matches; 24 items per point). Accuracy of picking the right option: at 3780 px,
6-10 px heights read ~100% (5 px: 38%); at 1512 px, 9 px reads 0%, 10 px 25%, 16-18 px 96%; at
756 px, 16 px reads 4%, 18 px 12% (0% outside HUD counters, which have their own height, see
``ps3_eval.probe4k.scenes``), 20 px 25%, 28+ px 100%. So the reader needs ~6 px of cap height
after resizing, and each bucket's height is ~1.4x above its threshold and ~1.3x below the next
level's.
"""

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Probe4kItem:
    """One Probe4K question.

    Attributes:
        id: Stable identifier, ``"probe4k-s{seed}-{index:05d}"``.
        image: Path of the 3840x2160 image.
        question: Question about one small text detail.
        choices: The four answer options, in A-D order.
        answer: Letter of the correct option (``"A"``-``"D"``).
        category: One of the four 4KPro categories (:data:`ps3_eval.fourkpro.CATEGORIES`).
        mrr: Designed minimum recognizable resolution, one of
            :data:`ps3_eval.fourkpro.MRR_BUCKETS`.
        bbox: ``[x0, y0, x1, y1]`` of the detail text in image pixels.
        text_height_px: Cap height of the detail text in image pixels.
        metadata: Template name and scene details (JSON-serialisable).
    """

    id: str
    image: Path
    question: str
    choices: tuple[str, str, str, str]
    answer: str
    category: str
    mrr: str
    bbox: Box
    text_height_px: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def answer_text(self) -> str:
        """The correct option's string."""
        return self.choices["ABCD".index(self.answer)]

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-serialisable dict (``image`` as a string, lists for tuples)."""
        d = asdict(self)
        d["image"] = str(self.image)
        d["choices"] = list(self.choices)
        d["bbox"] = list(self.bbox)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], root: Path | None = None) -> Probe4kItem:
        """Builds an item from :meth:`to_dict` output.

        Args:
            d: The dict.
            root: If given, a relative ``image`` path is resolved against it.

        Returns:
            The item.
        """
        image = Path(d["image"])
        if root is not None and not image.is_absolute():
            image = root / image
        c = d["choices"]
        b = d["bbox"]
        return cls(
            id=str(d["id"]),
            image=image,
            question=str(d["question"]),
            choices=(str(c[0]), str(c[1]), str(c[2]), str(c[3])),
            answer=str(d["answer"]),
            category=str(d["category"]),
            mrr=str(d["mrr"]),
            bbox=(int(b[0]), int(b[1]), int(b[2]), int(b[3])),
            text_height_px=int(d["text_height_px"]),
            metadata=dict(d.get("metadata") or {}),
        )


def text_height_for(mrr: str) -> int:
    """Designed cap height (px at 4K) of the detail text for an MRR bucket.

    A scene may deviate (HUD counters use 14 px for "2K"); each item records its own
    ``text_height_px`` and ``metadata["designed_text_height"]``.

    Args:
        mrr: One of :data:`ps3_eval.fourkpro.MRR_BUCKETS`.

    Returns:
        The cap height in pixels.

    Raises:
        ValueError: On an unknown bucket.
    """
    if mrr not in TEXT_HEIGHTS:
        raise ValueError(f"unknown MRR bucket {mrr!r}; valid: {', '.join(MRR_BUCKETS)}")
    return TEXT_HEIGHTS[mrr]
