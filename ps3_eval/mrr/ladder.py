"""The resolution ladder, the MRR label scale, and the rule that turns answers into an MRR.

An item's minimum recognizable resolution (MRR) is the lowest rung of a ladder of resolutions at
which its question can be answered. The default ladder is the meaning of 1K / 2K / 4K the project
already uses for 4KPro's and probe4k's buckets (:data:`ps3_eval.fourkpro.READ_RESOLUTIONS`):
the image read with its long side at 756, 1512 and 3780 pixels, PS3's scales.

Labels, lowest first, form one ordinal scale shared by human labels, automatic estimates and
designed buckets: ``no_image`` (answerable without the image), each rung's label, then
``beyond`` (not answerable even at the top rung: for a person "needs more than the original",
for a model "wrong even at full resolution"). ``beyond`` and ``no_image`` are reported apart
from the mean MRR, never counted as a rung.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ps3_eval.errors import UsageError
from ps3_eval.fourkpro import MRR_BUCKETS, READ_RESOLUTIONS

BEYOND = "beyond"
"""Not answerable at the top rung: "needs more than the original" for a labeller; wrong (or no
answer) at the top rung for a model."""
NO_IMAGE = "no_image"
"""Answerable without the image."""
INCOMPLETE = "incomplete"
"""Automatic estimates only: a call failed (or is missing) on a rung the rule needs; running the
same command again finishes it."""

LABEL_ALIASES: dict[str, str] = {
    "beyond": BEYOND,
    "needs more than the original": BEYOND,
    "more than the original": BEYOND,
    "no_image": NO_IMAGE,
    "no image": NO_IMAGE,
    "no-image": NO_IMAGE,
    "answerable without the image": NO_IMAGE,
    "without the image": NO_IMAGE,
    "blind": NO_IMAGE,
}
"""Spellings accepted for the two labels outside the ladder (case-insensitive)."""

Outcome = Literal["right", "wrong", "abstain", "error", "missing"]
"""One item at one rung: scored right, scored wrong, gave no answer (scored wrong), the call
failed (an error record), or no record yet."""


class Rung(BaseModel):
    """One resolution of the ladder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    """Its name in labels and reports, e.g. ``2K``."""
    side: int = Field(ge=16)
    """Long side in pixels the image is shown at (downsampled from the original, never up)."""


class Ladder(BaseModel):
    """Rungs from the lowest resolution to the highest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rungs: tuple[Rung, ...]

    @model_validator(mode="after")
    def _ordered(self) -> Ladder:
        if not self.rungs:
            raise ValueError("a ladder needs at least one rung")
        labels = [r.label for r in self.rungs]
        if len(set(labels)) != len(labels):
            raise ValueError(f"rung labels repeat: {', '.join(labels)}")
        for label in labels:
            if label.lower() in LABEL_ALIASES or label == INCOMPLETE:
                raise ValueError(f"'{label}' cannot name a rung (it is a label of its own)")
        sides = [r.side for r in self.rungs]
        if sides != sorted(sides) or len(set(sides)) != len(sides):
            raise ValueError("rungs must go from the lowest side to the highest, each larger")
        return self

    @classmethod
    def parse(cls, text: str) -> Ladder:
        """``1K=756,2K=1512,4K=3780``, or bare sides ``756,1512,3780`` (each side its label).

        Raises:
            UsageError: for anything else, naming the bad part.
        """
        rungs = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            label, sep, side = part.partition("=")
            label, side = (label.strip(), side.strip()) if sep else (part, part)
            if not re.fullmatch(r"\d+", side):
                raise UsageError(
                    f"ladder rung '{part}' must be LABEL=PIXELS or PIXELS (e.g. 1K=756,2K=1512)."
                )
            rungs.append(Rung(label=label, side=int(side)))
        try:
            return cls(rungs=tuple(rungs))
        except ValidationError as exc:
            msg = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
            raise UsageError(f"ladder '{text}': {msg}.") from None

    @property
    def labels(self) -> list[str]:
        """Rung labels, lowest first."""
        return [r.label for r in self.rungs]

    @property
    def scale(self) -> list[str]:
        """Every label an item can get, in order: ``no_image``, the rungs, ``beyond``."""
        return [NO_IMAGE, *self.labels, BEYOND]

    def side(self, label: str) -> int | None:
        """The rung's side in pixels; ``None`` for the labels outside the ladder."""
        return next((r.side for r in self.rungs if r.label == label), None)

    def text(self) -> str:
        """The ladder as :meth:`parse` reads it."""
        return ",".join(f"{r.label}={r.side}" for r in self.rungs)

    def canonical(self, label: str) -> str:
        """A label as stored: a rung label (case-insensitive) or one of the two outside it.

        Raises:
            UsageError: for a label that is neither, naming the valid ones.
        """
        text = " ".join(label.strip().split())
        for rung in self.labels:
            if text.lower() == rung.lower():
                return rung
        if text.lower() in LABEL_ALIASES:
            return LABEL_ALIASES[text.lower()]
        raise UsageError(
            f"'{label}' is not an MRR label; use one of {', '.join(self.labels)}, "
            f"'{BEYOND}' (needs more than the original) or '{NO_IMAGE}' (answerable without "
            f"the image)."
        )


DEFAULT_LADDER = Ladder(rungs=tuple(Rung(label=b, side=READ_RESOLUTIONS[b]) for b in MRR_BUCKETS))
"""1K=756, 2K=1512, 4K=3780: probe4k's designed buckets (and PS3's scales)."""


def mrr_of(
    outcomes: Sequence[Outcome] | Mapping[str, Outcome],
    ladder: Ladder = DEFAULT_LADDER,
    no_image: Outcome | None = None,
) -> str:
    """An item's MRR: the lowest rung from which the answer is right at every higher rung.

    Args:
        outcomes: One outcome per rung, lowest first (or by rung label).
        ladder: The rungs the outcomes belong to.
        no_image: The outcome without the image, when that was asked; an item right there and
            at every rung is ``no_image``.

    Returns:
        A rung label; ``beyond`` when the top rung is not right (wrong or no answer: reported
        apart, never counted as the top rung); ``no_image``; or ``incomplete`` when a failed or
        missing call on a rung the rule needs leaves the MRR open.
    """
    if isinstance(outcomes, Mapping):
        seq: list[Outcome] = [outcomes.get(label, "missing") for label in ladder.labels]
    else:
        seq = list(outcomes)
    if len(seq) != len(ladder.rungs):
        raise ValueError(f"{len(seq)} outcomes for a ladder of {len(ladder.rungs)} rungs")
    labels = ladder.labels
    for i in range(len(seq) - 1, -1, -1):
        outcome = seq[i]
        if outcome == "right":
            continue
        if outcome in ("error", "missing"):
            return INCOMPLETE
        # wrong or no answer: the answer holds from the rung above (if there is one)
        return BEYOND if i == len(seq) - 1 else labels[i + 1]
    if no_image is None or no_image in ("wrong", "abstain"):
        return labels[0]
    if no_image == "right":
        return NO_IMAGE
    return INCOMPLETE
