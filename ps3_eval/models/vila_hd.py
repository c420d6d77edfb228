"""``vila-hd``: VILA-HD checkpoints through the VILA codebase (its ``llava`` package).

VILA reads PS3's test-time controls from environment variables in its scripts and sets them as
attributes of the loaded model; this backend takes them as arguments and sets the same attributes
on its own model (:func:`apply_controls`), so two backends in one process never share settings
and nothing needs exporting. Hooks on the PS3 tower and on the LLM time the vision encoder, the
LLM's prefill and its decode steps (CUDA-synchronised) and read what PS3 selected. The ``llava``
package is not on PyPI: install VILA from source (README, Local models).
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from ps3_eval.errors import ModelError, UsageError
from ps3_eval.models.base import Backend, ModelArgs
from ps3_eval.models.ps3_encoder import read_selection
from ps3_eval.models.torch_device import synchronize
from ps3_eval.records import ImagePart, ModelOutput, Request, TextPart, Timing, Usage

PASS_PATCHES = 2560
"""High-res patches per PS3 pass in VILA-HD (512 + 2048 over the 1512 and 3780 scales)."""


class VilaHdArgs(ModelArgs):
    """Arguments of the ``vila-hd`` backend (PS3's test-time controls among them)."""

    model: str = Field(description="hub id (Efficient-Large-Model/VILA-HD-...) or local folder")
    num_look_close: int | None = Field(None, ge=0, description="PS3 passes of 2560 patches")
    num_token_look_close: int | None = Field(
        None, ge=0, description="high-res patches in all (overrides num_look_close)"
    )
    select_num_each_scale: str | None = Field(
        None, description="patches per pass at each high-res scale, e.g. 512+2048"
    )
    look_close_mode: Literal["after_prompt", "after_image"] | None = Field(
        None, description="after_prompt: top-down; after_image: bottom-up (default: checkpoint's)"
    )
    smooth_selection_prob: bool | None = Field(None, description="smooth selection probabilities")
    conv_mode: str = Field("auto", description="VILA conversation template")
    dtype: Literal["bfloat16", "float16", "float32"] = Field("bfloat16", description="dtype")

    @field_validator("select_num_each_scale")
    @classmethod
    def _per_scale(cls, value: str | None) -> str | None:
        if value is not None and not all(v.isdigit() for v in value.split("+")):
            raise ValueError("must be numbers joined by '+', e.g. 512+2048")
        return value


CONTROL_ENV = (
    "NUM_LOOK_CLOSE",
    "NUM_TOKEN_LOOK_CLOSE",
    "SELECT_NUM_EACH_SCALE",
    "LOOK_CLOSE_MODE",
    "SMOOTH_SELECTION_PROB",
)
"""The environment variables VILA's scripts read; this backend neither reads nor sets them."""


def ps3_encoder_of(model: Any) -> Any:
    """The PS3 encoder inside a VILA model (where VILA's scripts set select_num_each_scale)."""
    return model.get_vision_tower().vision_tower.vision_model


def apply_controls(model: Any, args: VilaHdArgs) -> None:
    """Set PS3's controls on a loaded VILA model, as VILA's scripts do from the environment.

    The LLM's context is raised to hold the high-res tokens (a quarter of the patches) plus 1024.
    """
    if args.num_look_close is not None:
        model.num_look_close = args.num_look_close
    if args.num_token_look_close is not None:
        model.num_token_look_close = args.num_token_look_close
    if args.select_num_each_scale is not None:
        per_scale = [int(v) for v in args.select_num_each_scale.split("+")]
        encoder = ps3_encoder_of(model)
        if len(per_scale) != len(encoder.ps3_scales) - 1:
            raise UsageError(
                f"select_num_each_scale={args.select_num_each_scale} gives {len(per_scale)} "
                f"numbers; this PS3 has {len(encoder.ps3_scales) - 1} high-res scales."
            )
        encoder.max_select_num_each_scale = per_scale
    if args.look_close_mode is not None:
        model.look_close_mode = args.look_close_mode
    if args.smooth_selection_prob is not None:
        model.smooth_selection_prob = args.smooth_selection_prob
    context = model.tokenizer.model_max_length
    if args.num_look_close is not None:
        context = max(context, args.num_look_close * PASS_PATCHES // 4 + 1024)
    if args.num_token_look_close is not None:
        context = max(context, args.num_token_look_close // 4 + 1024)
    for cfg in (model.config, model.llm.config):
        cfg.model_max_length = context
        cfg.tokenizer_model_max_length = context
    model.tokenizer.model_max_length = context


class _Clock:
    """Per-call timings from forward hooks: the PS3 tower, then each LLM forward."""

    def __init__(self, sync: Any) -> None:
        self.sync = sync
        self.vision = 0.0
        self.llm_calls: list[float] = []
        self.first_llm_tokens = 0
        self.maps: Any = None
        self.probs: Any = None
        self._started: list[float] = []

    def reset(self) -> None:
        self.vision, self.llm_calls, self.first_llm_tokens = 0.0, [], 0
        self.maps = self.probs = None

    def start(self, *_: Any) -> None:
        self.sync()
        self._started.append(time.perf_counter())

    def vision_done(self, _module: Any, _inputs: Any, output: Any) -> None:
        self.sync()
        self.vision += time.perf_counter() - self._started.pop()
        if isinstance(output, tuple) and len(output) >= 3:  # (features, selection_maps, probs)
            self.maps, self.probs = output[1], output[2]

    def llm_done(self, _module: Any, inputs: Any, kwargs: Any, _output: Any) -> None:
        self.sync()
        self.llm_calls.append(time.perf_counter() - self._started.pop())
        if len(self.llm_calls) == 1:
            embeds = kwargs.get("inputs_embeds")
            ids = kwargs.get("input_ids", inputs[0] if inputs else None)
            seq = embeds if embeds is not None else ids
            self.first_llm_tokens = int(seq.shape[1]) if seq is not None else 0


class VilaHd(Backend):
    """VILA-HD with PS3's controls as arguments, timed per stage."""

    name = "vila-hd"
    kind = "local"
    description = "VILA-HD (PS3 + LLM) through the VILA codebase; PS3's controls as arguments"
    Args = VilaHdArgs
    version = "1"
    code_modules = ("ps3_eval.models.vila_hd", "ps3_eval.models.ps3_encoder")
    max_concurrency: ClassVar[int | None] = 1
    _conversation_lock = threading.Lock()
    """VILA keeps the conversation template in a module global: one call at a time sets it."""

    def __init__(self, args: ModelArgs) -> None:
        super().__init__(args)
        assert isinstance(args, VilaHdArgs)
        self.vila_args = args
        try:
            import llava
            import torch
            from llava import conversation
        except ImportError:
            raise UsageError(
                "the vila-hd backend needs VILA's llava package, which is not on PyPI: "
                "git clone https://github.com/NVlabs/VILA && pip install -e VILA (README)."
            ) from None
        self.torch = torch
        self.conversation = conversation
        try:
            self.model = llava.load(args.model)
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot load VILA-HD '{args.model}': {exc}") from None
        self.model = self.model.to(getattr(torch, args.dtype))
        apply_controls(self.model, args)
        self.device = str(next(self.model.parameters()).device)
        self.clock = _Clock(lambda: synchronize(self.device))
        tower = self.model.get_vision_tower()
        tower.register_forward_pre_hook(self.clock.start)
        tower.register_forward_hook(self.clock.vision_done)
        self.model.llm.register_forward_pre_hook(self.clock.start)
        self.model.llm.register_forward_hook(self.clock.llm_done, with_kwargs=True)

    def answer(self, request: Request) -> ModelOutput:
        """Generate one answer (blocking), with the stage timings and PS3's selection."""
        import transformers

        torch = self.torch
        generation_config: Any = transformers.GenerationConfig
        parts: list[Any] = []
        images = []
        for message in request.messages:
            for part in message.content:
                if isinstance(part, ImagePart):
                    parts.append(part.image)
                    images.append(part.image)
                elif isinstance(part, TextPart):
                    parts.append(part.text)
        gen = request.generation
        config = generation_config(
            max_new_tokens=gen.max_tokens,
            do_sample=bool(gen.temperature),
            **({"temperature": gen.temperature} if gen.temperature else {}),
        )
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats(self.device)
        self.clock.reset()
        start = time.perf_counter()
        with self._conversation_lock:
            conv = self.conversation
            conv.default_conversation = conv.conv_templates[self.vila_args.conv_mode].copy()
            try:
                text = self.model.generate_content(parts, generation_config=config)
            except torch.cuda.OutOfMemoryError as exc:
                raise ModelError(f"out of GPU memory in VILA-HD: {exc}") from None
        synchronize(self.device)
        end = time.perf_counter()
        calls = self.clock.llm_calls
        prefill = calls[0] if calls else None
        extra: dict[str, Any] = {"decode_steps": max(0, len(calls) - 1)}
        selection = None
        if self.clock.probs is not None and images:
            encoder = ps3_encoder_of(self.model)
            probs = [p[0].float().cpu().numpy() for p in self.clock.probs]
            selection, facts = read_selection(
                self.clock.maps,
                probs,
                images[0].size,
                int(encoder.low_res_token_num),
                list(encoder.ps3_scales),
                top_down=getattr(self.model, "look_close_mode", None) == "after_prompt",
            )
            extra.update(facts)
        if self.device.startswith("cuda"):
            extra["peak_memory_mb"] = torch.cuda.max_memory_allocated(self.device) / 2**20
        n_out = len(self.model.tokenizer(str(text), add_special_tokens=False).input_ids)
        return ModelOutput(
            text=str(text),
            usage=Usage(
                input_tokens=self.clock.first_llm_tokens,
                # the LLM gets a quarter of PS3's tokens: low-res grid and selected patches
                visual_tokens=(extra["low_res_tokens"] + selection.selected_patches) // 4
                if selection is not None
                else 0,
                output_tokens=n_out,
            ),
            timing=Timing(
                latency=end - start,
                vision_encoder=self.clock.vision,
                llm=sum(calls) if calls else None,
                ttft=(self.clock.vision + prefill) if prefill is not None else None,
                stages={"prefill": prefill or 0.0, "decode": sum(calls[1:])},
            ),
            selection=selection,
            extra=extra,
        )

    async def generate(self, request: Request) -> ModelOutput:
        """Answer in a worker thread."""
        return await self.in_thread(self.answer, request)
