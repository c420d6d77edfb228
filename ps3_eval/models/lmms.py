"""``lmms``: an lmms-eval model class run inside ps3-eval (its records, resume and reports).

Any model lmms-eval registers (``qwen2_vl``, ``llava_onevision``, ``internvl3``, ...) is built as
lmms-eval builds it, from its own argument string, and asked through its ``generate_until`` with
lmms-eval's request format: each ps3-eval request becomes one ``Instance`` whose document holds
the sample's decoded images (as chat turns for lmms-eval's chat models, as a context and its
images for its simple ones). Requests are batched (``batch_size``) through the same batcher the
``hf`` backend uses. Needs the ``lmms`` extra: ``pip install "ps3-eval[lmms]"``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field

from ps3_eval.errors import UsageError
from ps3_eval.models.base import ModelArgs
from ps3_eval.models.batching import BatchedBackend, Batcher
from ps3_eval.records import ImagePart, ModelOutput, Request, TextPart, Timing, Usage

TASK, SPLIT = "ps3_eval", "test"
"""The task and split names the lmms-eval model sees in its requests."""


class LmmsArgs(ModelArgs):
    """Arguments of the ``lmms`` backend."""

    model: str = Field(description="lmms-eval model name, e.g. qwen2_vl, llava_onevision")
    model_args: str = Field(
        "", description="lmms-eval's own argument string, e.g. pretrained=Qwen/Qwen2-VL-7B-Instruct"
    )
    batch_size: int = Field(1, ge=1, le=1024, description="requests per generate_until call")
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
    version = "1"
    code_modules = ("ps3_eval.models.lmms", "ps3_eval.models.batching")
    operational_args: ClassVar[frozenset[str]] = frozenset({"batch_size", "device"})

    def __init__(self, args: ModelArgs) -> None:
        super().__init__(args)
        assert isinstance(args, LmmsArgs)
        self.lmms_args = args
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
        except Exception as exc:
            raise UsageError(f"lmms-eval has no model '{args.model}' ({exc}).") from None
        extra = {"batch_size": args.batch_size, "device": args.device}
        try:
            self.lm = cls.create_from_arg_string(args.model_args, extra)
        except TypeError as exc:
            raise UsageError(
                f"lmms-eval model '{args.model}' refused model_args '{args.model_args}': {exc}"
            ) from None
        # lmms-eval has two request formats: chat models take the turns, simple ones the text
        self.chat = not getattr(cls, "is_simple", True)
        self.lm.task_dict = {TASK: {SPLIT: {}}}
        self._ids = itertools.count()
        self.batcher = Batcher(self._run_batch, args.batch_size)

    def _run_batch(self, requests: Sequence[Request]) -> list[ModelOutput]:
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
        finally:
            for doc_id in ids:  # documents live only as long as their request
                docs.pop(doc_id, None)
        latency = time.perf_counter() - start
        outputs = []
        for answer in answers:
            text, counts = self.unwrap(answer)
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
                    timing=Timing(latency=latency),
                    extra={"batch_size": len(requests), "lmms_model": self.lmms_args.model},
                )
            )
        return outputs
