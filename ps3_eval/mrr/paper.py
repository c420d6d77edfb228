"""The paper's Figure 8 (image resolution and MRR per benchmark), as reference points.

The figure's numbers are not printed anywhere: the text beside it and the figure's own labels
(its benchmarks, left to right: TextVQA, ChartQA, OCRBench, RealWorldQA, DocVQA, V*Bench,
InfoVQA, 4KPro; its MRR bands "< 1K", "1K - 2K", "2K - 4K") are what can be read. Each point
below is the statement the paper makes, put on this project's scale: an MRR of 1K / 2K / 4K is
the image read at 756 / 1512 / 3780 pixels on its long side (the default ladder), and a "4K"
image is 3840 pixels wide. They are approximate by construction and drawn as such; a benchmark
whose image resolution the text does not state is listed, not drawn.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperPoint:
    """What the paper says of one benchmark in Figure 8."""

    benchmark: str
    """As the paper names it."""
    task: str
    """The project's task name."""
    mrr: float
    """MRR on the project's scale (pixels of the long side), approximate."""
    mrr_low: float
    """Low end of the band the statement allows."""
    mrr_high: float
    """High end of that band."""
    resolution: float | None
    """Image resolution (long side, pixels), approximate; ``None`` where the text gives none."""
    says: str
    """The paper's words this point stands for (main text, Section 5, and Figure 8's caption)."""


FIGURE8: tuple[PaperPoint, ...] = (
    PaperPoint("TextVQA", "textvqa", 378, 0, 756, None,
               "MRR mostly under 1K (the figure's lowest band)"),
    PaperPoint("ChartQA", "chartqa", 378, 0, 756, None,
               "MRR mostly under 1K (the figure's lowest band)"),
    PaperPoint("OCRBench", "ocrbench", 378, 0, 756, None,
               "MRR mostly under 1K (the figure's lowest band)"),
    PaperPoint("RealWorldQA", "realworldqa", 378, 0, 756, None,
               "MRR mostly under 1K (the figure's lowest band)"),
    PaperPoint("DocVQA", "docvqa", 756, 756, 756, 3840,
               "contains images at 4K resolution, yet the MRR is mostly around 1K"),
    PaperPoint("V*Bench", "vstar", 756, 756, 756, 3840,
               "contains images at 4K resolution, yet the MRR is mostly around 1K"),
    PaperPoint("InfoVQA", "infovqa", 1512, 1512, 1512, None,
               "the highest MRR of the existing benchmarks: 2K"),
    PaperPoint("4KPro", "4kpro", 3780, 3780, 3780, 3840,
               "4K images whose questions are only answerable at 4K"),
)  # fmt: skip
"""Figure 8 of the paper as reference points (approximate: see the module's docstring)."""
