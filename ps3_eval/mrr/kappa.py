"""Agreement between raters of MRR: Cohen's kappa (unweighted and weighted) and the confusion.

Raters are labellers, automatic estimates and, where a benchmark has one, its designed MRR. All
share one ordinal scale (``no_image`` < each rung < ``beyond``), so weighted kappa counts a 1K/4K
disagreement as worse than a 1K/2K one: linear weights by the distance in steps of the scale,
quadratic by its square, both relative to the whole scale as scikit-learn computes them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from ps3_eval.mrr.auto import AutoResult
    from ps3_eval.mrr.study import Study

Weights = Literal["linear", "quadratic"] | None


def confusion_matrix(a: Sequence[str], b: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    """Counts of (a's label, b's label): rows follow ``a``, columns ``b``, in ``labels`` order.

    Raises:
        ValueError: for a label not in ``labels`` or sequences of different lengths.
    """
    if len(a) != len(b):
        raise ValueError(f"{len(a)} labels against {len(b)}")
    index = {lab: i for i, lab in enumerate(labels)}
    m = [[0] * len(labels) for _ in labels]
    for x, y in zip(a, b, strict=True):
        if x not in index or y not in index:
            raise ValueError(f"label {x if x not in index else y!r} is not one of {list(labels)}")
        m[index[x]][index[y]] += 1
    return m


def cohen_kappa(
    a: Sequence[str], b: Sequence[str], labels: Sequence[str], weights: Weights = None
) -> float | None:
    """Cohen's kappa of two raters over the same items.

    ``1 - sum(w * observed) / sum(w * expected)``, with ``expected`` the product of the two
    raters' label shares and ``w`` 0 on the diagonal and 1 off it (unweighted), ``|i - j|``
    (linear) or ``(i - j) ** 2`` (quadratic) for labels at positions i and j of ``labels``.

    Returns:
        The kappa, or ``None`` when it is undefined: no items, or both raters always giving the
        same single label (chance agreement is then certain, and 0/0 says nothing).
    """
    if not a:
        return None
    observed = np.asarray(confusion_matrix(a, b, labels), dtype=float)
    k = len(labels)
    i, j = np.indices((k, k))
    if weights is None:
        w = (i != j).astype(float)
    elif weights == "linear":
        w = np.abs(i - j).astype(float)
    elif weights == "quadratic":
        w = ((i - j) ** 2).astype(float)
    else:
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    chance = float((w * expected).sum())
    if chance == 0.0:
        return None
    return 1.0 - float((w * observed).sum()) / chance


@dataclass
class Agreement:
    """How two raters agree on the items both rated."""

    a: str
    """The first rater (rows of the confusion matrix)."""
    b: str
    """The second rater (columns)."""
    labels: list[str]
    """The scale, in order."""
    n: int
    """Items both rated."""
    observed: float | None
    """Share of those items with the same label."""
    kappa: float | None
    """Cohen's kappa, unweighted (``None`` when undefined)."""
    kappa_linear: float | None
    """Weighted by the distance on the scale."""
    kappa_quadratic: float | None
    """Weighted by the squared distance."""
    confusion: list[list[int]] = field(default_factory=list)
    """``confusion[i][j]``: items ``a`` labelled ``labels[i]`` and ``b`` ``labels[j]``."""
    only_a: int = 0
    """Items only ``a`` rated."""
    only_b: int = 0
    """Items only ``b`` rated."""

    def to_dict(self) -> dict[str, object]:
        """As plain JSON values."""
        return dict(self.__dict__)


def agreement(
    a: Mapping[str, str],
    b: Mapping[str, str],
    labels: Sequence[str],
    names: tuple[str, str] = ("a", "b"),
) -> Agreement:
    """Agreement of two raters given as item -> label, over the items both rated."""
    shared = sorted(set(a) & set(b))
    xa, xb = [a[i] for i in shared], [b[i] for i in shared]
    same = sum(x == y for x, y in zip(xa, xb, strict=True))
    return Agreement(
        a=names[0],
        b=names[1],
        labels=list(labels),
        n=len(shared),
        observed=same / len(shared) if shared else None,
        kappa=cohen_kappa(xa, xb, labels),
        kappa_linear=cohen_kappa(xa, xb, labels, "linear"),
        kappa_quadratic=cohen_kappa(xa, xb, labels, "quadratic"),
        confusion=confusion_matrix(xa, xb, labels),
        only_a=len(set(a) - set(b)),
        only_b=len(set(b) - set(a)),
    )


def raters(study: Study, autos: Sequence[AutoResult] = ()) -> dict[str, dict[str, str]]:
    """A study's raters, each as item -> label.

    ``designed`` (when the benchmark has MRRs), ``human:<labeller>`` (their latest labels) and
    ``auto:<model>`` (items still open left out).
    """
    out: dict[str, dict[str, str]] = {}
    designed = study.designed()
    if designed:
        out["designed"] = designed
    for who, labels in study.human_labels().items():
        out[f"human:{who}"] = labels
    ids = {it.id for it in study.items}
    for auto in autos:
        name = f"auto:{auto.model}"
        while name in out:  # two estimates by the same backend (other arguments or ladders)
            name += "'"
        out[name] = {k: v for k, v in auto.labels().items() if k in ids}
    return out


def study_agreement(study: Study, autos: Sequence[AutoResult] | None = None) -> list[Agreement]:
    """Every pair of a study's raters that share items.

    Human vs human, human vs automatic, and each against the designed MRR where there is one
    (automatic estimates are not set against each other).

    Args:
        study: The study.
        autos: Automatic estimates (default: the study's ``auto/*.json`` made on its ladder).
    """
    from ps3_eval.mrr.auto import load_auto

    if autos is None:
        autos = [r for r in map(load_auto, study.auto_files()) if r.ladder == study.ladder]
    who = raters(study, autos)
    out = []
    for x, y in itertools.combinations(who, 2):
        if x.startswith("auto:") and y.startswith("auto:"):
            continue
        first, second = (y, x) if x.startswith("auto:") else (x, y)
        ag = agreement(who[first], who[second], study.ladder.scale, (first, second))
        if ag.n:
            out.append(ag)
    return out
