"""One session of a run: producer -> bounded queue -> N workers -> store.

No single sample can stop a session: a failed image, row, model call, time limit or scorer becomes
that sample's error record, naming the stage that failed, and the session goes on.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ps3_eval.errors import DataError
from ps3_eval.images import decode, encode_png, probe, shrink_to_side
from ps3_eval.models import Backend
from ps3_eval.records import (
    ErrorKind,
    ImagePart,
    ImageRef,
    ImageSource,
    JudgeCall,
    ModelOutput,
    Request,
    RunSpec,
    Sample,
    SampleResult,
    Timing,
    primary_metric,
    utcnow,
)
from ps3_eval.rundir import RunDir
from ps3_eval.runner.cache import ResponseCache
from ps3_eval.runner.calls import CachedModel, CallFailed, CallTimedOut
from ps3_eval.runner.judge import Judge
from ps3_eval.scoring import Score, answer_text
from ps3_eval.tasks import BrokenSample, Task


@dataclass
class Progress:
    """Live counters handed to the ``on_progress`` callback after every recorded sample."""

    total: int
    """Samples the run covers (finished earlier ones included)."""
    done: int = 0
    """Samples recorded so far (scored or failed), earlier sessions included."""
    errors: int = 0
    """Failed samples in this session."""
    metric: str | None = None
    """Name of the running metric: the card's primary one where samples carry it (set it before
    the first result), else the first one the scorer reports."""
    metric_sum: float = 0.0
    metric_n: int = 0
    resumed: int = 0
    """Samples already finished when this session started."""
    last: SampleResult | None = field(default=None, repr=False)

    @property
    def running(self) -> float | None:
        """Mean of the running metric over scored samples (earlier sessions included)."""
        return self.metric_sum / self.metric_n if self.metric_n else None

    def add(self, result: SampleResult) -> None:
        """Count one result."""
        self.done += 1
        self.last = result
        if result.error is not None:
            self.errors += 1
            return
        if self.metric_n == 0 and result.scores:
            self.metric = primary_metric(result.scores, self.metric)
        if self.metric in result.scores:
            self.metric_sum += result.scores[self.metric]
            self.metric_n += 1


class SampleFailed(Exception):
    """A stage of one sample failed; the worker records it as the sample's error."""

    def __init__(self, kind: ErrorKind, message: str, output: ModelOutput | None = None) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.output = output


def encoded_part(src: ImageSource) -> ImagePart:
    """An image as its encoded bytes and header, pixels not decoded (for API backends)."""
    raw, width, height, digest, fmt, orientation = probe(src)
    return ImagePart(
        data=raw,
        width=width,
        height=height,
        digest=digest,
        source=src.path,
        format=fmt,
        orientation=orientation,
    )


def decode_all(sample: Sample, pixels: bool = True, side: int | None = None) -> list[ImagePart]:
    """Decode every image of a sample (runs in the decode pool).

    With ``pixels`` false only the encoded bytes and the header are read (API backends). With
    ``side``, images longer than that are shown downsampled (re-encoded losslessly for backends
    that take encoded images) and keep their source's size in ``source_size``.
    """
    if not pixels and side is None:
        return [encoded_part(src) for src in sample.images]
    parts = []
    for src in sample.images:
        img, digest = decode(src)
        source_size = None
        if side is not None:
            shown = shrink_to_side(img, side)
            if shown is not img:
                source_size = img.size
            img = shown
        part = ImagePart(
            image=img,
            width=img.width,
            height=img.height,
            digest=digest,
            source=src.path,
            source_size=source_size,
        )
        if not pixels:
            part.data, part.format, part.image = encode_png(img), "PNG", None
        parts.append(part)
    return parts


def _plain(value: Any) -> Any:
    """A JSON value for a kept column (anything else as its ``str``)."""
    return json.loads(json.dumps(value, default=str))


class Pipeline:
    """Runs the samples of one session and appends a result for each."""

    def __init__(
        self,
        task: Task,
        model: Backend,
        folder: RunDir,
        spec: RunSpec,
        *,
        session: int,
        concurrency: int,
        prefetch: int,
        decode_workers: int,
        timeout: float | None,
        cache: ResponseCache | None,
        progress: Progress,
        on_progress: Callable[[Progress], None] | None,
        rescore: dict[str, SampleResult] | None = None,
        judge: Judge | None = None,
    ) -> None:
        self.task, self.model, self.folder, self.spec = task, model, folder, spec
        self.session = session
        cap = model.max_concurrency or concurrency
        self.concurrency = max(1, min(concurrency, cap), model.min_concurrency)
        self.prefetch = max(1, prefetch)
        self.decode_workers = decode_workers
        self.calls = CachedModel(model, cache, timeout)
        self.progress = progress
        self.on_progress = on_progress
        self.oracle = model.wants_oracle
        self.rescore = rescore or {}
        self.judge = judge
        self.n_new = 0
        self.n_new_scored = 0

    def _record(self, result: SampleResult) -> None:
        # Results are not kept in memory: the summary re-reads samples.jsonl once at the end, so
        # memory and per-sample cost stay flat however large the run.
        self.folder.append(result)
        self.n_new += 1
        self.n_new_scored += result.error is None
        self.progress.add(result)
        if self.on_progress is not None:
            self.on_progress(self.progress)

    # -- stages -----------------------------------------------------------------------------

    def _request(self, sample: Sample, images: list[ImagePart]) -> Request:
        try:
            request = self.task.build_request(sample, images, self.spec.generation)
        except DataError as exc:
            raise SampleFailed("data", str(exc)) from None
        if self.oracle:
            request.oracle = sample.targets
        return request

    def _prompt(self, sample: Sample) -> str | None:
        """The prompt of a sample no request was built for; ``None`` when it cannot be filled."""
        try:
            return self.task.prompt_text(sample)
        except DataError:
            return None

    async def _answer(
        self, request: Request, sample: Sample, images: list[ImagePart]
    ) -> ModelOutput:
        try:
            output = await self.calls.generate(request)
        except CallFailed as exc:
            raise SampleFailed("model", str(exc), exc.output) from None
        # What the runner adds from the sample (a cache replay too: the sample's own box).
        if not output.image_sizes:
            output.image_sizes = [(p.width, p.height) for p in images]
        sel = output.selection
        if sel is not None and sel.recall is None and sample.bbox is not None:
            if images and images[0].source_size is not None and sel.patch_px:
                # Shown smaller than stored: patches are recorded in the stored image's pixels.
                scale = images[0].source_size[0] / images[0].width
                sel.patch_px *= scale
                sel.patch_px_y = sel.patch_px_y * scale if sel.patch_px_y else None
            sel.recall = sel.recall_of(sample.bbox)
        return output

    # -- records ----------------------------------------------------------------------------

    def _result(
        self,
        sample: Sample | BrokenSample,
        started: datetime,
        images: list[ImagePart] | None,
        prompt: str | None,
        *,
        output: ModelOutput | None = None,
        failure: SampleFailed | None = None,
        prediction: str = "",
        score: Score | Exception | None = None,
        judge: JudgeCall | None = None,
    ) -> SampleResult:
        out = output or (failure.output if failure else None) or ModelOutput()
        base: dict[str, Any] = dict(
            sample_id=sample.id, output=out, session=self.session, started_at=started
        )
        if isinstance(sample, Sample):
            refs = (
                [
                    ImageRef(
                        path=p.source,
                        digest=p.digest,
                        width=(p.source_size or (p.width, p.height))[0],
                        height=(p.source_size or (p.width, p.height))[1],
                    )
                    for p in images
                ]
                if images
                else [ImageRef(path=src.path) for src in sample.images]
            )
            base.update(
                category=sample.category,
                mrr=sample.mrr,
                targets=sample.targets,
                question=sample.question,
                choices=sample.choices,
                images=refs,
                bbox=sample.bbox,
                metadata={k: _plain(v) for k, v in sample.metadata.items()},
                group=sample.group,
                prompt=prompt,
            )
        if failure is not None:
            if out.error is None:
                out.error = str(failure)
            return SampleResult(
                **base, error=str(failure), error_kind=failure.kind, finished_at=utcnow()
            )
        assert isinstance(sample, Sample) and score is not None
        if isinstance(score, Exception):  # a scorer bug is this sample's error, not the run's end
            exc = score
            message = f"scorer '{self.task.card.scorer}' failed: {type(exc).__name__}: {exc}"
            return SampleResult(
                **base,
                prediction=prediction,
                error=message.strip(),
                error_kind="scorer",
                finished_at=utcnow(),
            )
        return SampleResult(
            **base,
            prediction=prediction,
            extracted=score.extracted,
            scores=score.values,
            notes=dict(score.notes),
            judge=judge,
            finished_at=utcnow(),
        )

    def _score(self, text: str, sample: Sample, extraction: str | None = None) -> Score | Exception:
        try:
            if extraction is None:
                return self.task.score(text, sample)
            return self.task.score(text, sample, extraction=extraction)
        except Exception as exc:
            return exc

    async def _judged(
        self, output: ModelOutput, sample: Sample
    ) -> tuple[str, Score | Exception, JudgeCall | None]:
        """Score a reply by the rules; where they cannot read the answer, ask the judge.

        Returns the prediction as scored (:func:`answer_text` of the reply), the score and the
        judge's call.
        """
        prediction = answer_text(output.text)
        score = self._score(prediction, sample)
        if self.judge is None or not isinstance(score, Score) or score.judge_prompt is None:
            return prediction, score, None
        call = await self.judge.ask(sample.id, score.judge_prompt)
        if call.error is not None:
            return prediction, score, call
        reading = answer_text(call.text)  # a reasoning judge's thoughts are not its reading
        judged = self._score(prediction, sample, extraction=reading)
        if isinstance(judged, Score):
            judged = Score(judged.values, judged.extracted, {**judged.notes, "judged": reading})
        return prediction, judged, call

    async def _one(self, sample: Sample, images_future: asyncio.Future[Any]) -> None:
        started = utcnow()
        previous = self.rescore.get(sample.id)
        if previous is not None:
            # Answered before, only the scorer failed: score the stored answer, do not call again.
            prediction, score, call = await self._judged(previous.output, sample)
            result = self._result(
                sample,
                started,
                None,
                self._prompt(sample),
                output=previous.output,
                prediction=prediction,
                score=score,
                judge=call,
            )
            result.images = previous.images or result.images
            self._record(result)
            return
        try:
            images: list[ImagePart] = await images_future
        except Exception as exc:  # decoding failed: that sample's error, the run goes on
            failure = SampleFailed("image", f"image: {exc}")
            self._record(self._result(sample, started, None, self._prompt(sample), failure=failure))
            return
        prompt: str | None = None  # a request that cannot be built has no prompt: its error says
        try:
            request = self._request(sample, images)
            prompt = request.text  # the prompt as sent, built once
            output = await self._answer(request, sample, images)
        except SampleFailed as exc:
            self._record(self._result(sample, started, images, prompt, failure=exc))
            return
        except CallTimedOut as exc:
            failed = ModelOutput(timing=Timing(latency=exc.elapsed))
            timed_out = SampleFailed("timeout", str(exc), failed)
            self._record(self._result(sample, started, images, prompt, failure=timed_out))
            # Keep this worker's slot until the call has really ended (see Backend.in_thread).
            await asyncio.wait({exc.call})
            if not exc.call.cancelled():
                exc.call.exception()
            return
        finally:
            for part in images:
                part.image = part.data = None  # free pixels and bytes before scoring and writing
        prediction, score, call = await self._judged(output, sample)
        self._record(
            self._result(
                sample,
                started,
                images,
                prompt,
                output=output,
                prediction=prediction,
                score=score,
                judge=call,
            )
        )

    async def _work(self, queue: asyncio.Queue[Any]) -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            sample, images_future = item
            if isinstance(sample, BrokenSample):
                failure = SampleFailed("data", sample.error)
                self._record(self._result(sample, utcnow(), None, None, failure=failure))
                continue
            await self._one(sample, images_future)

    async def _samples(
        self, todo: Iterator[Sample | BrokenSample]
    ) -> AsyncIterator[Sample | BrokenSample]:
        loop = asyncio.get_running_loop()
        # Reading rows (Arrow -> Python) can be slow for big rows, so it runs off the loop; in
        # chunks, because one thread hop per row starves a wave of fast workers.
        chunk = max(8, self.concurrency)
        while True:
            batch = await loop.run_in_executor(None, lambda: list(itertools.islice(todo, chunk)))
            if not batch:
                return
            for item in batch:
                yield item

    async def run(self, todo: Iterator[Sample | BrokenSample]) -> None:
        """Run every sample of ``todo``; returns when all are recorded."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=self.prefetch)
        workers = [asyncio.create_task(self._work(queue)) for _ in range(self.concurrency)]
        pool = ThreadPoolExecutor(self.decode_workers, thread_name_prefix="ps3-eval-decode")
        try:
            async for sample in self._samples(todo):
                if (
                    isinstance(sample, Sample)
                    and sample.images
                    and sample.id not in self.rescore
                    and not self.spec.no_image
                ):
                    fut: asyncio.Future[Any] = loop.run_in_executor(
                        pool, decode_all, sample, self.model.decodes_pixels, self.spec.image_side
                    )
                else:
                    fut = loop.create_future()
                    fut.set_result([])
                await queue.put((sample, fut))
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            pool.shutdown(wait=False, cancel_futures=True)
