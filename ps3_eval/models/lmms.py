"""``lmms``: an lmms-eval model class run inside ps3-eval (its records, resume and reports).

Any model lmms-eval registers (``qwen2_vl``, ``llava_onevision``, ``internvl3``, ...) is built as
lmms-eval builds it, from its own argument string, and asked through its ``generate_until`` with
lmms-eval's request format: each ps3-eval request becomes one ``Instance`` whose document holds
the sample's decoded images (as chat turns for lmms-eval's chat models, as a context and its
images for its simple ones). Requests are batched (``batch_size``) through the same batcher the
``hf`` backend uses; each request records its share of its batch's wall time. A request the class
reports as failed (lmms-eval's API classes answer ``[LMMS_EVAL_REQUEST_FAILED ...]`` or
``[LMMS_EVAL_BUDGET_EXCEEDED]`` in place of text) is an error record, retried on resume. Keys given
in ``model_args`` (``api_key=...``) are kept out of the run's records, its identity and every
error message. Needs the ``lmms`` extra: ``pip install "ps3-eval[lmms]"``.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field

from ps3_eval.errors import ModelError, UsageError, first_line
from ps3_eval.models.base import ModelArgs
from ps3_eval.models.batching import BatchedBackend, Batcher
from ps3_eval.records import ImagePart, ModelOutput, Request, TextPart, Timing, Usage

TASK, SPLIT = "ps3_eval", "test"
"""The task and split names the lmms-eval model sees in its requests."""

FAILED_MARKERS = ("[LMMS_EVAL_REQUEST_FAILED", "[LMMS_EVAL_BUDGET_EXCEEDED]")
"""What lmms-eval's API classes answer in place of text when a request failed or their spending
budget ran out."""

_SECRET_NAME = re.compile(
    r"(?i)^(?:.*_)?(?:api_?key|key|token|secret|password|passwd|credentials?)$"
)
"""Names of ``model_args`` entries that hold credentials (``api_key``, ``hf_token``, ...)."""

REDACTED = "<redacted>"


def redact_model_args(model_args: str) -> tuple[str, list[str]]:
    """``model_args`` with credential values replaced, and the values replaced."""
    parts, secrets = [], []
    for item in model_args.split(",") if model_args else []:
        key, sep, value = item.partition("=")
        if sep and value and _SECRET_NAME.match(key.strip()):
            secrets.append(value.strip())
            item = f"{key}={REDACTED}"
        parts.append(item)
    return ",".join(parts), secrets


class LmmsArgs(ModelArgs):
    """Arguments of the ``lmms`` backend."""

    model: str = Field(description="lmms-eval model name, e.g. qwen2_vl, llava_onevision")
    model_args: str = Field(
        "", description="lmms-eval's own argument string, e.g. pretrained=Qwen/Qwen2-VL-7B-Instruct"
    )
    batch_size: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="requests per generate_until call (default 1; for API classes their own "
        "num_concurrent, as they send a call's requests in parallel)",
    )
    device: str | None = Field(None, description="device handed to the model class")


def _visuals(doc: dict[str, Any]) -> list[Any]:
    """doc_to_visual of lmms-eval's simple models, for the documents this backend builds."""
    return [p["url"] for m in doc["messages"] for p in m["content"] if p["type"] == "image"]


def _messages(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """doc_to_messages of lmms-eval's chat models: the request's turns, images in place."""
    return list(doc["messages"])


class LmmsModel(BatchedBackend):
    """An lmms-eval model class behind ps3-eval's model seam."""

    name = "lmms"
    kind = "local"
    description = "any lmms-eval model class (qwen2_vl, llava_onevision, ...) inside ps3-eval"
    Args = LmmsArgs
    version = "2"
    code_modules = ("ps3_eval.models.lmms", "ps3_eval.models.batching")
    operational_args: ClassVar[frozenset[str]] = frozenset({"batch_size", "device"})

    def __init__(self, args: ModelArgs) -> None:
        super().__init__(args)
        assert isinstance(args, LmmsArgs)
        self.lmms_args = args
        self.shown_args, self.secrets = redact_model_args(args.model_args)
        try:
            from lmms_eval.api.instance import Instance, unwrap_generation_output
            from lmms_eval.models import get_model
        except ImportError:
            raise UsageError(
                "the lmms backend needs lmms-eval: pip install 'ps3-eval[lmms]'."
            ) from None
        self.instance = Instance
        self.unwrap = unwrap_generation_output
        try:
            cls = get_model(args.model)
        except ImportError as exc:  # registered, but its module needs a package not installed
            raise UsageError(
                f"lmms-eval's model '{args.model}' cannot be imported: {self.scrub(exc)} "
                f"(install what it needs)."
            ) from None
        except Exception as exc:
            msg = self.scrub(exc)
            raise UsageError(f"lmms-eval has no model '{args.model}' ({msg}).") from None
        extra = {"batch_size": args.batch_size or 1, "device": args.device}
        try:
            self.lm = cls.create_from_arg_string(args.model_args, extra)
        except Exception as exc:  # its constructor's own checks: keys, files, packages
            raise UsageError(
                f"lmms-eval model '{args.model}' could not be built from model_args "
                f"'{self.shown_args}': {type(exc).__name__}: {self.scrub(exc)}"
            ) from None
        # lmms-eval has two request formats: chat models take the turns, simple ones the text
        self.chat = not getattr(cls, "is_simple", True)
        self.lm.task_dict = {TASK: {SPLIT: {}}}
        self._ids = itertools.count()
        # API classes send one call's requests in parallel (num_concurrent): one request a
        # call would leave them idle, so they take that many a call unless told otherwise
        api = hasattr(self.lm, "num_concurrent")
        batch = args.batch_size or (int(self.lm.num_concurrent) if api else 1)
        self.batcher = Batcher(self._run_batch, batch)

    def scrub(self, error: BaseException | str) -> str:
        """An error's first line without the credentials of ``model_args``."""
        from ps3_eval.models.api.limits import redact

        text = first_line(error)
        for secret in self.secrets:
            text = redact(text, secret)
        return text

    def args_dict(self) -> dict[str, Any]:
        """The arguments as recorded and in the identity, credentials in ``model_args`` replaced.

        So a new key is the same model, and no key reaches a file.
        """
        return {**super().args_dict(), "model_args": self.shown_args}

    def _run_batch(self, requests: Sequence[Request]) -> list[ModelOutput | Exception]:
        docs = self.lm.task_dict[TASK][SPLIT]
        instances, ids = [], []
        for request in requests:
            turns, texts = [], []
            for message in request.messages:
                content: list[dict[str, Any]] = []
                for part in message.content:
                    if isinstance(part, ImagePart):
                        content.append({"type": "image", "url": part.image})
                    elif isinstance(part, TextPart):
                        content.append({"type": "text", "text": part.text})
                        texts.append(part.text)
                turns.append({"role": message.role, "content": content})
            gen = request.generation
            gen_kwargs: dict[str, Any] = {
                "max_new_tokens": gen.max_tokens,
                "temperature": gen.temperature,
                "do_sample": bool(gen.temperature),
            }
            if gen.top_p is not None:
                gen_kwargs["top_p"] = gen.top_p
            doc_id = next(self._ids)
            docs[doc_id] = {"messages": turns}
            ids.append(doc_id)
            context = "\n".join(texts)
            arguments = (
                (context, _messages, gen_kwargs, doc_id, TASK, SPLIT)
                if self.chat
                else (context, gen_kwargs, _visuals, doc_id, TASK, SPLIT)
            )
            instances.append(
                self.instance(
                    request_type="generate_until",
                    arguments=arguments,
                    idx=0,
                    metadata={"task": TASK, "doc_id": doc_id, "repeats": 1},
                )
            )
        start = time.perf_counter()
        try:
            answers = self.lm.generate_until(instances)
        except Exception as exc:
            raise ModelError(
                f"lmms-eval model '{self.lmms_args.model}' failed: {type(exc).__name__}: "
                f"{self.scrub(exc)}"
            ) from None
        finally:
            for doc_id in ids:  # documents live only as long as their request
                docs.pop(doc_id, None)
        wall = time.perf_counter() - start
        n = len(requests)
        outputs: list[ModelOutput | Exception] = []
        for answer in answers:
            text, counts = self.unwrap(answer)
            if str(text).startswith(FAILED_MARKERS):  # the class's way of saying it failed
                outputs.append(
                    ModelError(f"lmms-eval model '{self.lmms_args.model}': {self.scrub(text)}")
                )
                continue
            usage = Usage()
            if counts is not None:
                usage = Usage(
                    input_tokens=counts.input_tokens or 0,
                    output_tokens=counts.output_tokens or 0,
                )
            outputs.append(
                ModelOutput(
                    text=str(text),
                    usage=usage,
                    timing=Timing(latency=wall / n, batch_size=n, batch_latency=wall),
                    extra={"lmms_model": self.lmms_args.model},
                )
            )
        return outputs
