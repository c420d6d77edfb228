"""Tasks: a card plus its data, turned into samples, prompts and scores."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ps3_eval.errors import DataError, UsageError
from ps3_eval.plugins import hook_file, load_hook
from ps3_eval.records import (
    GenerationConfig,
    ImagePart,
    ImageSource,
    Message,
    Request,
    Sample,
    TextPart,
)
from ps3_eval.scoring import (
    JudgedScorer,
    Score,
    Scorer,
    get_scorer,
    judged,
    letter_of,
    list_scorers,
)
from ps3_eval.scoring.aggregate import get_aggregation
from ps3_eval.tasks.card import (
    RESERVED_ARGS,
    CardFile,
    FieldMap,
    TaskCard,
    discover,
    find_card,
    read_card,
)
from ps3_eval.tasks.loading import LAYOUTS, Rows, open_rows

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
        self,
        card_file: CardFile,
        data: str | None = None,
        args: dict[str, Any] | None = None,
        prompt: str | None = None,
    ) -> None:
        self.card: TaskCard = card_file.card
        self.prompt_override = prompt
        """A template replacing the card's (``--prompt-file``, a model's own prompt)."""
        self.card_path = card_file.path
        self.data = data
        self.args = {**self.card.source.args, **(args or {})}
        self.variant = self._variant(self.args.get("variant"))
        split = self.args.get("split")
        if split is not None:  # another split of the same dataset (MMBench's test)
            source = self.card.source.model_copy(update={"split": str(split)})
            self.card = self.card.model_copy(update={"source": source})
        self.unlabelled = self.card.source.split in self.card.source.unlabelled
        """The split's answers are not published: samples are answered, not scored."""
        base = self.card_path.parent if self.card_path else None
        self.card_digest = _digest_with_hooks(card_file.digest, self.card, base)
        """The card file's hash, extended by the ``file.py`` hooks it names (loader, scorer)."""
        self.scorer: Scorer = get_scorer(self.card.scorer, base)
        self.judged_scorer: JudgedScorer | None = judged(self.scorer)
        """The scorer again when it reads a judge's extraction (``None`` for rules only)."""
        get_aggregation(self.card.aggregation)  # an unknown name fails here, before any call
        self.fields: FieldMap = self.card.fields
        """The column map in use (the card's, or its VLMEvalKit variant for a TSV)."""
        self._check_answer(self.fields, "fields.answer")
        self.text_cells = False
        """Lists and images are written as text (a VLMEvalKit TSV: list literals, base64)."""
        self.layout: str | None = None
        """The layout of the opened data (``Rows.layout``); ``None`` until it is opened."""
        self._rows: Any = None

    def _variant(self, name: Any) -> Any:
        if name is None:
            return None
        variant = self.card.variants.get(str(name))
        if variant is None:
            known = ", ".join(sorted(self.card.variants)) or "none"
            raise UsageError(
                f"task '{self.card.name}' has no prompt variant '{name}'; its variants: {known}."
            )
        return variant

    @property
    def name(self) -> str:
        """The card's name."""
        return self.card.name

    @property
    def generation(self) -> GenerationConfig:
        """The decoding settings: the card's, or its chosen variant's."""
        if self.variant is not None and self.variant.generation is not None:
            return self.variant.generation  # type: ignore[no-any-return]
        return self.card.generation

    @property
    def loader_args(self) -> dict[str, Any]:
        """The arguments a custom loader gets (``split`` and ``variant`` are every card's)."""
        return {k: v for k, v in self.args.items() if k not in RESERVED_ARGS}

    def _open(self) -> Any:
        if self._rows is None:
            base = self.card_path.parent if self.card_path else Path.cwd()
            loader = None
            if self.card.source.loader and not self.data:
                loader = load_hook(self.card.source.loader, base, "loader")
                self.check_args(loader)
            elif self.loader_args and not self.card.source.loader:
                raise UsageError(
                    f"task '{self.name}' takes no arguments but {', '.join(RESERVED_ARGS)} (it "
                    f"has no custom loader); got {', '.join(self.loader_args)}."
                )
            rows = open_rows(self.card, self.data, base, loader, self.loader_args)
            self.fields = self._fields_for(rows.layout)
            self.text_cells = rows.layout == "vlmevalkit"
            self._check_columns(rows)
            self.layout = rows.layout
            self.check_prompt()
            self._rows = rows
        return self._rows

    def _check_answer(self, fields: FieldMap, where: str) -> None:
        """A registered scorer needs every sample's answer; a null answer column cannot run."""
        if fields.answer is None and self.card.scorer in list_scorers():
            raise UsageError(
                f"task '{self.name}': {where} is null, so no sample has an answer for the scorer "
                f"'{self.card.scorer}' to score against; map it to the data's answer column."
            )

    def check_args(self, loader: Any = None) -> None:
        """Refuse task arguments the card's loader does not take, naming the ones it does.

        Checked against the loader's signature, before any data is loaded or generated.
        """
        import difflib
        import inspect

        if not self.loader_args or not self.card.source.loader or self.data:
            return
        if loader is None:
            base = self.card_path.parent if self.card_path else Path.cwd()
            loader = load_hook(self.card.source.loader, base, "loader")
        try:
            params = inspect.signature(loader).parameters
        except (TypeError, ValueError):  # a builtin or C function: let the call decide
            return
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return
        names = [
            n
            for n, p in params.items()
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        ]
        for key in self.loader_args:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise UsageError(
                    f"task '{self.name}' has no argument '{key}'{hint}; its arguments are "
                    f"{', '.join([*names, *RESERVED_ARGS])}."
                )

    def _fields_for(self, layout: str) -> FieldMap:
        if layout != "vlmevalkit":
            return self.card.fields
        if self.card.vlmevalkit is None:
            raise UsageError(
                f"task '{self.name}' has no VLMEvalKit layout; give --data the dataset's own "
                f"files ({LAYOUTS})."
            )
        merged = {**self.card.fields.model_dump(), **self.card.vlmevalkit.fields}
        try:
            fields = FieldMap.model_validate(merged)
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"]
            raise UsageError(f"task '{self.name}': vlmevalkit.fields: {msg}.") from None
        self._check_answer(fields, "vlmevalkit.fields.answer")
        return fields

    def _check_columns(self, rows: Rows) -> None:
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
                f"task '{self.name}': the data has no column '{missing[0]}' (mapped in the card's "
                f"`{key}`); it has {', '.join(sorted(present))}."
            )
        answer = self.fields.answer
        # A split the card names as unlabelled (MMBench's test) is answered, not scored.
        if answer and not self.unlabelled and len(rows) and rows.null_count(answer) == len(rows):
            unlabelled = self.card.source.unlabelled
            also = f" (or {', '.join(unlabelled)}, answered for a submission)" if unlabelled else ""
            raise UsageError(
                f"task '{self.name}': the answer column '{answer}' is empty in every row (a split "
                f"without public answers?); use a split that has them{also}."
            )

    def prompt_fields(self) -> set[str]:
        """The placeholders a prompt template can use with the column map in use."""
        f = self.fields
        names = {"question", "options", "category", *f.keep}
        if f.choices_in_question:
            names.add("instruction")
        if f.hint:
            names.add("hint")
        return names

    def check_prompt(self) -> None:
        """Refuse, before any model call, a template naming a field no sample can fill.

        Raises:
            UsageError: naming the field, the template's source and the fields available.
        """
        if self.layout is None:
            self._open()  # the column map depends on the data's layout
        template = self.prompt_template
        try:
            named = {
                name.split(".")[0].split("[")[0]
                for _, name, _, _ in string.Formatter().parse(template)
                if name is not None
            }
        except ValueError as exc:
            raise UsageError(
                f"task '{self.name}': the prompt is not a valid template ({exc})."
            ) from None
        unknown = sorted(n for n in named if n not in self.prompt_fields())
        if not unknown:
            return
        if self.prompt_override is not None:
            source = "the prompt given for this run"
        elif self.layout == "vlmevalkit":
            source = "the card's prompt (for its VLMEvalKit TSV: set `vlmevalkit.prompt`)"
        else:
            source = "the card's prompt"
        valid = ", ".join("{" + n + "}" for n in sorted(self.prompt_fields()))
        layout = "VLMEvalKit TSV" if self.layout == "vlmevalkit" else "data"
        raise UsageError(
            f"task '{self.name}': {source} uses {{{unknown[0]}}}, which the {layout} cannot fill; "
            f"it can use {valid} (add columns to `fields.keep`)."
        )

    def __len__(self) -> int:
        return len(self._open())

    @property
    def rows(self) -> Rows:
        """The opened rows (loaded on first use)."""
        rows: Rows = self._open()
        return rows

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
                metadata["hint"] = "" if _blank(hint) else str(hint).strip()
            targets: list[str] = []
            if f.answer and not (self.unlabelled and _blank(row.get(f.answer))):
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
                f"task '{self.name}': row {index} has no field '{exc.args[0]}' "
                f"(mapped in the card's `fields`)",
            )
        except (ValueError, TypeError) as exc:
            return BrokenSample(sid, f"task '{self.name}': row {index}: {exc}")

    @property
    def prompt_template(self) -> str:
        """The template in use: the override, the chosen variant's, or the card's.

        For a VLMEvalKit TSV, the card's ``vlmevalkit.prompt`` (when it has one) stands in for
        the card's own prompt.
        """
        if self.prompt_override:
            return self.prompt_override
        if self.variant is not None and self.variant.prompt is not None:
            return str(self.variant.prompt)
        tsv = self.card.vlmevalkit
        if tsv is not None and tsv.prompt is not None:
            if self.layout is None:
                self._open()
            if self.layout == "vlmevalkit":
                return tsv.prompt
        return self.card.default_prompt

    def prompt_text(self, sample: Sample) -> str:
        """Apply the prompt template.

        A template line whose placeholders are all empty for this sample (no options on an open
        question, no hint) is left out rather than sent as a blank line. A hint goes on a line
        of its own before the question, unless the template places ``{hint}`` itself.
        """
        letters = string.ascii_uppercase
        options = "\n".join(f"{letters[i]}. {c}" for i, c in enumerate(sample.choices or []))
        question = sample.question
        hint = sample.metadata.get("hint")
        if hint and "{hint}" not in self.prompt_template:
            question = f"{hint}\n{question}" if question else str(hint)
        values = {
            **{k: "" if _blank(v) else v for k, v in sample.metadata.items()},
            "question": question,
            "options": options,
            "category": sample.category or "",
        }
        try:
            lines = []
            for line in self.prompt_template.split("\n"):
                text = line.format_map(values)
                if text.strip() or not line.strip():
                    lines.append(text)
            return "\n".join(lines).strip()
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
            generation=generation or self.generation,
            choices=sample.choices,
        )

    def score(self, prediction: str, sample: Sample, extraction: str | None = None) -> Score:
        """Score a prediction with the card's scorer (``extraction``: a judge's reading of it).

        A sample of a split without published answers gets no score, only a note.
        """
        if self.unlabelled:
            return Score({}, None, {"no_reference": "the split's answers are not published"})
        if extraction is None:
            return self.scorer(prediction, sample)
        if self.judged_scorer is None:
            raise UsageError(
                f"task '{self.name}': the scorer '{self.card.scorer}' asked for a judge (its "
                f"Score has a judge_prompt) but takes no extraction= argument to read the reply."
            )
        return self.judged_scorer(prediction, sample, extraction=extraction)


def _digest_with_hooks(card_digest: str, card: TaskCard, base: Path | None) -> str:
    """Fold the code of the card's ``file.py:function`` hooks into its digest.

    A custom scorer or loader decides results as much as the card does, so editing one starts a
    new run. (Hooks in installed modules change with the package version instead.)
    """
    import hashlib

    h = hashlib.sha256(card_digest.encode())
    read = False
    for ref in (card.source.loader, card.scorer):
        path = hook_file(ref or "", base)
        if path is not None and path.is_file():
            h.update(path.read_bytes())
            read = True
    return h.hexdigest()[:16] if read else card_digest


def _blank(value: Any) -> bool:
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
        while values and _blank(values[-1]):
            values.pop()
        if not values:
            if optional:
                return None
            raise KeyError(spec[0])
        for column, value in zip(spec, values, strict=False):
            if _blank(value):
                raise ValueError(f"option column '{column}' is empty before a later option")
        return [str(v) for v in values]
    if optional and _blank(row.get(spec)):
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
        if isinstance(spec, list) and _blank(row.get(col)):
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


def load_task(
    task: str,
    data: str | None = None,
    args: dict[str, Any] | None = None,
    prompt: str | None = None,
) -> Task:
    """Load a task by registered name or card path, optionally on a local copy of its data.

    Args:
        task: Registered name or card file.
        data: Local copy of the data (any layout the loader knows).
        args: Arguments of the card's custom loader.
        prompt: A prompt template replacing the card's.
    """
    return Task(find_card(task), data=data, args=args, prompt=prompt)


def list_tasks() -> list[TaskCard]:
    """All registered cards, by name."""
    return [read_card(p).card for _, p in sorted(discover().items())]
