"""The shared part of API backends: arguments, key, image policy, limits, retries, cost.

A provider backend only builds its request from the prepared parts, calls its SDK once, and reads
the reply (:meth:`ApiBackend._call`). Everything else is here, so every provider retries, limits,
records and prices the same way. SDK retries are switched off: the count of attempts is this
module's, and it is recorded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from ps3_eval.errors import UsageError
from ps3_eval.models.api.limits import (
    Failure,
    RateLimiter,
    api_key,
    backoff,
    classify,
    forget,
    redact,
)
from ps3_eval.models.api.payload import ImagePolicy, Prepared, prepare_all
from ps3_eval.models.api.vision import VisionRule
from ps3_eval.models.base import Backend, ModelArgs
from ps3_eval.records import ImagePart, ModelOutput, Request, TextPart, Timing, Usage

logger = logging.getLogger(__name__)


class ApiArgs(ModelArgs):
    """Arguments every API backend takes."""

    model: str = Field(..., description="the provider's model name, e.g. gpt-4o")
    base_url: str | None = Field(None, description="API endpoint (gateways, proxies, servers)")
    api_key_env: str | None = Field(None, description="environment variable holding the key")
    temperature: float | None = Field(0.0, ge=0.0, le=2.0, description="None: provider default")
    max_tokens: int | None = Field(None, ge=1, description="default: the task's max_tokens")
    timeout: float = Field(120.0, gt=0, description="seconds per request attempt")
    max_retries: int = Field(4, ge=0, le=20, description="retries on 429, 5xx, timeouts")
    rpm: float | None = Field(None, gt=0, description="requests per minute, shared by the run")
    tpm: float | None = Field(None, gt=0, description="tokens per minute, shared by the run")
    resize: Literal["provider", "none"] = Field(
        "provider", description="provider: shrink locally to what the provider's rule keeps"
    )
    max_side: int | None = Field(None, ge=16, description="cap on the longest side sent")
    detail: Literal["high", "low", "auto"] = Field("high", description="OpenAI image detail")
    image_format: Literal["jpeg", "png", "webp"] = Field(
        "jpeg", description="encoding of images that must be re-encoded (files that fit go as is)"
    )
    quality: int = Field(90, ge=30, le=100, description="JPEG / WEBP quality")
    tiles: int = Field(0, ge=0, le=64, description="high-resolution crops sent after each image")
    prices: str | None = Field(None, description="price table JSON replacing the shipped one")


TILE_NOTE = "Crops of the image above at higher resolution, row by row:"


@dataclass(frozen=True)
class Reply:
    """What a provider returned, in the toolkit's terms."""

    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str | None
    refusal: str | None = None
    image_tokens: int | None = None


def load_prices(path: str | None) -> dict[str, Any]:
    """The price table: a user's file, or the one shipped with the package."""
    try:
        if path:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        else:
            text = resources.files("ps3_eval.models.api").joinpath("prices.json").read_text()
        table = json.loads(text)
    except OSError as exc:
        raise UsageError(f"cannot read price table {path}: {exc.strerror}.") from None
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"price table {path} is not JSON ({exc.msg}, line {exc.lineno})."
        ) from None
    if not isinstance(table, dict) or not isinstance(table.get("models"), dict):
        raise UsageError(f"price table {path} needs a 'models' mapping of name -> input/output.")
    for name, entry in table["models"].items():
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(k), int | float) for k in ("input", "output")
        ):
            raise UsageError(
                f"price table {path or 'prices.json'}: entry '{name}' needs numeric 'input' and "
                f"'output' (USD per 1M tokens)."
            )
    return table


def price_of(table: dict[str, Any], model: str) -> tuple[float, float] | None:
    """USD per 1M input and output tokens for the longest matching model-name prefix."""
    name = model.lower()
    match = max((k for k in table["models"] if name.startswith(k.lower())), key=len, default=None)
    if match is None:
        return None
    entry = table["models"][match]
    return float(entry["input"]), float(entry["output"])


def _timed_prepare(
    images: list[ImagePart], rule: VisionRule, policy: ImagePolicy
) -> tuple[list[Prepared], float]:
    start = time.perf_counter()
    out = prepare_all(images, rule, policy)
    return out, time.perf_counter() - start


class ApiBackend(Backend):
    """Base of the provider backends."""

    kind = "api"
    decodes_pixels = False
    Args: ClassVar[type[ModelArgs]] = ApiArgs
    args: ApiArgs
    key_envs: ClassVar[tuple[str, ...]] = ()
    """Environment variables tried for the key, in order (``api_key_env`` replaces them)."""
    needs_key: ClassVar[bool] = True
    operational_args = frozenset({"timeout", "max_retries", "rpm", "tpm", "api_key_env", "prices"})

    def __init__(self, args: ModelArgs) -> None:
        super().__init__(args)
        self._key = ""
        if self.needs_key or self.args.api_key_env:
            names = [self.args.api_key_env] if self.args.api_key_env else list(self.key_envs)
            _, self._key = api_key(names, self.name)
        self.limiter = RateLimiter(self.args.rpm, self.args.tpm)
        self.policy = ImagePolicy(
            resize=self.args.resize,
            max_side=self.args.max_side,
            detail=self.args.detail,
            image_format=self.args.image_format,
            quality=self.args.quality,
            tiles=self.args.tiles,
        )
        self.vision_rule = self.rule()
        """The provider's image rule for this model, resolved once (an unknown one fails here)."""
        self.prices = load_prices(self.args.prices)
        self._price = price_of(self.prices, self.args.model)
        self._prices_label = f"{self.prices.get('name', 'prices')} {self.prices.get('date', '')}"
        # The SDK is imported and its client made here, when the backend is built (before a
        # session's clock starts), not by the first call.
        self._client: Any = self._make_client()
        # Preparing images is CPU work on a pool of its own, one thread per core: more threads
        # only add memory (each one decoding a 4K image holds ~50 MB) and contend with the event
        # loop for the interpreter lock (perf/api.py measured both).
        self._prep_pool: ThreadPoolExecutor | None = None
        self._warned_over_input = False

    # -- what providers implement ----------------------------------------------------------

    def rule(self) -> VisionRule:
        """The provider's image rule for this model."""
        raise NotImplementedError

    def _make_client(self) -> Any:
        raise NotImplementedError

    async def _call(
        self, client: Any, request: Request, system: str | None, parts: list[Any], max_tokens: int
    ) -> Reply:
        """One attempt: send, and read the reply (raise on any failure)."""
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------

    def _content(self, request: Request, prepared: list[Prepared]) -> tuple[str | None, list[Any]]:
        """System text, and the user turn as ("image", Prepared) / ("text", str) items in order."""
        system = None
        items: list[Any] = []
        by_source: dict[int, list[Prepared]] = {}
        for p in prepared:
            by_source.setdefault(p.record.source_index, []).append(p)
        image_index = 0
        for message in request.messages:
            for part in message.content:
                if message.role == "system" and isinstance(part, TextPart):
                    system = (system + "\n" if system else "") + part.text
                elif isinstance(part, ImagePart):
                    views = by_source.get(image_index, [])
                    image_index += 1
                    for n, view in enumerate(views):
                        if n == 1:
                            items.append(("text", TILE_NOTE))
                        items.append(("image", view))
                elif isinstance(part, TextPart):
                    items.append(("text", part.text))
        return system, items

    async def generate(self, request: Request) -> ModelOutput:
        """Prepare the images, then call the provider with limits and retries."""
        images = [p for m in request.messages for p in m.content if isinstance(p, ImagePart)]
        rule = self.vision_rule
        t0 = time.perf_counter()
        if self._prep_pool is None:
            self._prep_pool = ThreadPoolExecutor(
                os.cpu_count() or 1, thread_name_prefix=f"{self.name}-images"
            )
        prepared, prep = await self.in_thread(_timed_prepare, images, rule, self.policy,
                                              pool=self._prep_pool)  # fmt: skip
        waited = time.perf_counter() - t0 - prep
        for p in images:
            p.data = None  # the prepared parts hold what is sent
        system, items = self._content(request, prepared)
        max_tokens = self.args.max_tokens or request.generation.max_tokens
        estimate = (
            sum(len(t) for kind, t in items if kind == "text") // 4
            + sum(p.record.tokens or 0 for p in prepared)
            + max_tokens
        )
        if self._client is None:  # closed by an earlier session
            self._client = self._make_client()
        attempts = 0
        waits: list[float] = []
        stages = {"prepare_images": prep, "prepare_wait": waited}
        start = time.perf_counter()
        while True:
            attempts += 1
            await self.limiter.acquire(estimate)
            reply, failure = await self._attempt(request, system, items, max_tokens)
            if failure is None:
                break
            # Only the classified failure is kept: the exception, its frames and the request
            # they held are gone before the backoff, so an outage costs no memory.
            if not failure.retry or attempts > self.args.max_retries:
                tried = f" after {attempts} attempts" if attempts > 1 else ""
                message = redact(f"{self.name}: {failure.message}{tried}", self._key)
                latency = time.perf_counter() - start
                return self._failed(message, prepared, attempts, latency, stages, waits)
            wait = backoff(attempts, failure.after)
            waits.append(round(wait, 3))
            await asyncio.sleep(wait)
        assert reply is not None
        latency = time.perf_counter() - start
        return self._output(reply, prepared, attempts, latency, stages, waits)

    async def _attempt(
        self, request: Request, system: str | None, items: list[Any], max_tokens: int
    ) -> tuple[Reply | None, Failure | None]:
        """One call: the reply, or how it failed (nothing of the failed call stays alive)."""
        try:
            call = self._call(self._client, request, system, items, max_tokens)
            return await asyncio.wait_for(call, timeout=self.args.timeout), None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the provider boundary: classify, then retry or fail
            failure = classify(exc)
            forget(exc)
            return None, failure

    def _record(
        self,
        prepared: list[Prepared],
        attempts: int,
        latency: float,
        stages: dict[str, float],
        waits: list[float],
    ) -> dict[str, Any]:
        """What an output records whether the call answered or not: what was sent, how often."""
        extra: dict[str, Any] = {"prices": self._prices_label}
        if waits:
            extra["retry_waits"] = waits
        return dict(
            timing=Timing(latency=latency, stages=dict(stages)),
            image_sizes=[p.record.sent for p in prepared],
            sent_images=[p.record for p in prepared],
            attempts=attempts,
            extra=extra,
        )

    def _failed(
        self,
        message: str,
        prepared: list[Prepared],
        attempts: int,
        latency: float,
        stages: dict[str, float],
        waits: list[float],
    ) -> ModelOutput:
        """The error record of a call that never answered (never scored, never cached)."""
        record = self._record(prepared, attempts, latency, stages, waits)
        return ModelOutput(error=message, **record)

    def _output(
        self,
        reply: Reply,
        prepared: list[Prepared],
        attempts: int,
        latency: float,
        stages: dict[str, float],
        waits: list[float],
    ) -> ModelOutput:
        known = all(p.record.tokens is not None for p in prepared)
        visual = reply.image_tokens
        estimated = visual is None
        if visual is None and known:
            visual = sum(p.record.tokens or 0 for p in prepared)
        record = self._record(prepared, attempts, latency, stages, waits)
        if estimated and visual is not None and visual > reply.input_tokens:
            # The rule says the images alone cost more than the whole prompt did: the rule is
            # wrong for this model (or the server counts differently). Keep both, flagged.
            record["extra"]["visual_estimate_over_input"] = True
            if not self._warned_over_input:
                self._warned_over_input = True
                logger.warning(
                    "%s: the image rule estimates %d image tokens, more than the %d input tokens "
                    "reported for %s; such records are flagged visual_estimate_over_input",
                    self.name, visual, reply.input_tokens, self.args.model,
                )  # fmt: skip
        usage = Usage(
            input_tokens=reply.input_tokens,
            visual_tokens=visual,
            output_tokens=reply.output_tokens,
            estimated=estimated,
        )
        price = self._price
        cost = None
        if price is not None:
            cost = (reply.input_tokens * price[0] + reply.output_tokens * price[1]) / 1e6
        # A server may quote the key back inside an answer; it is scrubbed before the answer
        # reaches a record, the response cache or a scorer.
        text = redact(reply.text, self._key)
        error = None
        if reply.refusal:
            error = f"{self.name} refused: {redact(reply.refusal, self._key)[:300]}"
        elif not text.strip():
            error = (
                f"{self.name} returned an empty completion (finish_reason {reply.finish_reason})"
            )
        return ModelOutput(
            text=text,
            usage=usage,
            finish_reason=reply.finish_reason,
            cost=cost,
            error=error,
            **record,
        )

    async def aclose(self) -> None:
        """Close the SDK client and the image pool."""
        if self._prep_pool is not None:
            self._prep_pool.shutdown(wait=False)
            self._prep_pool = None
        client, self._client = self._client, None
        close = getattr(client, "close", None) or getattr(client, "aclose", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result
