"""ps3-eval's tasks inside lmms-eval: the functions an exported task folder's ``utils.py`` names.

``ps3-eval export lmms TASK --to DIR`` writes a task folder (YAML, ``utils.py`` and the data as a
``save_to_disk`` dataset) that lmms-eval runs in its own harness. The prompt is the one ps3-eval
sends (stored with each row), and answers are scored by ps3-eval's own rule for the task, so a
number from lmms-eval and one from ``ps3-eval run`` agree; the score per category and per MRR
bucket are metrics of their own in lmms-eval's results. ``utils.py`` imports this module, so
ps3-eval must be installed in the lmms-eval environment, from its source checkout
(``pip install /path/to/ps3-eval``; the core install, no torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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
        from ps3_eval.images import decode_bytes, upright_rgb

        image = doc["image"]
        if isinstance(image, dict):  # a dataset without the Image feature decoded
            return [decode_bytes(image["bytes"])]
        return [upright_rgb(image)]  # decoded by datasets: oriented and converted as ours are

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
        """Score the first generation with ps3-eval's rule.

        The score is given as ``ps3_score`` and again under the metric of the sample's category
        and MRR bucket, so lmms-eval's results hold those breakdowns too.
        """
        from ps3_eval.records import Sample, primary_metric
        from ps3_eval.tasks.lmms_export import metric_key

        sample = Sample(
            id=str(doc["id"]),
            question=doc["question"],
            choices=list(doc["options"]) or None,
            targets=[str(t) for t in doc["targets"]],
            category=doc.get("category"),
            mrr=doc.get("mrr"),
        )
        from ps3_eval.scoring import answer_text

        prediction = answer_text(results[0] if results else "")
        score = self.task.score(prediction, sample)
        name = primary_metric(score.values, self.task.primary_metric) or ""
        record = {
            "id": sample.id,
            "category": sample.category,
            "mrr": sample.mrr,
            "score": float(score.values[name]),
        }
        out = {"ps3_score": record}
        if sample.category:
            out[metric_key("category", sample.category)] = record
        if sample.mrr:
            out[metric_key("mrr", sample.mrr)] = record
        return out


def aggregate(results: Sequence[dict[str, Any]], args: Any = None) -> float:
    """The mean score of the samples a metric holds (all, or one category or MRR bucket)."""
    if not results:
        return 0.0
    return float(sum(r["score"] for r in results) / len(results))
