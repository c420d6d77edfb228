"""Minimum recognizable resolution (MRR) studies.

``sample_study`` draws a reproducible sample of a benchmark into a study folder; labellers add
labels to it on a web page (``serve_studies``; :mod:`ps3_eval.mrr.routes`) or through
``Study.add_label`` and ``Study.import_labels``, which the page calls too; ``auto_mrr`` has a
model answer every item at every rung of a resolution ladder; ``study_agreement`` sets the
raters against each other (Cohen's kappa, weighted and not);
``build_mrr_report`` writes per-benchmark means with bootstrap CIs and the paper's Figure 8.

The names load on first use, so ``ps3-eval`` starts without the MRR modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ps3_eval.mrr.auto import (
        AutoItem,
        AutoResult,
        auto_mrr,
        load_auto,
    )
    from ps3_eval.mrr.kappa import (
        Agreement,
        agreement,
        cohen_kappa,
        study_agreement,
    )
    from ps3_eval.mrr.labels import (
        Label,
        LabelStore,
    )
    from ps3_eval.mrr.ladder import (
        BEYOND,
        DEFAULT_LADDER,
        INCOMPLETE,
        NO_IMAGE,
        Ladder,
        Rung,
        mrr_of,
    )
    from ps3_eval.mrr.report import (
        MrrReport,
        MrrRow,
        build_mrr_report,
        mrr_rows,
    )
    from ps3_eval.mrr.sample import sample_study
    from ps3_eval.mrr.server import serve_studies
    from ps3_eval.mrr.study import (
        Study,
        StudyItem,
        StudySpec,
        load_study,
    )

_WHERE = {
    "Agreement": "ps3_eval.mrr.kappa",
    "agreement": "ps3_eval.mrr.kappa",
    "cohen_kappa": "ps3_eval.mrr.kappa",
    "study_agreement": "ps3_eval.mrr.kappa",
    "AutoItem": "ps3_eval.mrr.auto",
    "AutoResult": "ps3_eval.mrr.auto",
    "auto_mrr": "ps3_eval.mrr.auto",
    "load_auto": "ps3_eval.mrr.auto",
    "Label": "ps3_eval.mrr.labels",
    "LabelStore": "ps3_eval.mrr.labels",
    "BEYOND": "ps3_eval.mrr.ladder",
    "DEFAULT_LADDER": "ps3_eval.mrr.ladder",
    "INCOMPLETE": "ps3_eval.mrr.ladder",
    "NO_IMAGE": "ps3_eval.mrr.ladder",
    "Ladder": "ps3_eval.mrr.ladder",
    "Rung": "ps3_eval.mrr.ladder",
    "mrr_of": "ps3_eval.mrr.ladder",
    "MrrReport": "ps3_eval.mrr.report",
    "MrrRow": "ps3_eval.mrr.report",
    "build_mrr_report": "ps3_eval.mrr.report",
    "mrr_rows": "ps3_eval.mrr.report",
    "Study": "ps3_eval.mrr.study",
    "StudyItem": "ps3_eval.mrr.study",
    "StudySpec": "ps3_eval.mrr.study",
    "load_study": "ps3_eval.mrr.study",
    "sample_study": "ps3_eval.mrr.sample",
    "serve_studies": "ps3_eval.mrr.server",
}


def __getattr__(name: str) -> Any:
    """Import a public name from the module that owns it, on first use."""
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)


__all__ = [
    "BEYOND",
    "DEFAULT_LADDER",
    "INCOMPLETE",
    "NO_IMAGE",
    "Agreement",
    "AutoItem",
    "AutoResult",
    "Label",
    "LabelStore",
    "Ladder",
    "MrrReport",
    "MrrRow",
    "Rung",
    "Study",
    "StudyItem",
    "StudySpec",
    "agreement",
    "auto_mrr",
    "build_mrr_report",
    "cohen_kappa",
    "load_auto",
    "load_study",
    "mrr_of",
    "mrr_rows",
    "sample_study",
    "serve_studies",
    "study_agreement",
]
