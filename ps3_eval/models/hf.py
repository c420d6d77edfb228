"""``hf``: Hugging Face vision-language models through their processor's chat template.

Any checkpoint that ``AutoModelForImageTextToText`` and ``AutoProcessor`` load (Qwen2-VL and
Qwen2.5-VL, LLaVA-OneVision, LLaVA, InternVL with ``trust_remote_code``, ...), by hub id or local
path. Requests are batched (``batch_size``, left-padded), token counts come from the processor's
own encoding. Images go to the processor as they are, so its own defaults decide their size
(Qwen2-VL's: up to 12,845,056 pixels, 16,384 visual tokens, the setting of the paper's Table 1
row); ``max_pixels`` caps them. A batch's requests each record their share of its wall time.
Needs the ``hf`` extra: ``pip install "ps3-eval[hf]"``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from ps3_eval.errors import UsageError, first_line
from ps3_eval.models.base import ModelArgs
from ps3_eval.models.batching import BatchedBackend, Batcher
from ps3_eval.models.torch_device import pick_device, synchronize
from ps3_eval.records import ImagePart, ModelOutput, Request, TextPart, Timing, Usage


class HfArgs(ModelArgs):
    """Arguments of the ``hf`` backend."""

    model: str = Field(description="hub id (org/name) or local folder of the checkpoint")
    revision: str | None = Field(None, description="hub revision (branch, tag or commit)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="weights' dtype (auto: as the checkpoint says)"
    )
    device: str = Field(
        "auto", description="auto (cuda:LOCAL_RANK when a GPU is there, else cpu), cpu, cuda:N"
    )
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2"] | None = Field(
        None, description="attention kernel (default: the model's choice)"
    )
    max_pixels: int | None = Field(
        None,
        ge=784,
        description="cap on width x height of each image (default: the processor's own)",
    )
    min_pixels: int | None = Field(
        None, ge=784, description="Qwen-style processors: floor on pixels per image"
    )
    batch_size: int = Field(1, ge=1, le=1024, description="requests per forward pass")
    trust_remote_code: bool = Field(False, description="run the checkpoint's own code")


def cap_pixels(size: tuple[int, int], max_pixels: int | None) -> tuple[int, int]:
    """The largest size with the same aspect ratio and at most ``max_pixels`` pixels."""
    w, h = size
    if max_pixels is None or w * h <= max_pixels:
        return size
    scale = math.sqrt(max_pixels / (w * h))
    w2, h2 = max(1, math.floor(w * scale)), max(1, math.floor(h * scale))
    while w2 * h2 > max_pixels:  # floor rounding can still leave a pixel too many
        w2, h2 = max(1, w2 - 1), max(1, math.floor((w2 - 1) * h / w))
    return w2, h2


class HfModel(BatchedBackend):
    """A Hugging Face image-text-to-text model, run locally with batching."""

    name = "hf"
    kind = "local"
    description = "Hugging Face VLMs (Qwen2-VL, LLaVA-OneVision, InternVL, ...) via the processor"
    Args = HfArgs
    version = "3"
    code_modules = ("ps3_eval.models.hf", "ps3_eval.models.batching")
    operational_args: ClassVar[frozenset[str]] = frozenset({"batch_size", "device"})

    def __init__(self, args: ModelArgs) -> None:
        super().__init__(args)
        assert isinstance(args, HfArgs)
        self.hf_args = args
        try:
            import torch
            import transformers as _transformers
        except ImportError:
            raise UsageError(
                "the hf backend needs torch and transformers: pip install 'ps3-eval[hf]'."
            ) from None
        transformers: Any = _transformers  # its stubs do not follow the Auto classes
        self.device = pick_device(args.device)
        common: dict[str, Any] = {
            "revision": args.revision,
            "trust_remote_code": args.trust_remote_code,
        }
        try:
            self.processor = transformers.AutoProcessor.from_pretrained(args.model, **common)
            dtype = "auto" if args.dtype == "auto" else getattr(torch, args.dtype)
            # transformers renamed torch_dtype to dtype in 4.56
            old = tuple(int(x) for x in transformers.__version__.split(".")[:2]) < (4, 56)
            model_kwargs: dict[str, Any] = {"torch_dtype" if old else "dtype": dtype}
            if args.attn_implementation:
                model_kwargs["attn_implementation"] = args.attn_implementation
            self.model = transformers.AutoModelForImageTextToText.from_pretrained(
                args.model, **common, **model_kwargs
            )
        except (OSError, ValueError) as exc:
            first = first_line(exc, type(exc).__name__)
            raise UsageError(
                f"cannot load '{args.model}' with transformers: {first} (offline: pass a local "
                f"folder, or set HF_HUB_OFFLINE=1 with the checkpoint in the hub cache)."
            ) from None
        self.model.to(self.device).eval()
        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is None:
            raise UsageError(f"'{args.model}' has no tokenizer in its processor.")
        self.tokenizer = tokenizer
        tokenizer.padding_side = "left"  # decoder-only generation pads on the left
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        image_processor = getattr(self.processor, "image_processor", None)
        for key in ("max_pixels", "min_pixels"):  # Qwen-style processors resize by pixel budget
            value = getattr(args, key)
            if value is not None and image_processor is not None:
                if hasattr(image_processor, key):
                    setattr(image_processor, key, value)
                if isinstance(getattr(image_processor, "size", None), dict):
                    size = image_processor.size
                    if {"longest_edge", "shortest_edge"} <= set(size):
                        size["longest_edge" if key == "max_pixels" else "shortest_edge"] = value
        token = getattr(self.processor, "image_token", None) or "<image>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(token)
        import inspect

        # tokenizers may return token_type_ids, which most of these models' generate refuses
        self.takes_token_types = (
            "token_type_ids" in inspect.signature(self.model.forward).parameters
        )
        self.vision_seconds = 0.0
        self._hook_vision()
        self.batcher = Batcher(self._run_batch, args.batch_size)

    def _hook_vision(self) -> None:
        """Time the vision tower inside each forward pass (synchronised on CUDA)."""
        tower = None
        for path in (
            "model.vision_tower",
            "vision_tower",
            "model.visual",
            "visual",
            "vision_model",
        ):
            obj: Any = self.model
            for part in path.split("."):
                obj = getattr(obj, part, None)
                if obj is None:
                    break
            if obj is not None:
                tower = obj
                break
        if tower is None:
            return
        started: list[float] = []

        def before(*_: Any) -> None:
            synchronize(self.device)
            started.append(time.perf_counter())

        def after(*_: Any) -> None:
            synchronize(self.device)
            if started:
                self.vision_seconds += time.perf_counter() - started.pop()

        tower.register_forward_pre_hook(before)
        tower.register_forward_hook(after)

    def _conversation(self, request: Request) -> tuple[list[dict[str, Any]], list[Any]]:
        messages, images = [], []
        for message in request.messages:
            content: list[dict[str, Any]] = []
            for part in message.content:
                if isinstance(part, ImagePart):
                    image = part.image
                    size = cap_pixels(image.size, self.hf_args.max_pixels)
                    if size != image.size:
                        from PIL import Image

                        image = image.resize(size, Image.Resampling.BICUBIC)
                    images.append(image)
                    content.append({"type": "image"})
                elif isinstance(part, TextPart):
                    content.append({"type": "text", "text": part.text})
            messages.append({"role": message.role, "content": content})
        return messages, images

    def _run_batch(self, requests: Sequence[Request]) -> list[ModelOutput]:
        import torch

        start = time.perf_counter()
        texts, images, sizes = [], [], []
        for request in requests:
            messages, imgs = self._conversation(request)
            sizes.append([im.size for im in imgs])  # as given to the processor
            texts.append(
                self.processor.apply_chat_template(
                    messages, add_generation_prompt=True, tokenize=False
                )
            )
            images.extend(imgs)
        inputs = self.processor(
            text=texts, images=images or None, return_tensors="pt", padding=True
        ).to(self.device)
        if not self.takes_token_types:
            inputs.pop("token_type_ids", None)
        prepared = time.perf_counter()
        gen = requests[0].generation
        kwargs: dict[str, Any] = {"max_new_tokens": max(r.generation.max_tokens for r in requests)}
        if gen.temperature and gen.temperature > 0:
            kwargs.update(do_sample=True, temperature=gen.temperature)
            if gen.top_p is not None:
                kwargs["top_p"] = gen.top_p
            if gen.seed is not None:
                torch.manual_seed(gen.seed)
        else:
            kwargs["do_sample"] = False
        self.vision_seconds = 0.0
        with torch.inference_mode():
            out = self.model.generate(**inputs, **kwargs, pad_token_id=self.tokenizer.pad_token_id)
        synchronize(self.device)
        done = time.perf_counter()
        n = len(requests)  # each request records its share of the batch's time
        prompt_len = inputs["input_ids"].shape[1]
        eos = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
        outputs = []
        for i, request in enumerate(requests):
            new = out[i, prompt_len:].tolist()
            n_out = next((j for j, t in enumerate(new) if t in eos), len(new))
            new = new[: min(n_out, request.generation.max_tokens)]
            text = self.tokenizer.decode(new, skip_special_tokens=True)
            ids = inputs["input_ids"][i]
            mask = inputs["attention_mask"][i]
            outputs.append(
                ModelOutput(
                    text=text,
                    usage=Usage(
                        input_tokens=int(mask.sum()),
                        visual_tokens=int(((ids == self.image_token_id) & (mask == 1)).sum()),
                        output_tokens=len(new),
                    ),
                    timing=Timing(
                        latency=(done - start) / n,
                        vision_encoder=self.vision_seconds / n,
                        llm=(done - prepared - self.vision_seconds) / n,
                        stages={
                            "preprocess": (prepared - start) / n,
                            "generate": (done - prepared) / n,
                        },
                        batch_size=n,
                        batch_latency=done - start,
                    ),
                    image_sizes=sizes[i],
                )
            )
        return outputs
