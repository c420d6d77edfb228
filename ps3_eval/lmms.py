"""ps3-eval's tasks inside lmms-eval: the functions an exported task folder's ``utils.py`` names.

``ps3-eval export lmms TASK --to DIR`` writes a task folder (YAML, ``utils.py`` and the data as a
``save_to_disk`` dataset) that lmms-eval runs in its own harness. The prompt is the one ps3-eval
sends (stored with each row), and answers are scored by ps3-eval's own rule for the task, so a
number from lmms-eval and one from ``ps3-eval run`` agree. ``utils.py`` imports this module, so
the lmms-eval environment needs ``pip install ps3-eval`` (no torch needed for it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


class LmmsTask:
    """The lmms-eval hooks of one ps3-eval task, scored by the task's own scorer."""

    def __init__(self, task: str) -> None:
        self.task_ref = task
        self._task: Any = None

    @property
    def task(self) -> Any:
        """The ps3-eval task (loaded on first use; its data is not read)."""
        if self._task is None:
            from ps3_eval.tasks import load_task

            self._task = load_task(self.task_ref)
        return self._task

    def doc_to_visual(self, doc: dict[str, Any]) -> list[Any]:
        """The row's image as RGB."""
        from ps3_eval.runner.images import decode_bytes

        image = doc["image"]
        if isinstance(image, dict):  # a dataset without the Image feature decoded
            return [decode_bytes(image["bytes"])]  # the runner's reader: EXIF orientation too
        return [image.convert("RGB")]

    def doc_to_text(
        self, doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None
    ) -> str:
        """The prompt ps3-eval sends, between lmms-eval's optional pre- and post-prompt."""
        kwargs = lmms_eval_specific_kwargs or {}
        return f"{kwargs.get('pre_prompt', '')}{doc['prompt']}{kwargs.get('post_prompt', '')}"

    def doc_to_target(self, doc: dict[str, Any]) -> str:
        """The reference answer."""
        return str(doc["answer"])

    def process_results(self, doc: dict[str, Any], results: Sequence[str]) -> dict[str, Any]:
        """Score the first generation with ps3-eval's rule; keep the breakdown keys."""
        from ps3_eval.records import Sample

        sample = Sample(
            id=str(doc["id"]),
            question=doc["question"],
            choices=list(doc["options"]) or None,
            targets=[str(t) for t in doc["targets"]],
            category=doc.get("category"),
            mrr=doc.get("mrr"),
        )
        prediction = results[0] if results else ""
        score = self.task.score(prediction, sample)
        name = next(iter(score.values))  # the card's primary metric comes first
        return {
            "ps3_score": {
                "id": sample.id,
                "category": sample.category,
                "mrr": sample.mrr,
                "score": float(score.values[name]),
            }
        }


def aggregate(results: Sequence[dict[str, Any]], args: Any = None) -> float:
    """The mean score; the per-category and per-MRR means are logged beside it."""
    if not results:
        return 0.0
    for key in ("category", "mrr"):
        groups: dict[str, list[float]] = {}
        for r in results:
            if r.get(key) is not None:
                groups.setdefault(str(r[key]), []).append(r["score"])
        for name, vals in sorted(groups.items()):
            log.info("%s %s: %.4f (n=%d)", key, name, sum(vals) / len(vals), len(vals))
    return float(sum(r["score"] for r in results) / len(results))
