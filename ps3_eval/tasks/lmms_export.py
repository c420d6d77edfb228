"""``ps3-eval export lmms TASK --to DIR``: a task folder lmms-eval runs in its own harness.

The folder holds ``<name>.yaml`` (lmms-eval's task format), ``utils.py`` (thin: it names the hooks
in :mod:`ps3_eval.lmms`), ``data/``, the task's rows as a ``save_to_disk`` dataset with the exact
prompt ps3-eval sends in each row, and, for a task given as a card file, ``card/`` with the card
and the hook files it names. Nothing in it names an absolute path: ``utils.py`` finds the data
and the card beside itself, so the folder can be moved or copied to another machine. lmms-eval
reads it with ``--include_path DIR --tasks <name>``; the results hold the score overall, per
category and per MRR bucket.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ps3_eval.errors import UsageError
from ps3_eval.images import read_bytes
from ps3_eval.tasks import BrokenSample, Task
from ps3_eval.version import __version__

MARKER = ".ps3-eval-export"
"""A file every export folder holds, so ``force`` replaces only a previous export."""

INSTALL = (
    "install ps3-eval from its source checkout into the lmms-eval environment: "
    "pip install /path/to/ps3-eval (the core install, no torch)"
)

_YAML = """\
# Written by ps3-eval {version} (`ps3-eval export lmms {ref}`). Run it with
#   lmms-eval --include_path <this folder> --tasks {name} ...
# utils.py scores with ps3-eval's own rule for the task, so {install}.
task: {name}
dataset_path: !function utils.DATA_PATH
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
{metrics}
lmms_eval_specific_kwargs:
  default:
    pre_prompt: ""
    post_prompt: ""
metadata:
  version: {version_card}
  ps3_eval_version: {version_json}
  ps3_eval_task: {ref_json}
  ps3_eval_task_args: {args_json}
  ps3_eval_data: {data_json}
"""

_METRIC = """\
  - metric: {key}
    aggregation: !function utils.aggregate
    higher_is_better: true
"""

_UTILS = '''\
"""lmms-eval hooks of ps3-eval's task {ref} (written by `ps3-eval export lmms`)."""

from pathlib import Path

from ps3_eval.lmms import LmmsTask, aggregate  # noqa: F401

HERE = Path(__file__).resolve().parent
DATA_PATH = str(HERE / "data")  # the YAML's dataset_path: found beside this file, wherever it is
_task = LmmsTask({task_ref})
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


def metric_key(kind: str, value: str) -> str:
    """The lmms-eval metric name of one category's or MRR bucket's score."""
    return f"ps3_score_{kind}_" + re.sub(r"[^A-Za-z0-9]+", "_", value).strip("_")


def _default_name(task: Task, args: dict[str, Any] | None, data: str | None) -> str:
    """``ps3_<task>``, with a short hash of the task arguments and data when there are any.

    So exports of one task with different arguments keep apart.
    """
    name = "ps3_" + "".join(ch if ch.isalnum() else "_" for ch in task.name)
    if args or data:
        blob = json.dumps({"args": args or {}, "data": data}, sort_keys=True, default=str)
        name += "_" + hashlib.sha256(blob.encode()).hexdigest()[:8]
    return name


def _prepare(folder: Path, force: bool) -> None:
    from ps3_eval.tasks.export import ready_folder

    if force and folder.exists() and any(folder.iterdir()):
        if not (folder / MARKER).is_file():
            raise UsageError(
                f"{folder} holds files that are not a ps3-eval export; --force replaces only a "
                f"previous export. Give --to a new or empty folder."
            )
        shutil.rmtree(folder)
    ready_folder(folder)


def _copy_card(task: Task, folder: Path) -> str:
    """Copy a card file and the ``file.py`` hooks it names into ``folder/card``."""
    assert task.card_path is not None
    target = folder / "card"
    target.mkdir()
    shutil.copy2(task.card_path, target / task.card_path.name)
    for ref in (task.card.source.loader, task.card.scorer):
        hook = (ref or "").rpartition(":")[0]
        if hook.endswith(".py") and not Path(hook).is_absolute():
            source = task.card_path.parent / hook
            if source.is_file():
                (target / hook).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / hook)
    return f"card/{task.card_path.name}"


def export_lmms(
    task: str,
    to: str | Path,
    *,
    data: str | None = None,
    args: dict[str, Any] | None = None,
    name: str | None = None,
    force: bool = False,
) -> Path:
    """Write an lmms-eval task folder for ``task``; returns the YAML file.

    Args:
        task: A registered task name or a card path (the card is copied into the folder).
        to: A new or empty folder (or, with ``force``, a previous export to replace).
        data: The task's local copy (e.g. a 4KPro folder).
        args: Arguments of the card's loader (e.g. probe4k's ``n``); recorded in the YAML.
        name: The lmms-eval task name (default ``ps3_<task>``, with a hash of ``args`` and
            ``data`` when given).
        force: Replace a previous export in ``to``.
    """
    import datasets

    from ps3_eval.tasks import load_task

    task_obj = load_task(task, data=data, args=args)
    if name is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise UsageError(f"--name '{name}' must be letters, digits and _ (an lmms-eval task name).")
    folder = Path(to).expanduser().resolve()
    _prepare(folder, force)
    from_file = task.endswith((".yaml", ".yml"))
    ref = _copy_card(task_obj, folder) if from_file else task
    task_ref = f"str(HERE / {ref!r})" if from_file else repr(ref)
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
            categories = sorted({c for c in rows["category"] if c})
            buckets = sorted({m for m in rows["mrr"] if m})
    finally:
        if not bars:
            datasets.enable_progress_bars()
    name = name or _default_name(task_obj, args, data)
    keys = ["ps3_score"] + [metric_key("category", c) for c in categories]
    keys += [metric_key("mrr", m) for m in buckets]
    yaml_file = folder / f"{name}.yaml"
    yaml_file.write_text(
        _YAML.format(
            version=__version__,
            ref=ref,
            name=name,
            install=INSTALL,
            max_tokens=task_obj.generation.max_tokens,
            metrics="".join(_METRIC.format(key=k) for k in keys).rstrip("\n"),
            version_card=json.dumps(task_obj.card.version),
            version_json=json.dumps(__version__),
            ref_json=json.dumps(ref if not from_file else task_obj.name),
            args_json=json.dumps(task_obj.args, sort_keys=True, default=str),
            data_json=json.dumps(data),
        )
    )
    (folder / "utils.py").write_text(_UTILS.format(ref=ref, task_ref=task_ref))
    (folder / MARKER).write_text(f"{name}\n")
    return yaml_file
