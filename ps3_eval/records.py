"""Typed, versioned records that flow through a run.

``Sample`` (from a task) -> ``Request`` (sent to a model) -> ``ModelOutput`` (what came back)
-> ``SampleResult`` (scored, one line of ``samples.jsonl``). ``RunSpec`` says what was run and
``RunSummary`` holds the aggregates. Every record carries ``SCHEMA_VERSION`` on disk so readers can
refuse or migrate files written by another version.

The module is longer than the others on purpose: the records share one schema version, so they
are kept where one read shows every field a run folder can hold.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 3
"""Version of the on-disk layout of ``spec.json``, ``samples.jsonl`` and ``summary.json``.

2 made sample results self-contained (question, choices, prompt, image references, box), split
latency into answered and failed calls, named each interval's method and recorded every session.
3 added grouped questions (``group``), scorer notes (``unparsed``), judge calls with their own
tokens, and the run's aggregation, prompt override and judge; later the card's primary metric.
Files of versions 1 and 2 still read: the new fields have defaults.
"""


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


# --------------------------------------------------------------------------- samples


class ImageSource(_Record):
    """Where a sample's image comes from; decoded lazily, off the event loop."""

    path: str | None = None
    """Local file path, absolute or already resolved against the dataset's folder."""
    data: bytes | None = Field(default=None, exclude=True, repr=False)
    """Encoded image bytes (e.g. from a parquet ``image`` column); never written to disk records."""

    def describe(self) -> str:
        """Short human-readable name used in error messages."""
        return self.path if self.path else f"<{len(self.data or b'')} bytes>"


class Sample(_Record):
    """One benchmark item, in the toolkit's canonical field names."""

    id: str
    """Stable identifier, unique within the task; the key for resuming and joining."""
    images: list[ImageSource] = Field(default_factory=list)
    """Images in the order the prompt refers to them; empty for text-only items."""
    question: str
    """The question text, before the prompt template is applied."""
    choices: list[str] | None = None
    """Option texts for multiple-choice items (letters are assigned A, B, C, ... in order)."""
    targets: list[str] = Field(default_factory=list)
    """Accepted answers. For multiple choice, the correct letter (e.g. ``["B"]``)."""
    category: str | None = None
    """Breakdown key, e.g. 4KPro's ``autonomous_vehicle`` / ``household`` / ``gaming`` / ``ui``."""
    mrr: str | None = None
    """Minimum recognizable resolution bucket (``1K``, ``2K``, ``4K``) when known."""
    bbox: list[float] | None = None
    """Box ``[x0, y0, x1, y1]`` of the detail the question is about, in original image pixels."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Anything else the task keeps (unmapped columns the card asked for, generator facts)."""
    group: str | None = None
    """Items that are one question asked several ways share a group (MMBench's rotations of the
    options); a grouped aggregation such as ``circular`` scores each group as one question."""


# --------------------------------------------------------------------------- requests


class TextPart(_Record):
    """A text segment of a chat message."""

    type: Literal["text"] = "text"
    text: str
    """The text."""


class ImagePart(_Record):
    """An image segment of a chat message, already decoded to RGB."""

    type: Literal["image"] = "image"
    image: Any = Field(default=None, exclude=True, repr=False)
    """The decoded ``PIL.Image.Image`` (RGB, EXIF orientation applied); not serialised. ``None``
    for backends that take encoded images (``Backend.decodes_pixels`` false): see ``data``."""
    data: bytes | None = Field(default=None, exclude=True, repr=False)
    """The source's encoded bytes, for backends that send images on as files; not serialised."""
    format: str | None = Field(default=None, exclude=True)
    """The source's encoding (Pillow format name), when known (not part of the request digest:
    ``digest`` already names the bytes)."""
    orientation: int = Field(default=1, exclude=True)
    """The source's EXIF orientation tag (1: stored upright)."""
    width: int
    """Width in pixels of the decoded image."""
    height: int
    """Height in pixels of the decoded image."""
    digest: str
    """Content hash of the encoded source, used to key the response cache."""
    source: str | None = None
    """Where the image came from, for error messages and reports."""
    source_size: tuple[int, int] | None = Field(default=None, exclude=True)
    """``(width, height)`` of the source as stored, when the run shows it smaller (the run's
    ``image_side``); ``None`` when ``width`` and ``height`` are the source's own."""


class Message(_Record):
    """One chat turn."""

    role: Literal["system", "user", "assistant"] = "user"
    content: list[TextPart | ImagePart]
    """Ordered text and image parts."""


class GenerationConfig(_Record):
    """Decoding settings passed to every backend."""

    max_tokens: int = 64
    """Upper bound on generated tokens."""
    temperature: float = 0.0
    """Sampling temperature; 0 means greedy."""
    top_p: float | None = None
    """Nucleus sampling mass, when the backend supports it."""
    seed: int | None = None
    """Sampling seed, when the backend supports it."""
    stop: list[str] = Field(default_factory=list)
    """Stop sequences."""


class Request(_Record):
    """What a model is asked: chat messages plus generation settings."""

    sample_id: str
    """The sample this request answers."""
    messages: list[Message]
    """The conversation; the last message is the user's question."""
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    """Decoding settings."""
    choices: list[str] | None = None
    """The structured options, for backends that pick an option instead of writing free text."""
    oracle: list[str] | None = Field(default=None, exclude=True, repr=False)
    """The sample's targets. Filled in only for test doubles, so real backends never see answers."""

    @property
    def images(self) -> list[ImagePart]:
        """All image parts, in order."""
        return [p for m in self.messages for p in m.content if isinstance(p, ImagePart)]

    @property
    def text(self) -> str:
        """All text of the user turns joined by newlines."""
        return "\n".join(
            p.text
            for m in self.messages
            if m.role == "user"
            for p in m.content
            if isinstance(p, TextPart)
        )

    def digest(self) -> str:
        """Stable hash of everything that can change a model's answer."""
        h = hashlib.sha256()
        h.update(self.model_dump_json(exclude={"sample_id"}).encode())
        return h.hexdigest()


# --------------------------------------------------------------------------- outputs


class Usage(_Record):
    """Token counts of one call; add two with ``+``."""

    input_tokens: int = 0
    """Prompt tokens in total, visual tokens included."""
    visual_tokens: int | None = 0
    """Tokens (or 14x14 patches, for encoders) spent on images; ``None`` when unknown (a served
    model whose processor's rule the toolkit cannot know, and whose response does not say)."""
    output_tokens: int = 0
    """Generated tokens."""
    estimated: bool = False
    """True when any count was estimated rather than reported by the backend."""

    def __add__(self, other: Usage) -> Usage:
        visual = (
            None
            if self.visual_tokens is None or other.visual_tokens is None
            else self.visual_tokens + other.visual_tokens
        )
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            visual_tokens=visual,
            output_tokens=self.output_tokens + other.output_tokens,
            estimated=self.estimated or other.estimated,
        )


class Timing(_Record):
    """Wall-clock timing of one call, in seconds."""

    latency: float = 0.0
    """From sending the request to having the whole answer."""
    vision_encoder: float | None = None
    """Time in the vision encoder, where the backend can tell."""
    llm: float | None = None
    """Time in the language model, where the backend can tell."""
    ttft: float | None = None
    """Time to first token, for streaming backends."""
    stages: dict[str, float] = Field(default_factory=dict)
    """Other named stages, e.g. ``selection`` and ``recognition`` for the OCR reader."""
    batch_size: int | None = None
    """Requests answered together in one batch, for batching backends. Above 1, ``latency`` and
    the stages are this request's share of the batch (its wall time divided by its size)."""
    batch_latency: float | None = None
    """Wall-clock seconds of the whole batch this request ran in."""


class Selection(_Record):
    """Facts about high-resolution patch selection, for backends that select patches.

    The backend reports which patches it chose; the runner, which knows the sample's box, fills in
    ``recall``. Models never see the ground truth.
    """

    mode: str
    """``full``, ``bottom_up`` or ``top_down``."""
    selected_patches: int
    """High-resolution patches processed."""
    total_patches: int
    """Patches in the full high-resolution grid."""
    grid: tuple[int, int] | None = None
    """``(rows, cols)`` of the high-resolution patch grid."""
    patch_px: float | None = None
    """Side of one grid patch in original-image pixels (its width, when ``patch_px_y`` is set)."""
    patch_px_y: float | None = None
    """Height of one grid patch in original-image pixels, for models that squash an image into a
    square grid (PS3); ``None`` when patches are square."""
    mask_runs: list[int] | None = None
    """Row-major run lengths of the selection mask, starting with a run of unselected patches."""
    recall: float | None = None
    """Share of the ground-truth box's patches that were selected (the paper's Table 7 recall)."""

    @staticmethod
    def encode_mask(mask: Any) -> list[int]:
        """Run-length encode a boolean 2-D array (row-major, first run unselected)."""
        import numpy as np

        flat = np.asarray(mask, dtype=bool).ravel()
        if flat.size == 0:
            return []
        edges = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
        bounds = np.concatenate([[0], edges, [flat.size]])
        runs = np.diff(bounds).tolist()
        return [0, *runs] if flat[0] else runs

    def mask(self) -> Any:
        """The selection mask as a boolean ``numpy`` array, or ``None`` when not reported."""
        import numpy as np

        if self.grid is None or self.mask_runs is None:
            return None
        flat = np.zeros(self.grid[0] * self.grid[1], dtype=bool)
        pos, value = 0, False
        for run in self.mask_runs:
            flat[pos : pos + run] = value
            pos, value = pos + run, not value
        return flat.reshape(self.grid)

    def recall_of(self, box: list[float] | tuple[float, ...]) -> float | None:
        """Share of the patches under ``box`` (original pixels) that were selected."""
        if self.mode == "full":
            return 1.0
        mask = self.mask()
        if mask is None or not self.patch_px:
            return None
        rows, cols = mask.shape
        px, py = self.patch_px, self.patch_px_y or self.patch_px
        x0, x1 = float(box[0]) / px, float(box[2]) / px
        y0, y1 = float(box[1]) / py, float(box[3]) / py
        c0, r0 = max(0, int(x0)), max(0, int(y0))
        c1, r1 = min(cols, max(c0 + 1, math.ceil(x1))), min(rows, max(r0 + 1, math.ceil(y1)))
        if c0 >= cols or r0 >= rows:
            return 0.0
        return float(mask[r0:r1, c0:c1].mean())


class SentImage(_Record):
    """One image as an API backend sent it, and what the provider's published rule says it saw."""

    source_index: int = 0
    """Which of the request's images this comes from."""
    crop: tuple[int, int, int, int] | None = None
    """``(x0, y0, x1, y1)`` of the original image this part shows; ``None`` for the whole image."""
    sent: tuple[int, int]
    """``(width, height)`` of the encoded image in the request."""
    bytes: int
    """Size of the encoded image in the request."""
    format: str
    """``JPEG``, ``PNG`` or ``WEBP``."""
    passthrough: bool = False
    """True when the source file's own bytes were sent (no decode, no re-encode)."""
    seen: tuple[int, int]
    """``(width, height)`` the model saw, by the provider's published resize rule."""
    tokens: int | None = None
    """Image tokens by the provider's published rule (an estimate)."""


class ModelOutput(_Record):
    """What a backend returned for one request."""

    text: str = ""
    """The generated text as the backend returned it: reasoning blocks and white space kept (the
    sample's ``prediction`` is what was scored of it)."""
    usage: Usage = Field(default_factory=Usage)
    """Token counts."""
    timing: Timing = Field(default_factory=Timing)
    """Latency and stages."""
    image_sizes: list[tuple[int, int]] = Field(default_factory=list)
    """``(width, height)`` of each image as actually sent to or processed by the model."""
    selection: Selection | None = None
    """Patch-selection facts, when the backend selects patches."""
    error: str | None = None
    """Set when the call failed; such an output is never scored and never cached."""
    cached: bool = False
    """True when the output was replayed from the response cache."""
    sent_images: list[SentImage] = Field(default_factory=list)
    """API backends: each image part as sent, with the resolution the provider saw."""
    finish_reason: str | None = None
    """Why generation stopped, as the provider says it (``stop``, ``length``, ``refusal``, ...)."""
    cost: float | None = None
    """Price of the call in USD by the run's price table; ``None`` when the model has no price."""
    attempts: int = 1
    """Calls made for this answer (retries included)."""
    extra: dict[str, Any] = Field(default_factory=dict)
    """Backend-specific facts worth keeping (e.g. the option an OCR reader matched)."""


class ImageRef(_Record):
    """A sample's image by reference and content hash, never its pixels."""

    path: str | None = None
    """Local file the image was read from; ``None`` when it came as bytes from a dataset row."""
    digest: str | None = None
    """BLAKE2b-128 of the encoded bytes (the same hash that keys the response cache)."""
    width: int | None = None
    """Width of the decoded image in pixels (``None`` when it could not be decoded)."""
    height: int | None = None
    """Height of the decoded image in pixels."""


ErrorKind = Literal["model", "timeout", "image", "data", "scorer"]
"""Where a sample failed: the model call, the call's time limit, decoding an image, mapping the
dataset row, or the scorer."""


class JudgeCall(_Record):
    """A judge model's extraction of an answer, recorded apart from the evaluated model's call."""

    model: str
    """The judge's registered backend name."""
    fingerprint: str
    """The judge backend's fingerprint (the cache key of its calls)."""
    prompt: str
    """What the judge was asked."""
    text: str = ""
    """What it answered."""
    usage: Usage = Field(default_factory=Usage)
    """The judge's own tokens (never added to the evaluated model's)."""
    latency: float = 0.0
    """Seconds the judge call took (0 for a cache replay)."""
    cached: bool = False
    """True when the answer was replayed from the cache."""
    error: str | None = None
    """Why the judge gave no answer; the rule-based result stands."""


class SampleResult(_Record):
    """One scored (or failed) sample; one line of ``samples.jsonl``.

    A result is self-contained: with the question, options, prompt, image references and box it
    can be shown, compared, re-scored or screened from the run directory alone.
    """

    schema_version: int = SCHEMA_VERSION
    sample_id: str
    """The sample's id."""
    category: str | None = None
    """Copied from the sample for breakdowns."""
    mrr: str | None = None
    """Copied from the sample for breakdowns."""
    targets: list[str] = Field(default_factory=list)
    """Copied from the sample so a run can be re-scored or inspected alone."""
    question: str | None = None
    """The sample's question, before the prompt template."""
    choices: list[str] | None = None
    """The option texts of a multiple-choice item (letters A, B, ... in order)."""
    prompt: str | None = None
    """The text the model was sent (the card's template applied)."""
    images: list[ImageRef] = Field(default_factory=list)
    """The sample's images by path and content hash."""
    bbox: list[float] | None = None
    """Box ``[x0, y0, x1, y1]`` of the detail asked about, in original image pixels."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """The sample's kept columns (JSON values; anything else stored as its ``str``)."""
    prediction: str = ""
    """The answer as scored: ``output.text`` (the model's raw text) with reasoning blocks removed
    and white space trimmed, by :func:`ps3_eval.scoring.answer_text`. Results written by earlier
    releases may hold the raw text here; re-scoring always starts from ``output.text``."""
    extracted: str | None = None
    """The answer the scorer extracted (e.g. the option letter), ``None`` when none was found."""
    scores: dict[str, float] = Field(default_factory=dict)
    """Metric name -> value for this sample; empty for errors."""
    notes: dict[str, str] = Field(default_factory=dict)
    """Scorer flags, e.g. ``unparsed`` (no answer could be read: scored wrong, never guessed)."""
    group: str | None = None
    """Copied from the sample: the question this item is a variant of (see ``Sample.group``)."""
    judge: JudgeCall | None = None
    """The judge call that extracted the answer, when the rules alone could not."""
    output: ModelOutput
    """The full model output, timing and usage included."""
    error: str | None = None
    """Why this sample has no score (model call, image decoding, data or scorer error)."""
    error_kind: ErrorKind | None = None
    """Which stage failed, when ``error`` is set."""
    session: int | None = None
    """Index into ``RunSpec.sessions`` of the invocation that recorded this result."""
    started_at: datetime
    """When work on the sample started."""
    finished_at: datetime
    """When the result was recorded."""

    @property
    def ok(self) -> bool:
        """True when the sample was scored."""
        return self.error is None


# --------------------------------------------------------------------------- runs


class Session(_Record):
    """One invocation that worked on a run (the first one created it; resumes add more)."""

    started_at: datetime = Field(default_factory=utcnow)
    """When the invocation started."""
    finished_at: datetime | None = None
    """When it ended; ``None`` when it was killed before it could say so."""
    package_version: str = ""
    """ps3-eval version of the invocation."""
    code_revision: str | None = None
    """Git revision of the checkout it ran from (``+dirty`` when modified), if any."""
    model_fingerprint: str = ""
    """Fingerprint of the live backend (name, version, arguments)."""
    n_recorded: int = 0
    """Results it recorded, errors included (counted again from ``samples.jsonl`` on resume)."""


class RunSpec(_Record):
    """What was run. Two runs with the same identity fields share a run directory."""

    schema_version: int = SCHEMA_VERSION
    task: str
    """Task name from its card."""
    task_version: str
    """The card's ``version``."""
    card_digest: str
    """Hash of the card file, so an edited card starts a new run."""
    card_path: str | None = None
    """Where the card was read from (not part of the identity)."""
    data: str | None = None
    """The ``--data`` override, if any."""
    data_fingerprint: str | None = None
    """Identity of the rows that were loaded (changes when the data files change)."""
    data_files: list[str] = Field(default_factory=list)
    """The data files read for the card's split (local copies), for the record."""
    task_args: dict[str, Any] = Field(default_factory=dict)
    """Arguments passed to the task's loader."""
    model: str
    """Registered backend name."""
    model_args: dict[str, Any] = Field(default_factory=dict)
    """Validated backend arguments."""
    model_fingerprint: str
    """Identity of the backend's code and arguments (name, version, arguments); part of the run
    identity, and the key of the response cache."""
    limit: int | None = None
    """Only the first ``limit`` samples."""
    seed: int = 0
    """Seed for sampling and bootstrap."""
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    """Decoding settings."""
    aggregation: str = "mean"
    """How sample scores become the run's metrics (the card's ``aggregation``)."""
    primary_metric: str | None = None
    """The card's primary metric (not part of the identity; ``None`` in runs recorded before it
    was, and for custom scorers that name no metric): read it through :func:`primary_metric`."""
    prompt: str | None = None
    """The prompt template, when it is not the card's own (``--prompt-file``, a model's prompt)."""
    judge: str | None = None
    """Fingerprint of the judge that reads answers the rules cannot; ``None``: rules only."""
    judge_model: str | None = None
    """The judge's registered backend name (rebuilt from it and ``judge_args`` on resume)."""
    judge_args: dict[str, Any] = Field(default_factory=dict)
    """The judge's validated backend arguments."""
    package_version: str = ""
    """ps3-eval version that created the run (later invocations are in ``sessions``)."""
    code_revision: str | None = None
    """Git revision of the checkout that created the run (later invocations are in ``sessions``)."""
    created_at: datetime = Field(default_factory=utcnow)
    """When the run directory was created."""
    sessions: list[Session] = Field(default_factory=list)
    """Every invocation that worked on the run, in order; results name theirs by index."""
    shard: str | None = None
    """``k/n`` in a shard's own folder (the run's identity leaves it out: see runner.shards)."""
    image_side: int | None = None
    """Each image shown to the model at most this many pixels on its long side, downsampled from
    the original (Lanczos, aspect kept; smaller images as stored). ``None``: as stored. The rungs
    of a resolution ladder (MRR studies, answerability checks) are runs that differ in it."""
    no_image: bool | None = None
    """``True``: the model gets the prompt without the sample's images (is the question answerable
    without looking?). ``None`` otherwise."""
    operational: list[str] = Field(default_factory=list)
    """The backend's operational arguments (timeouts, rate limits, batch size): recorded in
    ``model_args`` but left out of the identity, so changing them continues the same run."""

    def identity(self) -> str:
        """Hash of the fields that decide results (not timing, versions, dates or sessions)."""
        keys = {
            "task",
            "task_version",
            "card_digest",
            "data",
            "data_fingerprint",
            "task_args",
            "model",
            "model_args",
            "model_fingerprint",
            "limit",
            "seed",
            "generation",
        }
        spec = self
        if self.operational:  # only set since operational arguments exist: old ids are kept
            args = {k: v for k, v in self.model_args.items() if k not in self.operational}
            spec = self.model_copy(update={"model_args": args})
        blob = spec.model_dump_json(include=keys)
        # Added later: part of the identity only when set, so runs made before keep theirs.
        extra = self.model_dump_json(
            include={"prompt", "judge", "image_side", "no_image"}, exclude_none=True
        )
        if extra != "{}":
            blob += extra
        return hashlib.sha256(blob.encode()).hexdigest()[:10]


def primary_metric(names: Iterable[str], declared: str | None = None) -> str | None:
    """The primary metric among ``names`` (a run's metrics, or one sample's scores).

    ``declared`` (the card's, :attr:`RunSpec.primary_metric`) when it is among them; else the
    first name: runs recorded before cards named one, custom scorers that name none, and a
    sample's scores where the declared metric is the aggregation's (``circular_accuracy``).
    ``None`` when there is no metric yet.
    """
    listed = list(names)
    if declared is not None and declared in listed:
        return declared
    return listed[0] if listed else None


IntervalMethod = Literal["wilson", "bootstrap", "none"]
"""How an interval was computed: Wilson score (metrics whose values are all 0 or 1), percentile
bootstrap (other metrics), or none (a single value)."""


class MetricValue(_Record):
    """A mean with its 95% confidence interval and the number of samples behind it."""

    mean: float
    ci_low: float
    ci_high: float
    n: int
    """Samples behind the mean."""
    method: IntervalMethod = "bootstrap"
    """How the interval was computed."""


class LatencyStats(_Record):
    """Latency of model calls that really ran (cache replays excluded), in seconds."""

    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    max: float | None = None
    n: int = 0
    """Calls behind the statistics."""


class TokenStats(_Record):
    """Mean tokens per scored sample."""

    input: float = 0.0
    visual: float = 0.0
    """Mean over the samples whose image tokens are known (0 when none is)."""
    output: float = 0.0
    estimated: bool = False
    """True when any sample's counts were estimated."""


class CostStats(_Record):
    """What the model calls cost, by the price table the backend used."""

    total: float = 0.0
    """USD over every call that answered in the run (scored or not), replays excluded."""
    per_sample: float = 0.0
    """Mean USD per answered call."""
    n_priced: int = 0
    """Calls with a price."""
    n_unpriced: int = 0
    """Answered calls whose model has no price in the table."""
    prices: str | None = None
    """The price table used (its name and date)."""


class RunSummary(_Record):
    """Aggregates of a run, written to ``summary.json``."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    spec: RunSpec
    n_total: int
    """Samples the run is meant to cover."""
    n: int
    """Samples scored."""
    n_errors: int
    """Samples that failed (model call, image or data error); excluded from metrics."""
    complete: bool
    """True when every sample is scored."""
    metrics: dict[str, MetricValue] = Field(default_factory=dict)
    """Metric name -> mean with 95% CI over scored samples."""
    by_category: dict[str, dict[str, MetricValue]] = Field(default_factory=dict)
    """Category -> metric -> value."""
    by_mrr: dict[str, dict[str, MetricValue]] = Field(default_factory=dict)
    """MRR bucket -> metric -> value."""
    latency: LatencyStats = Field(default_factory=LatencyStats)
    """Calls that returned an answer (scored, or answered but failed by the scorer)."""
    latency_failed: LatencyStats = Field(default_factory=LatencyStats)
    """Calls that failed or timed out, timed until they failed (a timeout counts its limit)."""
    tokens: TokenStats = Field(default_factory=TokenStats)
    wall_time_s: float = 0.0
    """Wall-clock seconds of the last session that ran samples."""
    throughput: float | None = None
    """Samples recorded per second in that session, failures included."""
    answered_throughput: float | None = None
    """Samples scored per second in that session."""
    code_revisions: list[str] = Field(default_factory=list)
    """Distinct code revisions of the sessions whose results are in the run (more than one means
    the results come from different code)."""
    errors: dict[str, int] = Field(default_factory=dict)
    """Error message (first line, truncated) -> count."""
    extraction: str = "rule-based extraction only"
    """How answers were read: by rules only, or by rules with a judge model for the rest."""
    n_unparsed: int = 0
    """Scored samples whose answer could not be read (scored wrong, flagged ``unparsed``)."""
    judge_tokens: TokenStats = Field(default_factory=TokenStats)
    """Mean tokens per judge call (kept apart from the evaluated model's ``tokens``)."""
    n_judged: int = 0
    """Samples whose answer a judge extracted."""
    cost: CostStats = Field(default_factory=CostStats)
    """Price of the model's calls (API backends with a known price)."""
    stage_means: dict[str, float] = Field(default_factory=dict)
    """Mean seconds of ``vision_encoder``, ``llm`` and ``ttft`` over the calls that answered,
    for the backends that time them (the ViT and LLM latency of the paper's Table 9)."""
    peak_memory_mb: float | None = None
    """Highest GPU memory any call of the run reported (local backends on CUDA)."""
    batched_calls: int = 0
    """Answered calls that ran in a batch of more than one request: their latency and stages are
    their share of the batch's wall time, not the time one request alone would take."""
    mean_batch_size: float | None = None
    """Mean batch size over the answered calls of batching backends."""
    finished_at: datetime = Field(default_factory=utcnow)

    @property
    def primary(self) -> str | None:
        """The run's primary metric (:func:`primary_metric` of its metrics and its card's)."""
        return primary_metric(self.metrics, self.spec.primary_metric)
