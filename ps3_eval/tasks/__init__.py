"""Tasks: a card plus its data, turned into samples, prompts and scores."""

from __future__ import annotations

import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ps3_eval.errors import DataError, UsageError
from ps3_eval.records import (
    GenerationConfig,
    ImagePart,
    ImageSource,
    Message,
    Request,
    Sample,
    TextPart,
)
from ps3_eval.scoring import Score, Scorer, get_scorer, letter_of
from ps3_eval.tasks.card import CardFile, TaskCard, discover, find_card, load_hook, read_card
from ps3_eval.tasks.loading import open_rows

__all__ = [
    "BrokenSample",
    "Task",
    "TaskCard",
    "discover",
    "find_card",
    "list_tasks",
    "load_task",
    "read_card",
]


@dataclass(frozen=True)
class BrokenSample:
    """A dataset row that could not become a sample; recorded as that sample's error."""

    id: str
    error: str


class Task:
    """A loaded benchmark: iterates samples, builds requests, scores predictions."""

    def __init__(
        self, card_file: CardFile, data: str | None = None, args: dict[str, Any] | None = None
    ) -> None:
        self.card: TaskCard = card_file.card
        self.card_path = card_file.path
        self.data = data
        self.args = {**self.card.source.args, **(args or {})}
        base = self.card_path.parent if self.card_path else None
        self.card_digest = _digest_with_hooks(card_file.digest, self.card, base)
        """The card file's hash, extended by the ``file.py`` hooks it names (loader, scorer)."""
        self.scorer: Scorer = get_scorer(self.card.scorer, base)
        self._rows: Any = None

    @property
    def name(self) -> str:
        """The card's name."""
        return self.card.name

    def _open(self) -> Any:
        if self._rows is None:
            base = self.card_path.parent if self.card_path else Path.cwd()
            loader = None
            if self.card.source.loader and not self.data:
                loader = load_hook(self.card.source.loader, base, "loader")
            elif self.args and not self.card.source.loader:
                raise UsageError(
                    f"task '{self.name}' takes no arguments (it has no custom loader); "
                    f"got {', '.join(self.args)}."
                )
            self._rows = open_rows(self.card, self.data, base, loader, self.args)
        return self._rows

    def __len__(self) -> int:
        return len(self._open())

    @property
    def data_fingerprint(self) -> str:
        """Identity of the task's data, so changed data never resumes an old run."""
        return str(self._open().fingerprint)

    @property
    def data_files(self) -> list[str]:
        """The local data files read for the card's split (empty for hub ids and loaders)."""
        return list(self._open().files)

    def samples(self, limit: int | None = None) -> Iterator[Sample | BrokenSample]:
        """Stream samples in dataset order; unmappable rows come out as ``BrokenSample``."""
        rows = self._open()
        seen: set[str] = set()
        for index, (row, base) in enumerate(rows.iter(limit)):
            item = self.to_sample(row, index, base)
            if item.id in seen:
                raise DataError(
                    f"task '{self.name}': id '{item.id}' appears twice; map `fields.id` to a "
                    f"unique column in the card."
                )
            seen.add(item.id)
            yield item

    def to_sample(self, row: dict[str, Any], index: int, base: Path) -> Sample | BrokenSample:
        """Map one dataset row to a ``Sample`` using the card's field map."""
        f = self.card.fields
        sid = str(row[f.id]) if f.id and row.get(f.id) is not None else str(index)

        def need(column: str) -> Any:
            if column not in row or row[column] is None:
                raise KeyError(column)
            return row[column]

        try:
            question = str(need(f.question))
            choices = _choices(row, f.choices, need)
            targets: list[str] = []
            if f.answer:
                answer = need(f.answer)
                if choices:
                    targets = [letter_of(str(answer), choices, f.answer_format)]
                else:
                    targets = (
                        [str(a) for a in answer] if isinstance(answer, list) else [str(answer)]
                    )
            images = _images(row, f.image, base, need)
            bbox = need(f.bbox) if f.bbox and row.get(f.bbox) is not None else None
            metadata = {k: row.get(k) for k in f.keep}
            return Sample(
                id=sid,
                images=images,
                question=question,
                choices=choices,
                targets=targets,
                category=str(row[f.category]) if f.category and row.get(f.category) else None,
                mrr=str(row[f.mrr]) if f.mrr and row.get(f.mrr) else None,
                bbox=[float(v) for v in bbox] if bbox is not None else None,
                metadata=metadata,
            )
        except KeyError as exc:
            return BrokenSample(
                sid,
                f"task '{self.name}': row {index} has no field '{exc.args[0]}' "
                f"(mapped in the card's `fields`)",
            )
        except (ValueError, TypeError) as exc:
            return BrokenSample(sid, f"task '{self.name}': row {index}: {exc}")

    def prompt_text(self, sample: Sample) -> str:
        """Apply the card's prompt template."""
        letters = string.ascii_uppercase
        options = "\n".join(f"{letters[i]}. {c}" for i, c in enumerate(sample.choices or []))
        values = {
            **sample.metadata,
            "question": sample.question,
            "options": options,
            "category": sample.category or "",
        }
        try:
            return self.card.prompt.format_map(values)
        except KeyError as exc:
            raise DataError(
                f"task '{self.name}': the prompt uses {{{exc.args[0]}}}, which the sample lacks; "
                f"add it to `fields.keep` in the card."
            ) from None

    def build_request(
        self, sample: Sample, images: list[ImagePart], generation: GenerationConfig | None = None
    ) -> Request:
        """One user message with the images first, then the prompt text."""
        messages = []
        if self.card.system:
            messages.append(Message(role="system", content=[TextPart(text=self.card.system)]))
        content: list[TextPart | ImagePart] = [*images, TextPart(text=self.prompt_text(sample))]
        messages.append(Message(role="user", content=content))
        return Request(
            sample_id=sample.id,
            messages=messages,
            generation=generation or self.card.generation,
            choices=sample.choices,
        )

    def score(self, prediction: str, sample: Sample) -> Score:
        """Score a prediction with the card's scorer."""
        return self.scorer(prediction, sample)


def _digest_with_hooks(card_digest: str, card: TaskCard, base: Path | None) -> str:
    """Fold the code of the card's ``file.py:function`` hooks into its digest.

    A custom scorer or loader decides results as much as the card does, so editing one starts a
    new run. (Hooks in installed modules change with the package version instead.)
    """
    import hashlib

    h = hashlib.sha256(card_digest.encode())
    read = False
    for ref in (card.source.loader, card.scorer):
        target = (ref or "").rpartition(":")[0]
        path = Path(target)
        if not target.endswith(".py"):
            continue
        if not path.is_absolute() and base is not None:
            path = base / path
        if path.is_file():
            h.update(path.read_bytes())
            read = True
    return h.hexdigest()[:16] if read else card_digest


def _choices(row: dict[str, Any], spec: str | list[str] | None, need: Any) -> list[str] | None:
    if spec is None:
        return None
    if isinstance(spec, list):
        return [str(need(c)) for c in spec]
    value = need(spec)
    if isinstance(value, str):
        import json

        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"choices column '{spec}' is a string, not a list") from None
    return [str(v) for v in value]


def _images(
    row: dict[str, Any], spec: str | list[str] | None, base: Path, need: Any
) -> list[ImageSource]:
    if spec is None:
        return []
    columns = spec if isinstance(spec, list) else [spec]
    out: list[ImageSource] = []
    for col in columns:
        value = need(col)
        for item in value if isinstance(value, list) else [value]:
            out.append(_image_source(item, base))
    return out


def _image_source(value: Any, base: Path) -> ImageSource:
    if isinstance(value, dict):
        if value.get("bytes"):
            return ImageSource(data=value["bytes"], path=value.get("path"))
        value = value.get("path")
    if isinstance(value, bytes | bytearray):
        return ImageSource(data=bytes(value))
    if isinstance(value, str) and value:
        path = Path(value)
        return ImageSource(path=str(path if path.is_absolute() else base / path))
    if hasattr(value, "save"):  # an already decoded PIL image from a custom loader
        import io

        buf = io.BytesIO()
        value.save(buf, format="PNG")
        return ImageSource(data=buf.getvalue())
    raise ValueError(f"image value of type {type(value).__name__} is not a path, bytes or image")


def load_task(task: str, data: str | None = None, args: dict[str, Any] | None = None) -> Task:
    """Load a task by registered name or card path, optionally on a local copy of its data."""
    return Task(find_card(task), data=data, args=args)


def list_tasks() -> list[TaskCard]:
    """All registered cards, by name."""
    return [read_card(p).card for _, p in sorted(discover().items())]
