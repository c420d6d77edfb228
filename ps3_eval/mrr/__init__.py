"""Minimum recognizable resolution (MRR) studies.

``sample_study`` draws a reproducible sample of a benchmark into a study folder; labellers add
labels to it (``Study.add_label``, ``Study.import_labels``; a web page is a thin layer over the
same calls); ``auto_mrr`` has a model answer every item at every rung of a resolution ladder;
``study_agreement`` sets the raters against each other (Cohen's kappa, weighted and not);
``build_mrr_report`` writes per-benchmark means with bootstrap CIs and the paper's Figure 8.
"""

from ps3_eval.mrr.agreement import Agreement, agreement, cohen_kappa, study_agreement
from ps3_eval.mrr.auto import AutoItem, AutoResult, auto_mrr, load_auto
from ps3_eval.mrr.labels import Label, LabelStore
from ps3_eval.mrr.ladder import (
    BEYOND,
    DEFAULT_LADDER,
    INCOMPLETE,
    NO_IMAGE,
    Ladder,
    Rung,
    mrr_of,
)
from ps3_eval.mrr.report import MrrReport, MrrRow, build_mrr_report, mrr_rows
from ps3_eval.mrr.study import Study, StudyItem, StudySpec, load_study, sample_study

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
    "study_agreement",
]
