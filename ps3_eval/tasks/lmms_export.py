"""``ps3-eval export lmms TASK --to DIR``: a task folder lmms-eval runs in its own harness.

The folder holds ``<task>.yaml`` (lmms-eval's task format), ``utils.py`` (thin: it names the hooks
in :mod:`ps3_eval.lmms`) and ``data/``, the task's rows as a ``save_to_disk`` dataset with the
exact prompt ps3-eval sends in each row. lmms-eval reads it with
``--include_path DIR --tasks ps3_<task>``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ps3_eval.errors import UsageError
from ps3_eval.runner.images import read_bytes
from ps3_eval.tasks import BrokenSample, Task
from ps3_eval.version import __version__

_YAML = """\
# Written by ps3-eval {version} (`ps3-eval export lmms {ref}`). Run it with
#   lmms-eval --include_path {folder} --tasks {name} ...
# utils.py scores with ps3-eval's own rule for the task: the lmms-eval environment needs
# `pip install ps3-eval` (the core install, no torch).
task: {name}
dataset_path: {data}
dataset_kwargs:
  load_from_disk: true
test_split: test
output_type: generate_until
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
doc_to_target: !function utils.doc_to_target
generation_kwargs:
  max_new_tokens: {max_tokens}
  temperature: 0
  do_sample: false
process_results: !function utils.process_results
metric_list:
  - metric: ps3_score
    aggregation: !function utils.aggregate
    higher_is_better: true
lmms_eval_specific_kwargs:
  default:
    pre_prompt: ""
    post_prompt: ""
metadata:
  version: {version_card}
  ps3_eval_task: {ref}
"""

_UTILS = '''\
"""lmms-eval hooks of ps3-eval's task {ref} (written by `ps3-eval export lmms`)."""

from ps3_eval.lmms import LmmsTask, aggregate  # noqa: F401

_task = LmmsTask({ref!r})
doc_to_visual = _task.doc_to_visual
doc_to_text = _task.doc_to_text
doc_to_target = _task.doc_to_target
process_results = _task.process_results
'''


def _rows(task: Task) -> Iterator[dict[str, Any]]:
    for sample in task.samples():
        if isinstance(sample, BrokenSample):
            raise UsageError(f"cannot export: {sample.error}.")
        if len(sample.images) != 1:
            raise UsageError(
                f"lmms export writes one image per row; sample {sample.id} of '{task.name}' has "
                f"{len(sample.images)}."
            )
        src = sample.images[0]
        data = read_bytes(src)
        yield {
            "id": sample.id,
            "image": {"bytes": data, "path": Path(src.path).name if src.path else None},
            "question": sample.question,
            "options": sample.choices or [],
            "targets": sample.targets,
            "answer": sample.targets[0] if sample.targets else "",
            "category": sample.category,
            "mrr": sample.mrr,
            "prompt": task.prompt_text(sample),
        }


def export_lmms(
    task: str,
    to: str | Path,
    *,
    data: str | None = None,
    args: dict[str, Any] | None = None,
) -> Path:
    """Write an lmms-eval task folder for ``task``; returns the YAML file.

    Args:
        task: A registered task name or a card path (recorded in ``utils.py`` to score with).
        to: A new or empty folder.
        data: The task's local copy (e.g. a 4KPro folder).
        args: Arguments of the card's loader (e.g. probe4k's ``n``).
    """
    import datasets

    from ps3_eval.tasks import load_task
    from ps3_eval.tasks.export import ready_folder

    task_obj = load_task(task, data=data, args=args)
    ref = task if not task.endswith((".yaml", ".yml")) else str(Path(task).resolve())
    folder = Path(to).expanduser().resolve()
    ready_folder(folder)
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "image": datasets.Image(),
            "question": datasets.Value("string"),
            "options": datasets.Sequence(datasets.Value("string")),
            "targets": datasets.Sequence(datasets.Value("string")),
            "answer": datasets.Value("string"),
            "category": datasets.Value("string"),
            "mrr": datasets.Value("string"),
            "prompt": datasets.Value("string"),
        }
    )
    bars = not datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # the CLI prints its own line
    try:
        with tempfile.TemporaryDirectory() as cache:  # rows stream to arrow, not all in memory
            rows = datasets.Dataset.from_generator(
                _rows, gen_kwargs={"task": task_obj}, features=features, cache_dir=cache
            )
            datasets.DatasetDict({"test": rows}).save_to_disk(str(folder / "data"))
    finally:
        if not bars:
            datasets.enable_progress_bars()
    name = "ps3_" + "".join(ch if ch.isalnum() else "_" for ch in task_obj.name)
    yaml_file = folder / f"{name}.yaml"
    yaml_file.write_text(
        _YAML.format(
            version=__version__,
            ref=json.dumps(ref),
            folder=folder,
            name=name,
            data=json.dumps(str(folder / "data")),
            max_tokens=task_obj.card.generation.max_tokens,
            version_card=json.dumps(task_obj.card.version),
        )
    )
    (folder / "utils.py").write_text(_UTILS.format(ref=ref))
    return yaml_file
