"""Candidate questions: one four-option question per box, from a model shown the frame and the crop.

Any registered backend that takes images generates (``openai:model=gpt-4o`` as in the paper).
Each request holds the prompt (the project's editable ``prompt.txt``, first copied from
the package), the whole frame and the box's region at full resolution. The reply must be JSON
that passes :func:`validate`; an invalid reply is asked again with what was wrong, and after
``retries`` more attempts the box's question is recorded as failed, with the error. Tokens and
cost are summed over the attempts.

Generation resumes like a run: a box whose question was generated is never asked again; failed
ones are retried by the next call.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import re
import string
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from ps3_eval.curate.project import Project, cli_actor, model_label
from ps3_eval.db import now
from ps3_eval.errors import Ps3EvalError, UsageError
from ps3_eval.images import decode
from ps3_eval.models import Backend, build_model, parse_model_spec
from ps3_eval.paths import curate_prompts_dir
from ps3_eval.records import (
    GenerationConfig,
    ImageSource,
    Message,
    ModelOutput,
    Request,
    Sample,
    TextPart,
)
from ps3_eval.runner.pipeline import decode_all

log = logging.getLogger(__name__)

LETTERS = "ABCD"
PROMPT_FIELDS = ("width", "height", "category", "note", "x0", "y0", "x1", "y1")
MIN_CROP = 32
"""A crop is at least this many pixels on each side (a tiny box is widened around its centre)."""


class InvalidQuestion(ValueError):
    """A reply that is not a usable question; the message says what to fix."""


@dataclass(frozen=True)
class Question:
    """A validated question."""

    question: str
    options: tuple[str, str, str, str]
    answer: str
    """The correct letter."""


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def _json_object(text: str) -> dict[str, Any]:
    """The JSON object in a reply (code fences and prose around it are tolerated)."""
    body = re.sub(r"^```(?:json)?\s*|\s*```$", "", text.strip(), flags=re.IGNORECASE)
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise InvalidQuestion("the reply holds no JSON object")
    try:
        data = json.loads(body[start : end + 1])
    except json.JSONDecodeError as exc:
        raise InvalidQuestion(f"the reply's JSON does not parse ({exc.msg})") from None
    if not isinstance(data, dict):
        raise InvalidQuestion("the reply's JSON is not an object")
    return data


def validate(text: str) -> Question:
    """Check a reply: a question, four distinct options, the answer among them, not given away.

    Raises:
        InvalidQuestion: what is wrong, in words the model is shown on the next attempt.
    """
    data = _json_object(text)
    options = data.get("options")
    if isinstance(options, dict):  # {"A": ..., "B": ...} is a common variant
        options = [options.get(k) for k in LETTERS]
    return check_question(data.get("question"), options, data.get("answer"))


def check_question(question: Any, options: Any, answer: Any) -> Question:
    """The rules of a usable question, for generated and hand-edited ones alike.

    Raises:
        InvalidQuestion: what is wrong.
    """
    if not isinstance(question, str) or not question.strip():
        raise InvalidQuestion('"question" must be a non-empty string')
    if len(question) > 1000:
        raise InvalidQuestion('"question" is longer than 1000 characters')
    if not isinstance(options, list) or len(options) != 4:
        raise InvalidQuestion('"options" must be a list of exactly four strings')
    if not all(isinstance(o, (str, int, float)) and str(o).strip() for o in options):
        raise InvalidQuestion("every option must be a non-empty string")
    opts = [re.sub(r"^\(?[A-D][).:]\s+", "", str(o).strip()) for o in options]
    if any(len(o) > 300 for o in opts):
        raise InvalidQuestion("an option is longer than 300 characters")
    if len({_norm(o) for o in opts}) != 4:
        raise InvalidQuestion("the four options must be different from each other")
    if not isinstance(answer, str) or not answer.strip():
        raise InvalidQuestion('"answer" must be the letter A, B, C or D')
    given = answer.strip()
    letter = given.upper().strip("().: ")
    if letter not in LETTERS:
        matches = [i for i, o in enumerate(opts) if _norm(o) == _norm(given)]
        if not matches:
            raise InvalidQuestion(f'"answer" {given!r} is neither a letter A-D nor an option')
        letter = LETTERS[matches[0]]
    right = _norm(opts[LETTERS.index(letter)])
    pattern = r"(?<![\w])" + re.escape(right) + r"(?![\w])"
    if re.search(pattern, _norm(question)):
        raise InvalidQuestion(f"the question gives the answer away (it contains {right!r})")
    return Question(question.strip(), (opts[0], opts[1], opts[2], opts[3]), letter)


def default_prompt() -> str:
    """The prompt shipped with the package."""
    return (curate_prompts_dir() / "generate.txt").read_text("utf-8")


def load_prompt(project: Project, prompt_file: str | Path | None = None) -> str:
    """The prompt template: ``prompt_file``, else the project's editable ``prompt.txt``.

    The project's file is written from the package's on first use.

    Raises:
        UsageError: the file cannot be read or names an unknown field.
    """
    path = Path(prompt_file).expanduser() if prompt_file else project.prompt_file
    if prompt_file is None and not path.exists():
        path.write_text(default_prompt(), encoding="utf-8")
    try:
        template = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the prompt file {path}: {exc.strerror}.") from None
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise UsageError(
            f"prompt file {path}: {exc} (write literal braces as {{{{ }}}})."
        ) from None
    unknown = sorted(n for n in names if n not in PROMPT_FIELDS)
    if unknown:
        raise UsageError(
            f"prompt file {path} uses {', '.join('{' + n + '}' for n in unknown)}; the fields "
            f"are {', '.join('{' + n + '}' for n in PROMPT_FIELDS)}."
        )
    return template


def crop_box(box: dict[str, Any], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The box in whole pixels, clamped to the image and at least ``MIN_CROP`` on each side."""
    w, h = size
    x0, y0, x1, y1 = (float(box[k]) for k in ("x0", "y0", "x1", "y1"))
    out = []
    for lo, hi, limit in ((x0, x1, w), (y0, y1, h)):
        lo, hi = max(0.0, min(lo, hi)), min(float(limit), max(lo, hi))
        if hi - lo < MIN_CROP:
            mid = (lo + hi) / 2
            lo = max(0.0, min(mid - MIN_CROP / 2, limit - MIN_CROP))
            hi = min(float(limit), lo + MIN_CROP)
        out.append((int(lo), round(hi)))
    (a, c), (b, d) = out
    return a, b, c, d


@dataclass
class GenerateReport:
    """What one ``generate`` call did."""

    generated: int = 0
    failed: int = 0
    skipped: int = 0
    """Boxes that already had a generated question."""
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    errors: list[str] = field(default_factory=list)


class _Frames:
    """Decoded frames shared by the boxes on them (one decode per frame)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.lock = threading.Lock()
        self.cache: dict[int, Image.Image] = {}

    def crop_png(self, frame_id: int, box: dict[str, Any]) -> bytes:
        with self.lock:
            img = self.cache.get(frame_id)
            if img is None:
                img, _ = decode(ImageSource(path=str(self.project.frame_path(frame_id))))
                self.cache = {frame_id: img}  # boxes come frame by frame: keep one
        buf = io.BytesIO()
        img.crop(crop_box(box, img.size)).save(buf, format="PNG")
        return buf.getvalue()


def _request(
    box: dict[str, Any], prompt: str, images: list[Any], feedback: str | None, max_tokens: int
) -> Request:
    text = prompt.format(
        width=box["width"],
        height=box["height"],
        category=box["category"] or "unspecified",
        note=box["note"] or "(none)",
        **{k: round(float(box[k])) for k in ("x0", "y0", "x1", "y1")},
    )
    content: list[Any] = [TextPart(text=text), images[0], TextPart(text="The crop:"), images[1]]
    if feedback:
        content.append(
            TextPart(
                text=f"Your previous reply was not usable: {feedback}. Reply again, JSON only."
            )
        )
    return Request(
        sample_id=f"box-{box['id']}",
        messages=[Message(role="user", content=content)],
        generation=GenerationConfig(max_tokens=max_tokens, temperature=0.0),
    )


async def _ask(model: Backend, request: Request) -> ModelOutput:
    try:
        out = await model.generate(request)
    except Ps3EvalError as exc:
        return ModelOutput(error=str(exc))
    except Exception as exc:  # any backend failure is this attempt's error
        return ModelOutput(error=f"{type(exc).__name__}: {exc}")
    return out


async def _one(
    project: Project,
    frames: _Frames,
    model: Backend,
    box: dict[str, Any],
    prompt: str,
    spec: str,
    retries: int,
    max_tokens: int,
    actor: str,
    report: GenerateReport,
) -> None:
    crop = await asyncio.to_thread(frames.crop_png, int(box["frame_id"]), box)
    sample = Sample(
        id=f"box-{box['id']}",
        images=[
            ImageSource(path=str(project.frame_path(int(box["frame_id"])))),
            ImageSource(data=crop),
        ],
        question="",
    )
    images = await asyncio.to_thread(decode_all, sample, model.decodes_pixels)
    feedback: str | None = None
    tokens_in = tokens_out = 0
    cost: float | None = None
    result: Question | None = None
    raw = error = ""
    attempts = 0
    while attempts <= retries:
        attempts += 1
        # Backends may release a part's pixels once sent: each attempt gets parts of its own.
        parts = [p.model_copy() for p in images]
        out = await _ask(model, _request(box, prompt, parts, feedback, max_tokens))
        tokens_in += out.usage.input_tokens
        tokens_out += out.usage.output_tokens
        if out.cost is not None:
            cost = (cost or 0.0) + out.cost
        raw = out.text
        if out.error:
            error = feedback = f"the model call failed: {out.error}"
            continue
        try:
            result = validate(out.text)
            break
        except InvalidQuestion as exc:
            error = feedback = str(exc)
    values: dict[str, Any] = {
        "generator": spec,
        "prompt_digest": hashlib.sha256(prompt.encode()).hexdigest()[:16],
        "raw": raw,
        "attempts": attempts,
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "cost": cost,
        "generated_at": now(),
    }
    if result is not None:
        values.update(
            status="generated",
            error=None,
            question=result.question,
            answer=result.answer,
            **{f"option_{k.lower()}": o for k, o in zip(LETTERS, result.options, strict=True)},
        )
        report.generated += 1
    else:
        values.update(status="failed", error=error)
        report.failed += 1
        report.errors.append(f"box {box['id']}: {error}")
    report.input_tokens += tokens_in
    report.output_tokens += tokens_out
    report.cost += cost or 0.0
    with project.db.write(actor) as tx:
        existing = tx.execute(
            "SELECT id, version FROM qa WHERE box_id = ?", (box["id"],)
        ).fetchone()
        if existing is None:
            tx.insert("qa", {"box_id": box["id"], **values})
        else:
            tx.update("qa", int(existing[0]), values, int(existing[1]))


def _run(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` to its end, also where an event loop is already running (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


def pending_boxes(project: Project) -> tuple[list[dict[str, Any]], int]:
    """Live boxes without a generated question (failed ones included), and how many have one."""
    rows = project.db.query(
        "SELECT b.*, f.width, f.height, f.category, q.status AS qa_status FROM boxes b "
        "JOIN frames f ON f.id = b.frame_id LEFT JOIN qa q ON q.box_id = b.id "
        "WHERE b.deleted = 0 AND f.deleted = 0 ORDER BY b.frame_id, b.id"
    )
    todo = [r for r in rows if r["qa_status"] != "generated"]
    return todo, len(rows) - len(todo)


def generate_questions(
    project: str | Path | Project,
    model: str | Backend,
    *,
    model_args: dict[str, Any] | None = None,
    prompt_file: str | Path | None = None,
    retries: int = 2,
    concurrency: int = 4,
    max_tokens: int = 512,
    limit: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    actor: str | None = None,
) -> GenerateReport:
    """Generate a question for every box that has none; the twin of ``ps3-eval curate generate``.

    Args:
        project: the project folder or an open project.
        model: a backend spec (``openai:model=gpt-4o``) or instance; it must take images.
        model_args: more backend arguments.
        prompt_file: a template replacing the project's ``prompt.txt``.
        retries: attempts after an invalid reply or failed call before recording a failure.
        concurrency: boxes asked at once.
        max_tokens: the reply's token limit.
        limit: at most this many boxes in this call.
        on_progress: ``(done, total)`` after each box.
        actor: the name in the audit log.

    Returns:
        Counts, tokens, cost and the errors of failed boxes.
    """
    if retries < 0 or concurrency < 1:
        raise UsageError("--retries must be 0 or more and --concurrency 1 or more.")
    proj = project if isinstance(project, Project) else Project(project)
    who = actor or cli_actor()
    if isinstance(model, Backend):
        backend, spec = model, model.name
    else:
        name, args = parse_model_spec(model)
        backend = build_model(name, {**args, **(model_args or {})})
        spec = model_label(model, model_args)
    try:
        prompt = load_prompt(proj, prompt_file)
        todo, done_before = pending_boxes(proj)
        if limit is not None:
            todo = todo[: max(0, limit)]
        report = GenerateReport(skipped=done_before)
        frames = _Frames(proj)

        async def main() -> None:
            gate = asyncio.Semaphore(concurrency)
            finished = 0

            async def run(box: dict[str, Any]) -> None:
                nonlocal finished
                async with gate:
                    await _one(
                        proj, frames, backend, box, prompt, spec, retries, max_tokens, who, report
                    )
                finished += 1
                if on_progress is not None:
                    on_progress(finished, len(todo))

            try:
                await asyncio.gather(*(run(b) for b in todo))
            finally:
                await backend.aclose()

        _run(main())
        return report
    finally:
        if not isinstance(project, Project):
            proj.close()
