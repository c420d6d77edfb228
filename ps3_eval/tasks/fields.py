"""Field mapping: turning a dataset row into a ``Sample`` by the card's column map.

The map depends on the layout the data was opened in (a VLMEvalKit TSV has columns of its own,
and writes lists and images as text), so the opened layout is a value the mapping is made for:
:meth:`RowMapping.for_layout`. Nothing here opens data or changes a task.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ps3_eval.errors import DataError, UsageError
from ps3_eval.records import ImageSource, Sample
from ps3_eval.scoring import letter_of, list_scorers
from ps3_eval.tasks.card import FieldMap, TaskCard
from ps3_eval.tasks.loading import LAYOUTS, Rows


@dataclass(frozen=True)
class BrokenSample:
    """A dataset row that could not become a sample; recorded as that sample's error."""

    id: str
    error: str


def check_answer(card: TaskCard, fields: FieldMap, where: str) -> None:
    """A registered scorer needs every sample's answer; a null answer column cannot run.

    Raises:
        UsageError: naming the card's key (``where``) and the scorer.
    """
    if fields.answer is None and card.scorer in list_scorers():
        raise UsageError(
            f"task '{card.name}': {where} is null, so no sample has an answer for the scorer "
            f"'{card.scorer}' to score against; map it to the data's answer column."
        )


@dataclass(frozen=True)
class RowMapping:
    """How a task's rows, opened in one layout, become samples."""

    card: TaskCard
    fields: FieldMap
    """The column map: the card's, or its VLMEvalKit variant for a TSV."""
    layout: str
    """The layout the data was opened in (``Rows.layout``)."""
    unlabelled: bool = False
    """The split's answers are not published: samples are answered, not scored."""

    @classmethod
    def for_layout(cls, card: TaskCard, layout: str, unlabelled: bool = False) -> RowMapping:
        """The card's mapping for data opened in ``layout``.

        Raises:
            UsageError: for a VLMEvalKit TSV of a card without a VLMEvalKit layout, or a
                VLMEvalKit column map that is not valid.
        """
        if layout != "vlmevalkit":
            return cls(card, card.fields, layout, unlabelled)
        if card.vlmevalkit is None:
            raise UsageError(
                f"task '{card.name}' has no VLMEvalKit layout; give --data the dataset's own "
                f"files ({LAYOUTS})."
            )
        merged = {**card.fields.model_dump(), **card.vlmevalkit.fields}
        try:
            fields = FieldMap.model_validate(merged)
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"]
            raise UsageError(f"task '{card.name}': vlmevalkit.fields: {msg}.") from None
        check_answer(card, fields, "vlmevalkit.fields.answer")
        return cls(card, fields, layout, unlabelled)

    @property
    def text_cells(self) -> bool:
        """Lists and images are written as text (a VLMEvalKit TSV: list literals, base64)."""
        return self.layout == "vlmevalkit"

    def check_columns(self, rows: Rows) -> None:
        """Every mapped column exists, or one error naming the card and the column."""
        present = rows.column_names
        if present is None:
            return
        optional = set(self.fields.optional)
        if self.unlabelled and self.fields.answer:
            optional.add(self.fields.answer)
        missing = [c for c in self.fields.columns() if c not in present and c not in optional]
        if missing:
            key = "vlmevalkit.fields" if self.text_cells else "fields"
            raise UsageError(
                f"task '{self.card.name}': the data has no column '{missing[0]}' (mapped in the "
                f"card's `{key}`); it has {', '.join(sorted(present))}."
            )
        answer = self.fields.answer
        # A split the card names as unlabelled (MMBench's test) is answered, not scored.
        if answer and not self.unlabelled and len(rows) and rows.null_count(answer) == len(rows):
            unlabelled = self.card.source.unlabelled
            also = f" (or {', '.join(unlabelled)}, answered for a submission)" if unlabelled else ""
            raise UsageError(
                f"task '{self.card.name}': the answer column '{answer}' is empty in every row (a "
                f"split without public answers?); use a split that has them{also}."
            )

    def prompt_fields(self) -> set[str]:
        """The placeholders a prompt template can use with this column map."""
        f = self.fields
        names = {"question", "options", "category", *f.keep}
        if f.choices_in_question:
            names.add("instruction")
        if f.hint:
            names.add("hint")
        return names

    def samples(self, rows: Rows, limit: int | None = None) -> Iterator[Sample | BrokenSample]:
        """Stream samples in dataset order; unmappable rows come out as ``BrokenSample``."""
        seen: set[str] = set()
        for index, (row, base) in enumerate(rows.iter(limit)):
            item = self.to_sample(row, index, base)
            if item.id in seen:
                raise DataError(
                    f"task '{self.card.name}': id '{item.id}' appears twice; map `fields.id` to a "
                    f"unique column in the card."
                )
            seen.add(item.id)
            yield item

    def to_sample(self, row: dict[str, Any], index: int, base: Path) -> Sample | BrokenSample:
        """Map one dataset row to a ``Sample`` (a ``BrokenSample`` naming what is wrong)."""
        f = self.fields
        sid = str(row[f.id]) if f.id and row.get(f.id) is not None else str(index)

        def need(column: str) -> Any:
            if column not in row or row[column] is None:
                raise KeyError(column)
            return row[column]

        try:
            question = str(need(f.question)) if f.question else ""
            metadata = {k: row.get(k) for k in f.keep}
            if f.choices_in_question:
                question, choices, instruction = split_inline_choices(question)
                metadata["instruction"] = instruction
            else:
                choices = _choices(row, f.choices, need, optional=f.optional_choices)
            if f.hint:
                hint = row.get(f.hint)
                metadata["hint"] = "" if blank(hint) else str(hint).strip()
            targets: list[str] = []
            if f.answer and not (self.unlabelled and blank(row.get(f.answer))):
                answer = need(f.answer)
                if self.text_cells and isinstance(answer, str) and answer.startswith("["):
                    answer = _literal_list(answer) or answer
                if choices:
                    targets = [letter_of(str(answer), choices, f.answer_format)]
                else:
                    targets = (
                        [str(a) for a in answer] if isinstance(answer, list) else [str(answer)]
                    )
                if not targets or not any(t.strip() for t in targets):
                    raise ValueError("the answer is empty")
            if self.unlabelled:
                targets = []  # hidden answers: the split is answered for a submission
            image_spec = f.image
            if f.images_named_in_question and isinstance(image_spec, list):
                image_spec = _named_images(question, image_spec)
            images = _images(row, image_spec, base, need, text_cells=self.text_cells)
            bbox = need(f.bbox) if f.bbox and row.get(f.bbox) is not None else None
            group = None
            if f.group:
                value = need(f.group)
                group = str(int(value) % f.group_modulo) if f.group_modulo else str(value)
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
                group=group,
            )
        except KeyError as exc:
            return BrokenSample(
                sid,
                f"task '{self.card.name}': row {index} has no field '{exc.args[0]}' "
                f"(mapped in the card's `fields`)",
            )
        except (ValueError, TypeError) as exc:
            return BrokenSample(sid, f"task '{self.card.name}': row {index}: {exc}")


def blank(value: Any) -> bool:
    """Empty cells as pandas, Arrow and TSV files write them: None, NaN, "", "nan"."""
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    return isinstance(value, str) and value.strip().lower() in ("", "nan", "none")


def _literal_list(text: str) -> list[Any] | None:
    """A list written as text (JSON or a Python literal), or ``None``."""
    import ast
    import json

    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, list):
            return value
    return None


def _choices(
    row: dict[str, Any], spec: str | list[str] | None, need: Any, *, optional: bool = False
) -> list[str] | None:
    if spec is None:
        return None
    if isinstance(spec, list):
        # Option columns (A, B, C, D): absent options are empty cells at the end.
        values = [row.get(c) for c in spec]
        while values and blank(values[-1]):
            values.pop()
        if not values:
            if optional:
                return None
            raise KeyError(spec[0])
        for column, value in zip(spec, values, strict=False):
            if blank(value):
                raise ValueError(f"option column '{column}' is empty before a later option")
        return [str(v) for v in values]
    if optional and blank(row.get(spec)):
        return None
    value = need(spec)
    if isinstance(value, str):
        parsed = _literal_list(value)
        if parsed is None:
            raise ValueError(f"choices column '{spec}' is a string, not a list")
        value = parsed
    out = [str(v) for v in value]
    if optional and not out:
        return None
    return out


_OPTION_MARK = re.compile(r"(?:^|(?<=\s))\(([A-J])\)\s*|^([A-J])[.:)]\s+", re.MULTILINE)


def split_inline_choices(text: str) -> tuple[str, list[str] | None, str]:
    """Split a question that writes its options inline into (stem, options, instruction).

    Options are marked ``(A) red`` (on one line or several) or ``A. red`` at the start of a line,
    and must run A, B, C, ... in order. The instruction is whatever follows the last option on a
    new line. Without marked options the text is an open question: ``(text, None, "")``.
    """
    marks = [m for m in _OPTION_MARK.finditer(text)]
    expected = 0
    run: list[re.Match[str]] = []
    for m in marks:
        letter = m.group(1) or m.group(2)
        if ord(letter) - ord("A") == expected:
            run.append(m)
            expected += 1
        elif letter == "A":
            run, expected = [m], 1
    if len(run) < 2:
        return text.strip(), None, ""
    stem = text[: run[0].start()].strip()
    options = []
    for i, m in enumerate(run):
        end = run[i + 1].start() if i + 1 < len(run) else len(text)
        options.append(text[m.end() : end])
    last, _, instruction = options[-1].partition("\n")
    options[-1] = last
    return stem, [o.strip() for o in options], instruction.strip()


_IMAGE_MARK = re.compile(r"<image (\d+)>")


def _named_images(question: str, columns: list[str]) -> list[str]:
    """The image columns a question names as ``<image N>``, once each, in the order of N."""
    named = sorted({int(n) for n in _IMAGE_MARK.findall(question)})
    by_number = {int(m.group(1)): c for c in columns if (m := re.search(r"(\d+)$", c))}
    chosen = [by_number[n] for n in named if n in by_number]
    return chosen or columns[:1]


def _images(
    row: dict[str, Any],
    spec: str | list[str] | None,
    base: Path,
    need: Any,
    *,
    text_cells: bool = False,
) -> list[ImageSource]:
    if spec is None:
        return []
    columns = spec if isinstance(spec, list) else [spec]
    out: list[ImageSource] = []
    for col in columns:
        if isinstance(spec, list) and blank(row.get(col)):
            continue  # several image columns (image_1..image_7): the unused ones are empty
        value = need(col)
        if text_cells and isinstance(value, str) and value.startswith("["):
            value = _literal_list(value) or value  # several base64 images in one TSV cell
        for item in value if isinstance(value, list) else [value]:
            out.append(_image_source(item, base, text_cells=text_cells))
    if not out:
        raise KeyError(columns[0])
    return out


def _image_source(value: Any, base: Path, *, text_cells: bool = False) -> ImageSource:
    if isinstance(value, dict):
        if value.get("bytes"):
            return ImageSource(data=value["bytes"], path=value.get("path"))
        value = value.get("path")
    if isinstance(value, bytes | bytearray):
        return ImageSource(data=bytes(value))
    if text_cells and isinstance(value, str) and len(value) > 64:
        import base64
        import binascii

        try:  # VLMEvalKit TSVs carry images as base64 text (short cells are row references)
            return ImageSource(data=base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise ValueError("image cell is neither base64 nor a row index") from None
    if isinstance(value, str) and value:
        path = Path(value)
        return ImageSource(path=str(path if path.is_absolute() else base / path))
    if hasattr(value, "save"):  # an already decoded PIL image from a custom loader
        import io

        buf = io.BytesIO()
        value.save(buf, format="PNG")
        return ImageSource(data=buf.getvalue())
    raise ValueError(f"image value of type {type(value).__name__} is not a path, bytes or image")
