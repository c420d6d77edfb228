"""The ``Task``: a card with its data, opened once, turned into samples, prompts and scores.

Opening the data (``ps3_eval.tasks.loading``) gives rows in a layout; the card's mapping for
that layout (``ps3_eval.tasks.fields``) turns rows into samples. Both are kept together as one
value, :class:`Opened`; the task's own settings never change when its data is opened.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ps3_eval.errors import DataError, UsageError
from ps3_eval.plugins import hook_file, load_hook
from ps3_eval.records import GenerationConfig, ImagePart, Message, Request, Sample, TextPart
from ps3_eval.scoring import JudgedScorer, Score, Scorer, get_scorer, judged, scorer_metrics
from ps3_eval.scoring.aggregate import aggregation_metrics, get_aggregation
from ps3_eval.tasks.card import RESERVED_ARGS, CardFile, PromptVariant, TaskCard
from ps3_eval.tasks.fields import BrokenSample, RowMapping, blank, check_answer
from ps3_eval.tasks.loading import Rows, open_rows


@dataclass(frozen=True)
class Opened:
    """A task's data as opened: its rows, and the mapping made for their layout."""

    rows: Rows
    mapping: RowMapping


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
        self.primary_metric = _primary_metric(self.card)
        """The metric reported when none is asked for: the card's, else its scorer's first
        (``None`` for a custom scorer that names no metric: the run's first by name)."""
        check_answer(self.card, self.card.fields, "fields.answer")
        self._opened: Opened | None = None

    def _variant(self, name: Any) -> PromptVariant | None:
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
            return self.variant.generation
        return self.card.generation

    @property
    def loader_args(self) -> dict[str, Any]:
        """The arguments a custom loader gets (``split`` and ``variant`` are every card's)."""
        return {k: v for k, v in self.args.items() if k not in RESERVED_ARGS}

    # ----------------------------------------------------------------------------- data

    def _base(self) -> Path:
        return self.card_path.parent if self.card_path else Path.cwd()

    def opened(self) -> Opened:
        """The data, opened on first use (rows and their mapping), checked against the card.

        Raises:
            UsageError: for a mapped column the data lacks, an answer column empty in every row,
                task arguments the loader does not take, or a prompt naming a field no sample
                can fill; all before any model call.
        """
        if self._opened is None:
            loader = None
            if self.card.source.loader and not self.data:
                loader = load_hook(self.card.source.loader, self._base(), "loader")
                self.check_args(loader)
            elif self.loader_args and not self.card.source.loader:
                raise UsageError(
                    f"task '{self.name}' takes no arguments but {', '.join(RESERVED_ARGS)} (it "
                    f"has no custom loader); got {', '.join(self.loader_args)}."
                )
            rows = open_rows(self.card, self.data, self._base(), loader, self.loader_args)
            mapping = RowMapping.for_layout(self.card, rows.layout, self.unlabelled)
            mapping.check_columns(rows)
            self._check_prompt(mapping)
            self._opened = Opened(rows, mapping)
        return self._opened

    def check_args(self, loader: Callable[..., Any] | None = None) -> None:
        """Refuse task arguments the card's loader does not take, naming the ones it does.

        Checked against the loader's signature, before any data is loaded or generated.
        """
        if not self.loader_args or not self.card.source.loader or self.data:
            return
        if loader is None:
            loader = load_hook(self.card.source.loader, self._base(), "loader")
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

    @property
    def mapping(self) -> RowMapping:
        """The column map of the opened data (the data is opened on first use)."""
        return self.opened().mapping

    @property
    def rows(self) -> Rows:
        """The opened rows (loaded on first use)."""
        return self.opened().rows

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def data_fingerprint(self) -> str:
        """Identity of the task's data, so changed data never resumes an old run."""
        return str(self.rows.fingerprint)

    @property
    def data_files(self) -> list[str]:
        """The local data files read for the card's split (empty for hub ids and loaders)."""
        return list(self.rows.files)

    def samples(self, limit: int | None = None) -> Iterator[Sample | BrokenSample]:
        """Stream samples in dataset order; unmappable rows come out as ``BrokenSample``."""
        opened = self.opened()
        yield from opened.mapping.samples(opened.rows, limit)

    def to_sample(self, row: dict[str, Any], index: int, base: Path) -> Sample | BrokenSample:
        """Map one dataset row to a ``Sample`` using the column map of the opened data."""
        return self.mapping.to_sample(row, index, base)

    # ----------------------------------------------------------------------------- prompts

    def _template_for(self, layout: str | None) -> str:
        """The template for data opened in ``layout`` (``None``: before it is known)."""
        if self.prompt_override:
            return self.prompt_override
        if self.variant is not None and self.variant.prompt is not None:
            return str(self.variant.prompt)
        tsv = self.card.vlmevalkit
        if tsv is not None and tsv.prompt is not None and layout == "vlmevalkit":
            return tsv.prompt
        return self.card.default_prompt

    @property
    def prompt_template(self) -> str:
        """The template in use: the override, the chosen variant's, or the card's.

        For a VLMEvalKit TSV, the card's ``vlmevalkit.prompt`` (when it has one) stands in for
        the card's own prompt; only then is the data opened to tell its layout.
        """
        template = self._template_for(None)
        tsv = self.card.vlmevalkit
        if template != self.card.default_prompt or tsv is None or tsv.prompt is None:
            return template
        return self._template_for(self.mapping.layout)

    def prompt_fields(self) -> set[str]:
        """The placeholders a prompt template can use with the column map in use."""
        return self.mapping.prompt_fields()

    def check_prompt(self) -> None:
        """Refuse, before any model call, a template naming a field no sample can fill.

        Raises:
            UsageError: naming the field, the template's source and the fields available.
        """
        self._check_prompt(self.mapping)

    def _check_prompt(self, mapping: RowMapping) -> None:
        template = self._template_for(mapping.layout)
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
        available = mapping.prompt_fields()
        unknown = sorted(n for n in named if n not in available)
        if not unknown:
            return
        if self.prompt_override is not None:
            source = "the prompt given for this run"
        elif mapping.layout == "vlmevalkit":
            source = "the card's prompt (for its VLMEvalKit TSV: set `vlmevalkit.prompt`)"
        else:
            source = "the card's prompt"
        valid = ", ".join("{" + n + "}" for n in sorted(available))
        layout = "VLMEvalKit TSV" if mapping.layout == "vlmevalkit" else "data"
        raise UsageError(
            f"task '{self.name}': {source} uses {{{unknown[0]}}}, which the {layout} cannot fill; "
            f"it can use {valid} (add columns to `fields.keep`)."
        )

    def prompt_text(self, sample: Sample) -> str:
        """Apply the prompt template.

        A template line whose placeholders are all empty for this sample (no options on an open
        question, no hint) is left out rather than sent as a blank line. A hint goes on a line
        of its own before the question, unless the template places ``{hint}`` itself.
        """
        template = self.prompt_template
        letters = string.ascii_uppercase
        options = "\n".join(f"{letters[i]}. {c}" for i, c in enumerate(sample.choices or []))
        question = sample.question
        hint = sample.metadata.get("hint")
        if hint and "{hint}" not in template:
            question = f"{hint}\n{question}" if question else str(hint)
        values = {
            **{k: "" if blank(v) else v for k, v in sample.metadata.items()},
            "question": question,
            "options": options,
            "category": sample.category or "",
        }
        try:
            lines = []
            for line in template.split("\n"):
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
        self,
        sample: Sample,
        images: list[ImagePart],
        generation: GenerationConfig | None = None,
    ) -> Request:
        """One user message with the images first, then the prompt text.

        Args:
            sample: The sample asked.
            images: Its images, prepared for the model.
            generation: Decoding settings replacing the task's.

        The request's text is the sample's :meth:`prompt_text`; the runner records it from the
        request, so it is built once per sample.
        """
        text = self.prompt_text(sample)
        messages = []
        if self.card.system:
            messages.append(Message(role="system", content=[TextPart(text=self.card.system)]))
        content: list[TextPart | ImagePart] = [*images, TextPart(text=text)]
        messages.append(Message(role="user", content=content))
        return Request(
            sample_id=sample.id,
            messages=messages,
            generation=generation or self.generation,
            choices=sample.choices,
        )

    # ----------------------------------------------------------------------------- scoring

    def score(self, prediction: str, sample: Sample, extraction: str | None = None) -> Score:
        """Score a prediction with the card's scorer (``extraction``: a judge's reading of it).

        A sample of a split without published answers gets no score, only a note.

        Raises:
            UsageError: when a judge's reply is given to a scorer that takes none.
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


def _primary_metric(card: TaskCard) -> str | None:
    """The card's ``primary_metric``, checked against what its scorer and aggregation make.

    Raises:
        UsageError: for a name the built-in scorer and aggregation do not produce.
    """
    scored = scorer_metrics(card.scorer)
    if card.primary_metric is None:
        return scored[0] if scored else None
    made = (*scored, *aggregation_metrics(card.aggregation))
    if scored and card.primary_metric not in made:
        raise UsageError(
            f"task '{card.name}': primary_metric '{card.primary_metric}' is not a metric of the "
            f"scorer '{card.scorer}' (aggregation '{card.aggregation}'); it makes "
            f"{', '.join(made)}."
        )
    return card.primary_metric


def _digest_with_hooks(card_digest: str, card: TaskCard, base: Path | None) -> str:
    """Fold the code of the card's ``file.py:function`` hooks into its digest.

    A custom scorer or loader decides results as much as the card does, so editing one starts a
    new run. (Hooks in installed modules change with the package version instead.)
    """
    h = hashlib.sha256(card_digest.encode())
    read = False
    for ref in (card.source.loader, card.scorer):
        path = hook_file(ref or "", base)
        if path is not None and path.is_file():
            h.update(path.read_bytes())
            read = True
    return h.hexdigest()[:16] if read else card_digest
