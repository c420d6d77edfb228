"""What every scene template is made of, and the one painter that draws any of them.

Every scene has the same shape: a background gradient, a few objects of which one (the target)
carries the answer at the bucket's text height and the others carry look-alike labels at other
heights, clutter (shapes and distractor text in named regions), and a question that names the
target by something the low resolution shows (its colour, a destination, a counter's name).
:class:`Scene` holds what is data (colours, how answers are drawn, the question, the clutter);
:func:`paint` runs a scene's steps in order. What is code is only each scene's own layout
(:mod:`ps3_eval.probe4k.scenes`).

The steps run in a fixed order because every one draws from the item's random generator: moving
a step changes every item of the benchmark (and needs a new ``VERSION``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ps3_eval.probe4k.drawing import Canvas, Color, detail_caps, distractor_texts, shapes
from ps3_eval.probe4k.item import IMAGE_SIZE, Box
from ps3_eval.probe4k.strings import mixed_text

ALL: Box = (0, 0, *IMAGE_SIZE)
"""The whole image."""


@dataclass(frozen=True)
class Clutter:
    """Shapes or distractor text scattered over a region, the same way in every scene."""

    kind: Literal["shapes", "texts"]
    count: int
    """How many to try to place (one that finds no free room is left out)."""
    region: Box | str = ALL
    """A fixed box, or the name of a region the scene's layout set (e.g. ``"sky"``)."""
    caps: tuple[int, ...] | None = None
    """Text heights to draw from; ``None``: heights around the detail's (:func:`detail_caps`)."""


@dataclass
class Drawing:
    """One item being drawn: what the layout steps share and leave behind."""

    cv: Canvas
    scene: Scene
    cap: int
    """Cap height of the answer text."""
    truth: str
    """The answer."""
    bbox: Box = (0, 0, 0, 0)
    """Where the answer was drawn."""
    facts: dict[str, Any] = field(default_factory=dict)
    """What the question names the target by; also recorded in the item's metadata."""
    regions: dict[str, Box] = field(default_factory=dict)
    """Named regions the layout made, for the clutter steps after it."""

    def label(self, target: bool, caps: Sequence[int]) -> tuple[int, str]:
        """The cap height and text of an object's label.

        The target carries the answer at the answer's height; every other object a look-alike
        label (the scene's ``other`` strings) at a height drawn from ``caps``.
        """
        if target:
            return self.cap, self.truth
        rng = self.cv.rng
        cap = rng.choice(list(caps))
        other = self.scene.other or self.scene.truth
        return cap, self.cv.safe(lambda: other(rng))


Layout = Callable[[Drawing], None]
Step = Clutter | Layout


@dataclass(frozen=True)
class Scene:
    """One scene template."""

    template: str
    """Its name, recorded in each item's metadata."""
    category: str
    """Its 4KPro category."""
    sky: Color
    """Background colour at the top."""
    ground: Color
    """Background colour at the bottom."""
    truth: Callable[[random.Random], str]
    """Draws the hidden centre the answer options are built around."""
    question: str
    """The question, a format string over the facts the layout records."""
    steps: tuple[Step, ...]
    """Layout and clutter, in drawing order."""
    other: Callable[[random.Random], str] | None = None
    """Labels of the other objects, when they differ from ``truth``'s strings."""
    keep_class: bool = False
    """Near misses keep digits digits (counters)."""
    heights: Mapping[str, int] = field(default_factory=dict)
    """Per-bucket exceptions to :data:`~ps3_eval.probe4k.item.TEXT_HEIGHTS`."""


def paint(scene: Scene, cv: Canvas, cap: int, truth: str) -> Drawing:
    """Draws ``scene`` on ``cv`` with the answer ``truth`` at cap height ``cap``."""
    drawing = Drawing(cv, scene, cap, truth)
    for step in scene.steps:
        if not isinstance(step, Clutter):
            step(drawing)
            continue
        region = step.region if isinstance(step.region, tuple) else drawing.regions[step.region]
        if step.kind == "shapes":
            shapes(cv, step.count, region)
        else:
            caps = step.caps if step.caps is not None else detail_caps(cap)
            distractor_texts(cv, step.count, region, lambda: mixed_text(cv.rng), caps)
    return drawing


def question(drawing: Drawing) -> str:
    """The scene's question about the drawn target."""
    return drawing.scene.question.format(**drawing.facts)
