"""MRR studies: a reproducible sample of a benchmark, kept in one self-contained folder.

```
annotations/mrr/<name>/
  study.json      what was sampled, how, and the ladder (StudySpec)
  items.jsonl     one item per line: question, options, answer, native image size, ...
  images/         the sampled images, copied byte for byte from the benchmark
  card.yaml       a task card over the items (with rows.py), so the study runs as a task
  rows.py         the card's loader: reads items.jsonl
  labels.sqlite   human labels (ps3_eval.mrr.labels)
  rungs/          images downsampled to each rung, made on first use for the labelling page
  auto/           automatic estimates (ps3_eval.mrr.auto), one JSON file per model
```

Images are copied, not referenced: a study is labelled by several people over days, often on
another machine than the one that sampled it; hub datasets hand images over as bytes with no file
to point at; probe4k's frames live in a cache that may be cleared; and a label means something
only for the exact pixels it was given on. The copy is the original encoded file (no re-encoding),
with its content hash, so the native resolution and the bytes are those of the benchmark. A
50-item sample of 4K frames is tens of megabytes.
"""

from __future__ import annotations

import csv
import hashlib
import os
import random
import tempfile
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ps3_eval.errors import UsageError
from ps3_eval.mrr.labels import Label, LabelStore, check_labeller, parse_time
from ps3_eval.mrr.ladder import DEFAULT_LADDER, Ladder
from ps3_eval.records import utcnow

STUDY_SCHEMA = 1
DEFAULT_ROOT = Path("annotations/mrr")
"""Where studies live unless ``--study`` says otherwise."""
SPEC_FILE, ITEMS_FILE, CARD_FILE, LABELS_FILE = (
    "study.json",
    "items.jsonl",
    "card.yaml",
    "labels.sqlite",
)


class StudySpec(BaseModel):
    """``study.json``: what a study sampled and how."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = STUDY_SCHEMA
    name: str
    """The study's name (its folder's name)."""
    task: str
    """The benchmark's task name."""
    task_ref: str
    """The task as given (a name or a card path)."""
    card_digest: str
    """The benchmark card's digest when sampled."""
    data: str | None = None
    """The ``--data`` copy sampled from, if any."""
    task_args: dict[str, Any] = Field(default_factory=dict)
    """The task loader's arguments."""
    data_fingerprint: str
    """Identity of the benchmark's rows when sampled."""
    seed: int
    """Seed of the sample (and of each labeller's item order)."""
    n: int
    """Items asked for."""
    n_items: int
    """Items sampled (fewer than ``n`` only when the benchmark has fewer usable items)."""
    n_seen: int
    """Benchmark items looked at."""
    skipped: dict[str, int] = Field(default_factory=dict)
    """Benchmark items left out and why (no image, no answer, a row that does not map, an
    unreadable image)."""
    ladder: Ladder = DEFAULT_LADDER
    """The rungs labellers see and automatic estimates use by default."""
    images: str = "copied"
    """Images are copies of the benchmark's files (see the module's docstring)."""
    created_at: datetime = Field(default_factory=utcnow)
    package_version: str = ""
    code_revision: str | None = None


class StudyItem(BaseModel):
    """One line of ``items.jsonl``: a benchmark item as the study keeps it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    """The benchmark sample's id (labels and runs use it)."""
    index: int
    """Its position in the benchmark."""
    images: list[str]
    """Copied images, relative to the study folder."""
    native: list[tuple[int, int]]
    """``(width, height)`` of each image as stored in the benchmark (EXIF orientation applied)."""
    digests: list[str]
    """BLAKE2b-128 of each image's bytes (the image reader's content hash)."""
    question: str
    choices: list[str] | None = None
    answer: str | list[str]
    """The right option's letter for multiple choice, else the accepted answers."""
    category: str | None = None
    mrr: str | None = None
    """The benchmark's own (designed) MRR bucket, when it has one (probe4k, 4KPro)."""
    bbox: list[float] | None = None
    group: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    """The sample's kept columns (prompt fields such as a hint)."""

    @property
    def native_side(self) -> int:
        """Long side in pixels of the item's largest image."""
        return max(max(w, h) for w, h in self.native)

    @property
    def answer_text(self) -> str:
        """The answer as a labeller reads it: ``B. 47B`` or ``stop / stop sign``."""
        if self.choices and isinstance(self.answer, str) and len(self.answer) == 1:
            i = ord(self.answer.upper()) - ord("A")
            if 0 <= i < len(self.choices):
                return f"{self.answer}. {self.choices[i]}"
        return self.answer if isinstance(self.answer, str) else " / ".join(self.answer)


def read_rows(folder: Path) -> list[dict[str, Any]]:
    """The study's items as rows of its card (metadata flattened into columns)."""
    items = _read_items(folder)
    keep = sorted({k for it in items for k in it.metadata})
    rows = []
    for it in items:
        row = it.model_dump(mode="json", exclude={"metadata", "native", "digests"})
        row.update({k: it.metadata.get(k) for k in keep})
        rows.append(row)
    return rows


def _read_items(folder: Path) -> list[StudyItem]:
    path = folder / ITEMS_FILE
    items = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}.") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            items.append(StudyItem.model_validate_json(line))
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"]
            raise UsageError(f"{path}:{n} is not a study item ({msg}).") from None
    return items


class Study:
    """A study folder: its items, its labels, its rung images and its automatic estimates."""

    def __init__(self, folder: str | Path) -> None:
        self.dir = Path(folder)
        spec = self.dir / SPEC_FILE
        if not spec.is_file():
            raise UsageError(
                f"{self.dir} is not an MRR study (no {SPEC_FILE}); make one with "
                f"`ps3-eval mrr sample TASK --study {self.dir}`."
            )
        try:
            self.spec = StudySpec.model_validate_json(spec.read_text(encoding="utf-8"))
        except ValidationError as exc:
            raise UsageError(f"{spec} is damaged ({exc.errors()[0]['msg']}).") from None
        if self.spec.schema_version > STUDY_SCHEMA:
            raise UsageError(f"{spec} was written by a newer ps3-eval; upgrade.")

    @property
    def name(self) -> str:
        """The study's name."""
        return self.spec.name

    @property
    def ladder(self) -> Ladder:
        """The study's rungs."""
        return self.spec.ladder

    @property
    def card_path(self) -> Path:
        """The study's task card (``ps3-eval run --task`` takes it)."""
        return self.dir / CARD_FILE

    @cached_property
    def items(self) -> list[StudyItem]:
        """Every item, in the study's (random) order."""
        return _read_items(self.dir)

    @cached_property
    def _by_id(self) -> dict[str, StudyItem]:
        return {it.id: it for it in self.items}

    def item(self, item_id: str) -> StudyItem:
        """One item by id.

        Raises:
            UsageError: for an id the study does not have.
        """
        try:
            return self._by_id[item_id]
        except KeyError:
            raise UsageError(
                f"study {self.name} has no item '{item_id}' (its {len(self.items)} items are "
                f"listed in {self.dir / ITEMS_FILE})."
            ) from None

    def designed(self) -> dict[str, str]:
        """The benchmark's own MRR of the items that have one on the study's scale."""
        scale = set(self.ladder.scale)
        return {it.id: it.mrr for it in self.items if it.mrr in scale}

    # ----------------------------------------------------------------- labels

    @cached_property
    def labels(self) -> LabelStore:
        """The study's label store (created on first use)."""
        return LabelStore(self.dir / LABELS_FILE)

    def close(self) -> None:
        """Close the label store, if it was opened (a server does when it stops)."""
        store = self.__dict__.pop("labels", None)
        if store is not None:
            store.close()

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_label(
        self,
        item: str,
        labeller: str,
        label: str,
        *,
        at: datetime | None = None,
        source: str = "api",
    ) -> Label:
        """Check and store one label: a rung label, ``beyond`` or ``no_image``.

        Raises:
            UsageError: for an unknown item, a bad labeller name or a label off the scale.
        """
        self.item(item)
        return self.labels.add(
            item, check_labeller(labeller), self.ladder.canonical(label), at=at, source=source
        )

    def import_labels(self, path: str | Path, labeller: str | None = None) -> tuple[int, int]:
        """Add the labels of a CSV file, all or none.

        Columns (header names, any order, case-insensitive): ``item`` (or ``id``), ``labeller``
        (or the ``labeller`` argument for a file of one person's labels), ``mrr`` (or ``label``),
        and optionally ``time`` (or ``at``; ISO 8601, UTC when no zone is given). Rows with a
        time already stored are skipped, so importing the same file again adds nothing.

        Returns:
            ``(added, skipped)``.

        Raises:
            UsageError: naming the file, line and problem of the first bad row; nothing is stored.
        """
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise UsageError(f"cannot read {file}: {exc.strerror}.") from None
        reader = csv.DictReader(text.splitlines())
        columns = {(c or "").strip().lower(): c for c in reader.fieldnames or []}

        def column(*names: str) -> str | None:
            return next((columns[n] for n in names if n in columns), None)

        c_item, c_label = column("item", "id", "item_id"), column("mrr", "label")
        c_who, c_time = column("labeller", "labeler", "annotator"), column("time", "at")
        if c_item is None or c_label is None or (c_who is None and labeller is None):
            raise UsageError(
                f"{file} needs the columns item, labeller and mrr (and optionally time); it has "
                f"{', '.join(reader.fieldnames or []) or 'none'} (or pass --labeller NAME for a "
                f"file without a labeller column)."
            )
        rows: list[tuple[str, str, str, datetime | None]] = []
        for line, rec in enumerate(reader, 2):
            try:
                item = (rec.get(c_item) or "").strip()
                self.item(item)
                who = check_labeller((rec.get(c_who) if c_who else None) or labeller or "")
                label = self.ladder.canonical(rec.get(c_label) or "")
                when = (rec.get(c_time) or "").strip() if c_time else ""
                rows.append((item, who, label, parse_time(when) if when else None))
            except (UsageError, ValueError) as exc:
                raise UsageError(f"{file}:{line}: {exc} Nothing was imported.") from None
        return self.labels.add_many(rows, source=f"import:{file.name}")

    def export_labels(self, path: str | Path) -> int:
        """Write every stored label (all of them, not only the latest) as CSV; returns the count."""
        rows = self.labels.labels()
        with Path(path).open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["item", "labeller", "mrr", "time", "source"])
            for lab in rows:
                w.writerow([lab.item, lab.labeller, lab.label, lab.at.isoformat(), lab.source])
        return len(rows)

    def human_labels(self) -> dict[str, dict[str, str]]:
        """Labeller -> item -> the label that counts (their latest)."""
        out: dict[str, dict[str, str]] = {}
        for (item, who), lab in sorted(self.labels.latest().items()):
            if item in self._by_id:
                out.setdefault(who, {})[item] = lab.label
        return dict(sorted(out.items()))

    def _order_key(self, labeller: str, salt: str, item_id: str) -> bytes:
        text = f"{self.spec.seed}\0{salt}\0{labeller}\0{item_id}"
        return hashlib.blake2b(text.encode(), digest_size=12).digest()

    def next_item(
        self, labeller: str, skip: set[str] | frozenset[str] = frozenset()
    ) -> StudyItem | None:
        """The next item this labeller has not labelled, or ``None`` when they are done.

        Each labeller gets the items in an order of their own, drawn from a hash of the study's
        seed, their name and the item: never the benchmark's order or the designed buckets (a
        benchmark sorted by difficulty, or probe4k cycling 1K/2K/4K, would hint at the answer),
        and not the order another labeller saw. ``skip`` passes over items (e.g. one the
        labeller put aside for now).
        """
        who = check_labeller(labeller)
        done = self.labels.labelled_by(who) | set(skip)
        todo = [it for it in self.items if it.id not in done]
        if not todo:
            return None
        return min(todo, key=lambda it: self._order_key(who, "item", it.id))

    def rung_order(self, item_id: str, labeller: str) -> list[str]:
        """The rungs of an item in the order to show them to this labeller.

        A shuffle of its own per (labeller, item), so the position of an image on the page says
        nothing about its resolution; the page shows every rung at one display size.
        """
        self.item(item_id)
        labels = self.ladder.labels
        rng = random.Random(self._order_key(check_labeller(labeller), "rungs", item_id))
        rng.shuffle(labels)
        return labels

    def render_rung(self, item_id: str, rung: str, image: int = 0) -> Path:
        """An item's image downsampled to a rung (Lanczos, as the runner shows it to models).

        Made on first use and kept under ``rungs/``; a rung at or above the image's own size is
        the copied original itself (never upsampled).

        Raises:
            UsageError: for an unknown item, rung or image index.
        """
        from ps3_eval.images import decode, shrink_to_side
        from ps3_eval.records import ImageSource

        it = self.item(item_id)
        side = self.ladder.side(rung)
        if side is None:
            raise UsageError(f"'{rung}' is not a rung of {self.name} ({self.ladder.text()}).")
        if not 0 <= image < len(it.images):
            raise UsageError(f"item '{item_id}' has {len(it.images)} image(s), not {image + 1}.")
        original = self.dir / it.images[image]
        if max(it.native[image]) <= side:
            return original
        out = self.dir / "rungs" / rung / f"{Path(it.images[image]).stem}.png"
        if out.is_file():
            return out
        img, _ = decode(ImageSource(path=str(original)))
        small = shrink_to_side(img, side)
        out.parent.mkdir(parents=True, exist_ok=True)
        # a web server may ask for the same rung twice at once: each writes its own file
        fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".png.tmp")
        os.close(fd)
        try:
            small.save(tmp, format="PNG")
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return out

    def auto_files(self) -> list[Path]:
        """The automatic estimates stored in the study (``auto/*.json``)."""
        return sorted((self.dir / "auto").glob("*.json"))


def load_study(folder: str | Path) -> Study:
    """Open a study folder."""
    return Study(folder)


def is_study(path: str | Path) -> bool:
    """True when ``path`` is a study folder."""
    return (Path(path) / SPEC_FILE).is_file()
