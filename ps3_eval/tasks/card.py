"""Task cards: one YAML file per benchmark, validated into ``TaskCard``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ps3_eval.errors import UsageError
from ps3_eval.paths import card_dirs
from ps3_eval.records import GenerationConfig

DEFAULT_MC_PROMPT = (
    "{question}\n{options}\nAnswer with the option's letter from the given choices directly."
)
"""The paper's model family's multiple-choice prompt (VILA, LLaVA): options, then the ask."""
DEFAULT_SHORT_PROMPT = "{question}\nAnswer the question using a single word or phrase."
"""The same family's short-answer prompt."""


class _Card(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceSpec(_Card):
    """Where the data comes from: exactly one of ``hf``, ``path``, ``loader`` or ``local``.

    ``local`` marks data without a public source; ``--data`` is then required.
    """

    hf: str | None = None
    """Hugging Face dataset id, loaded with ``datasets.load_dataset``."""
    config: str | None = None
    """Dataset configuration (subset) name."""
    split: str = "test"
    """Split to evaluate."""
    path: str | None = None
    """Local copy: parquet / jsonl / csv file or folder, or a ``save_to_disk`` folder (relative
    paths are resolved against the card's folder)."""
    loader: str | None = None
    """Custom loader ``module:function`` or ``file.py:function`` returning rows (dicts)."""
    args: dict[str, Any] = Field(default_factory=dict)
    """Default keyword arguments of the loader (override with ``--task-arg``)."""
    local: str | None = None
    """For data without a public source: what ``--data`` must hold, said to a user who omits it."""
    unlabelled: list[str] = Field(default_factory=list)
    """Splits whose answers are not published (a benchmark server scores a submission): run
    them with ``--task-arg split=NAME``; their samples are answered, not scored."""

    @model_validator(mode="after")
    def _one_source(self) -> SourceSpec:
        given = [k for k in ("hf", "path", "loader", "local") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                f"source needs exactly one of hf, path, loader or local (got {given or 'none'})"
            )
        return self


class FieldMap(_Card):
    """Dataset column -> canonical ``Sample`` field; ``None`` means there is no such column."""

    id: str | None = None
    """Column with a unique id; when unset the row index is used."""
    image: str | list[str] | None = "image"
    """Image column(s): an ``Image`` feature, a path relative to the data, bytes, or a list."""
    question: str | None = "question"
    """Question column; ``None`` when the question is inside the image (MMMU-Pro vision)."""
    hint: str | None = None
    """Column of context put before the question when it is not empty (MMBench's hint)."""
    choices_in_question: bool = False
    """The options are written in the question text (``(A) red`` or ``A. red`` lines): they are
    parsed out, the question keeps the text before them, and the text after them is kept as
    ``instruction`` in the metadata (V*Bench, RealWorldQA)."""
    choices: str | list[str] | None = None
    """One column holding a list of options, or several columns, one option each (A, B, ...)."""
    answer: str | None = "answer"
    """Column with the answer."""
    answer_format: Literal["letter", "index", "text"] = "letter"
    """How the answer column states the right option for multiple choice."""
    category: str | None = None
    """Column used for per-category breakdowns."""
    mrr: str | None = None
    """Column with the minimum recognizable resolution bucket."""
    bbox: str | None = None
    """Column with the detail's box ``[x0, y0, x1, y1]``."""
    keep: list[str] = Field(default_factory=list)
    """Other columns copied into ``Sample.metadata`` (and usable in the prompt template)."""
    group: str | None = None
    """Column whose value groups rows that are one question asked several ways (``circular``)."""
    group_modulo: int | None = None
    """Group by the column's integer value modulo this (MMBench: rotations are index + k*10^6)."""
    optional_choices: bool = False
    """Rows whose choices column is empty are open questions (MathVista mixes both)."""
    optional: list[str] = Field(default_factory=list)
    """Mapped columns a copy of the data may lack (4KPro's bbox and mrr); any other missing
    column stops the run before the first model call."""
    images_named_in_question: bool = False
    """With several image columns (``image_1``..``image_7``), send only those the question names
    as ``<image N>`` markers, in the order of N (MMMU-Pro, as lmms-eval sends them)."""

    def columns(self) -> list[str]:
        """Every dataset column this map reads."""
        out: list[str] = []
        for value in (self.id, self.image, self.question, self.choices, self.answer):
            if isinstance(value, list):
                out.extend(value)
            elif value:
                out.append(value)
        for value in (self.category, self.mrr, self.bbox, self.hint, self.group):
            if value:
                out.append(value)
        return out + list(self.keep)


class VlmEvalKitLayout(_Card):
    """How the card reads VLMEvalKit's TSV of the same benchmark."""

    tsv: str
    """The TSV's file name as VLMEvalKit downloads it, e.g. ``MMBench_DEV_EN.tsv``."""
    fields: dict[str, Any] = Field(default_factory=dict)
    """``fields`` entries that differ for the TSV's columns (the rest are the card's)."""
    prompt: str | None = None
    """The template for the TSV, where the card's names a field the TSV cannot fill (the card's
    template is used otherwise)."""


class PromptVariant(_Card):
    """Another way a harness asks the same benchmark: its prompt and generation settings."""

    description: str
    """Whose prompt it is and where it comes from."""
    prompt: str | None = None
    """The template (as the card's ``prompt``); unset keeps the card's."""
    generation: GenerationConfig | None = None
    """Decoding settings; unset keeps the card's."""


RESERVED_ARGS = ("split", "variant")
"""Task arguments every card takes: ``split`` (another split of its dataset) and ``variant`` (a
named prompt variant); a custom loader never sees them."""


class TaskCard(_Card):
    """A benchmark, declared as data."""

    name: str
    """Registered name, used by ``--task``."""
    version: str = "1"
    """Bump when the data, prompt or scoring changes; part of the run identity."""
    description: str = ""
    """One line for ``ps3-eval tasks``."""
    paper: str | None = None
    """Where the benchmark appears in the paper, e.g. "Table 1"."""
    source: SourceSpec
    fields: FieldMap = Field(default_factory=FieldMap)
    vlmevalkit: VlmEvalKitLayout | None = None
    """The VLMEvalKit TSV layout, where VLMEvalKit publishes one."""
    prompt: str | None = None
    """Template with ``{question}``, ``{options}`` (lettered lines) and any kept column. Unset: the
    multiple-choice default for cards with choices, the short-answer default otherwise."""
    system: str | None = None
    """Optional system message."""
    harness: str | None = None
    """Where the default prompt and token limit come from (the harness of the paper's numbers)."""
    variants: dict[str, PromptVariant] = Field(default_factory=dict)
    """Named prompt variants (``--task-arg variant=NAME``), e.g. the other model family's."""
    submission: Literal["xlsx"] | None = None
    """A run can be written in the benchmark server's submission format
    (``ps3-eval export submission RUN_DIR``): ``xlsx``, MMBench's."""
    scorer: str = "multiple_choice"
    """Registered scorer name, or ``module:function`` / ``file.py:function`` for a custom one."""
    aggregation: str = "mean"
    """How sample scores become metrics: ``mean``, ``ocrbench`` (totals), ``circular``."""
    primary_metric: str | None = None
    """The metric tables, figures, comparisons, sweeps and MRR studies use when none is asked
    for. Unset: the scorer's first (``register_scorer(metrics=...)``); for a custom scorer that
    names none, the run's first metric by name."""

    @property
    def default_prompt(self) -> str:
        """The card's template, or the family default for its kind of question."""
        if self.prompt is not None:
            return self.prompt
        mc = self.fields.choices or self.fields.choices_in_question
        return DEFAULT_MC_PROMPT if mc else DEFAULT_SHORT_PROMPT

    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    """Decoding settings for this task."""


class CardFile(BaseModel):
    """A card with the file it came from."""

    card: TaskCard
    path: Path | None
    digest: str


def read_card(path: Path) -> CardFile:
    """Parse and validate one card file."""
    from ps3_eval.yamlfile import read_mapping, validate

    raw, data = read_mapping(path, "task card")
    card = validate(TaskCard, data, path, "task card")
    return CardFile(card=card, path=path, digest=hashlib.sha256(raw).hexdigest()[:16])


def discover() -> dict[str, Path]:
    """Registered task names -> card files (first folder wins)."""
    found: dict[str, Path] = {}
    for folder in card_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.y*ml")):
            try:
                name = yaml.safe_load(path.read_text()).get("name") or path.stem
            except (yaml.YAMLError, AttributeError, OSError):
                name = path.stem
            found.setdefault(str(name), path)
    return found


def find_card(task: str) -> CardFile:
    """Resolve ``--task``: a registered name or the path of a card file."""
    as_path = Path(task)
    if task.endswith((".yaml", ".yml")) or as_path.is_file():
        if not as_path.is_file():
            raise UsageError(f"task card file {task} does not exist.")
        return read_card(as_path)
    cards = discover()
    if task not in cards:
        import difflib

        close = difflib.get_close_matches(task, cards, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        valid = ", ".join(sorted(cards)) or "(none found)"
        raise UsageError(
            f"unknown task '{task}'.{hint} Valid tasks: {valid} (or pass a card file path)."
        )
    return read_card(cards[task])
