"""Drawing a study's sample: the items, their copied images, and the study's own task card.

The sample is the ``n`` items with the smallest hash of (seed, item id), so the same task, data,
seed and ``n`` give the same items whatever the dataset's order. Why images are copied rather
than referenced is said in :mod:`ps3_eval.mrr.study`.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ps3_eval.errors import DataError, UsageError
from ps3_eval.mrr.ladder import DEFAULT_LADDER, Ladder
from ps3_eval.mrr.study import (
    CARD_FILE,
    DEFAULT_ROOT,
    ITEMS_FILE,
    SPEC_FILE,
    Study,
    StudyItem,
    StudySpec,
    is_study,
)
from ps3_eval.records import Sample
from ps3_eval.version import __version__, code_revision

log = logging.getLogger(__name__)

_COLUMNS = {"id", "images", "question", "choices", "answer", "category", "mrr", "bbox", "group",
            "native", "digests", "index"}  # fmt: skip
_SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp",
           "TIFF": ".tif"}  # fmt: skip
_ROWS_PY = '''"""Rows of this MRR study for its card (written by `ps3-eval mrr sample`)."""

from pathlib import Path
from typing import Any

from ps3_eval.mrr.study import read_rows


def rows() -> list[dict[str, Any]]:
    return read_rows(Path(__file__).resolve().parent)
'''


def default_study_dir(task: str, n: int, seed: int) -> Path:
    """``annotations/mrr/<task>-s<seed>-n<n>``."""
    return DEFAULT_ROOT / f"{task}-s{seed}-n{n}"


def _key(seed: int, sample_id: str) -> bytes:
    """The sample's place in the random order.

    A hash, so the sample does not depend on the dataset's order and an item keeps its place
    when the dataset grows.
    """
    return hashlib.blake2b(f"{seed}\0{sample_id}".encode(), digest_size=12).digest()


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def _card(
    name: str, task: Any, keep: list[str], spec_task: str, n_items: int, seed: int
) -> dict[str, Any]:
    """The study's own card: the benchmark's prompt, scorer and generation over items.jsonl."""
    card = task.card
    scorer = card.scorer
    target, sep, fn = scorer.rpartition(":")
    if sep and target.endswith(".py") and not Path(target).is_absolute() and task.card_path:
        scorer = f"{(Path(task.card_path).parent / target).resolve()}:{fn}"
    out: dict[str, Any] = {
        "name": f"mrr-{name}",
        "version": "1",
        "description": f"MRR study {name}: {n_items} items sampled from {spec_task} (seed {seed})",
        "source": {"loader": "rows.py:rows"},
        "fields": {
            "id": "id",
            "image": "images",
            "question": "question",
            "choices": "choices",
            "optional_choices": True,
            "answer": "answer",
            "category": "category",
            "mrr": "mrr",
            "bbox": "bbox",
            "keep": keep,
        },
        "prompt": task.prompt_template,
        "scorer": scorer,
        "generation": card.generation.model_dump(mode="json"),
    }
    if card.system:
        out["system"] = card.system
    return out


def _same_sample(old: StudySpec, new: StudySpec) -> bool:
    keys = ("task", "card_digest", "data", "task_args", "data_fingerprint", "seed", "n", "ladder")
    return all(getattr(old, k) == getattr(new, k) for k in keys)


def sample_study(
    task: str,
    *,
    n: int = 50,
    seed: int = 0,
    study: str | Path | None = None,
    data: str | None = None,
    task_args: dict[str, Any] | None = None,
    ladder: Ladder | None = None,
    on_item: Callable[[int, int], None] | None = None,
) -> Study:
    """Sample ``n`` items of a benchmark into a study folder; the Python twin of ``mrr sample``.

    The sample is reproducible: the same task, data, seed and ``n`` give the same items (chosen by
    a hash of the seed and each item's id, so the dataset's order does not matter), whose images
    are copied byte for byte. Running it again on the folder it made returns that study.

    Args:
        task: A registered task name or a card path.
        n: Items to sample.
        seed: Seed of the sample.
        study: The study folder (default ``annotations/mrr/<task>-s<seed>-n<n>``).
        data: A local copy of the task's data.
        task_args: The task loader's arguments (e.g. probe4k's ``n``).
        ladder: The study's rungs (default 1K=756, 2K=1512, 4K=3780).
        on_item: Called with (copied, total) as images are copied.

    Raises:
        UsageError: for a folder that holds something else, or a benchmark without usable items.
    """
    from ps3_eval.images import probe
    from ps3_eval.tasks import BrokenSample, load_task

    if n <= 0:
        raise UsageError(f"--n must be a positive number of items, got {n}.")
    t = load_task(task, data=data, args=task_args)
    folder = Path(study) if study is not None else default_study_dir(t.name, n, seed)
    spec = StudySpec(
        name=folder.name,
        task=t.name,
        task_ref=task,
        card_digest=t.card_digest,
        data=data,
        task_args=t.args,
        data_fingerprint=t.data_fingerprint,
        seed=seed,
        n=n,
        n_items=0,
        n_seen=0,
        ladder=ladder or DEFAULT_LADDER,
        package_version=__version__,
        code_revision=code_revision(),
    )
    if is_study(folder):
        existing = Study(folder)
        if _same_sample(existing.spec, spec):
            log.info("%s already holds this sample", folder)
            return existing
        raise UsageError(
            f"{folder} already holds another sample ({existing.spec.task}, seed "
            f"{existing.spec.seed}, n {existing.spec.n}); choose another --study folder."
        )
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(f"{folder} exists and is not an empty folder; choose another --study.")

    # The n smallest hashes, plus spares for items whose image turns out unreadable.
    spare = n + max(8, n // 4)
    heap: list[tuple[bytes, int, Sample]] = []  # max-heap by negated key
    skipped: dict[str, int] = {}
    seen = 0
    for index, s in enumerate(t.samples()):
        seen += 1
        why = None
        if isinstance(s, BrokenSample):
            why = "row does not map"
        elif not s.images:
            why = "no image"
        elif not s.targets:
            why = "no answer"
        if why:
            skipped[why] = skipped.get(why, 0) + 1
            continue
        assert isinstance(s, Sample)
        neg = bytes(255 - b for b in _key(seed, s.id))
        entry = (neg, index, s)
        if len(heap) < spare:
            heapq.heappush(heap, entry)
        elif neg > heap[0][0]:
            heapq.heapreplace(heap, entry)
    candidates = sorted(heap, key=lambda e: e[0], reverse=True)  # smallest hash first
    if not candidates:
        raise UsageError(
            f"task '{t.name}' has no item with an image and an answer to sample "
            f"({seen} looked at: {skipped or 'none'})."
        )

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        (tmp / "images").mkdir()
        items: list[StudyItem] = []
        for _, index, s in candidates:
            if len(items) == n:
                break
            try:
                copies = [probe(src) for src in s.images]
            except DataError as exc:
                log.warning("left out %s: %s", s.id, exc)
                skipped["unreadable image"] = skipped.get("unreadable image", 0) + 1
                continue
            names = []
            for k, (raw, *_, fmt, _orient) in enumerate(copies):
                suffix = _SUFFIX.get(fmt, "." + (fmt or "img").lower())
                name = f"images/{len(items):04d}_{k}{suffix}"
                (tmp / name).write_bytes(raw)
                names.append(name)
            meta = {k: _jsonable(v) for k, v in s.metadata.items() if k not in _COLUMNS}
            items.append(
                StudyItem(
                    id=s.id,
                    index=index,
                    images=names,
                    native=[(c[1], c[2]) for c in copies],
                    digests=[c[3] for c in copies],
                    question=s.question,
                    choices=s.choices,
                    answer=s.targets[0] if s.choices else s.targets,
                    category=s.category,
                    mrr=s.mrr,
                    bbox=s.bbox,
                    group=s.group,
                    metadata=meta,
                )
            )
            if on_item is not None:
                on_item(len(items), min(n, len(candidates)))
        if len(items) < n:
            log.warning("%s: %d items sampled of the %d asked for", t.name, len(items), n)
        spec.n_items, spec.n_seen, spec.skipped = len(items), seen, skipped
        (tmp / ITEMS_FILE).write_text(
            "".join(it.model_dump_json() + "\n" for it in items), encoding="utf-8"
        )
        keep = sorted({k for it in items for k in it.metadata})
        card = _card(folder.name, t, keep, t.name, len(items), seed)
        (tmp / CARD_FILE).write_text(yaml.safe_dump(card, sort_keys=False), encoding="utf-8")
        (tmp / "rows.py").write_text(_ROWS_PY, encoding="utf-8")
        (tmp / SPEC_FILE).write_text(spec.model_dump_json(indent=2) + "\n", encoding="utf-8")
        if folder.exists():
            folder.rmdir()  # empty (checked above); the finished study takes its place at once
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Study(folder)
