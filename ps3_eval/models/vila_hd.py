"""``vila-hd``: VILA-HD checkpoints through the VILA codebase (its ``llava`` package).

Loading and decoding follow VILA's own evaluation path (``llava.load``, then
``generate_content`` with ``model.default_generation_config`` updated by the task's limits, as
VILA's lmms-eval model class does): float16 weights through ``from_pretrained(torch_dtype=...)``,
buffers as loaded (the LLM's rotary ``inv_freq`` stays float32), the vision tower and projector
moved to float16. ``dtype=bfloat16`` takes the same steps with bfloat16 and casts the images to
match (VILA's ``generate_content`` makes them float16).

VILA reads PS3's test-time controls from environment variables in its scripts and sets them as
attributes of the loaded model; this backend takes them as arguments and sets the same attributes
on its own model (:func:`apply_controls`), so two backends in one process never share settings.

Token and stage accounting come from the real forward passes: hooks on the PS3 tower and the LLM,
and a wrapper around the LLM's ``generate``, tell the top-down pass (``after_prompt``: the LLM
over the low-resolution tokens and the prompt, whose last hidden state steers PS3) from the
prefill and the decode steps. The visual tokens are the ones VILA feeds its LLM: the projector's
low-resolution grid (196 for PS3's 27x27) plus each 2x2 block of high-resolution patches that is
wholly selected (the paper's #Token: 4036 at 4K with 18% of the patches).
The ``llava`` package is not on PyPI: install VILA from source (README, Local models).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from ps3_eval.errors import ModelError, UsageError, first_line
from ps3_eval.models.base import Backend, ModelArgs
from ps3_eval.models.ps3_encoder import read_selection
from ps3_eval.models.torch_device import synchronize
from ps3_eval.records import ImagePart, ModelOutput, Request, TextPart, Timing, Usage

PASS_PATCHES = 2560
"""High-res patches per PS3 pass in VILA-HD (VILA sizes the LLM's context by it)."""


class VilaHdArgs(ModelArgs):
    """Arguments of the ``vila-hd`` backend (PS3's test-time controls among them)."""

    model: str = Field(description="hub id (nvidia/VILA-HD-8B-PS3-4K-SigLIP, ...) or local folder")
    num_look_close: int | None = Field(None, ge=1, description="PS3 passes of 2560 patches")
    num_token_look_close: int | None = Field(
        None, ge=1, description="high-res patches in all (overrides num_look_close)"
    )
    select_num_each_scale: str | None = Field(
        None, description="patches per pass at each high-res scale, e.g. 512+2048"
    )
    look_close_mode: Literal["after_prompt", "after_image"] | None = Field(
        None, description="after_prompt: top-down; after_image: bottom-up (default: checkpoint's)"
    )
    smooth_selection_prob: bool | None = Field(None, description="smooth selection probabilities")
    conv_mode: str = Field("auto", description="VILA conversation template")
    dtype: Literal["float16", "bfloat16"] = Field(
        "float16", description="float16 as VILA loads it; bfloat16 on request"
    )

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


def load_vila(path: str, dtype: str) -> Any:
    """Load a VILA-HD checkpoint as VILA does, in ``dtype``.

    float16 is ``llava.load`` itself (what ``vila-infer`` and ``vila-eval`` run). VILA's builder
    hard-codes float16, with the bfloat16 lines commented out beside it; bfloat16 takes those
    steps with those lines: ``config.model_dtype`` decides the dtype every part is loaded in by
    ``from_pretrained``, then the vision tower and projector are moved with ``.to``.
    """
    import llava

    if dtype == "float16":
        return llava.load(path)
    import torch
    from llava.conversation import auto_set_conversation_mode
    from llava.model import LlavaLlamaModel, LlavaTopDownLlamaModel
    from transformers import AutoConfig

    auto_set_conversation_mode(path)
    path = os.path.expanduser(path)
    if os.path.exists(os.path.join(path, "model")):
        path = os.path.join(path, "model")
    torch_dtype = getattr(torch, dtype)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    config = AutoConfig.from_pretrained(path)
    config.resume_path = path
    if getattr(config, "vision_tower_cfg", None) is None:
        config.vision_tower_cfg = config.mm_vision_tower
    config.model_dtype = str(torch_dtype)
    cls = LlavaTopDownLlamaModel if "topdown" in config.model_type.lower() else LlavaLlamaModel
    device_map: Any = "auto" if device == "cuda" else {"": device}
    model = cls(config=config, low_cpu_mem_usage=True, device_map=device_map)
    model.eval()
    model.resize_token_embeddings(len(model.tokenizer))
    model.get_vision_tower().to(device=device, dtype=torch_dtype)
    model.get_mm_projector().to(device=device, dtype=torch_dtype)
    return model


def fed_visual_tokens(maps: Any, low_res_tokens: int, ratio: int = 2, images: int = 1) -> int:
    """The visual tokens VILA-HD's LLM gets for a request's images, by VILA's rule.

    The projector merges ``ratio x ratio`` neighbours: each image's low-resolution grid becomes
    ``ceil(side / ratio)^2`` tokens (196 for PS3's 27x27), and of each high-res scale only the
    merged tokens whose ``ratio x ratio`` patches are all selected are kept (VILA's area
    interpolation of the selection map equal to 1); an image with none kept gets one
    placeholder token.

    Args:
        maps: PS3's selection maps (``B x H x W`` per high-res scale, one row per image), or
            None when no high-res pass ran.
        low_res_tokens: Tokens of PS3's low-resolution pass (729).
        ratio: The projector's downsampling (2 for ``mlp_downsample`` / ``_2x2_fix``).
        images: The images encoded, when ``maps`` is None.
    """
    import torch.nn.functional as F

    low = math.ceil(math.isqrt(low_res_tokens) / ratio) ** 2
    if maps is None:
        return images * (low + 1)
    total = 0
    for b in range(int(maps[0].shape[0])):
        high = 0
        for m in maps:
            grid = m[b : b + 1].float().unsqueeze(1)
            size = (math.ceil(grid.shape[-2] / ratio), math.ceil(grid.shape[-1] / ratio))
            high += int((F.interpolate(grid, size, mode="area") == 1).sum())
        total += low + (high or 1)
    return total


def projector_ratio(model: Any) -> int:
    """The 2x2 or 3x3 merge of VILA's ``mlp_downsample`` projectors (1 for the others)."""
    kind = str(getattr(model.get_mm_projector().config, "mm_projector_type", ""))
    return 3 if "3x3" in kind else 2 if "mlp_downsample" in kind else 1


class _Clock:
    """One call's forward passes, from hooks.

    PS3 tower calls, LLM passes inside and outside ``generate`` (the top-down pass runs outside
    it), and what ``generate`` returned.
    """

    def __init__(self, sync: Callable[[], None]) -> None:
        self.sync = sync
        self.reset()

    def reset(self) -> None:
        self.vision: list[float] = []
        self.top_down: list[float] = []
        self.steps: list[float] = []
        self.prefill_tokens = 0
        self.prefill_end: float | None = None
        self.generating = False
        self.generated: Any = None
        self.maps: Any = None
        self.probs: Any = None
        self._started: list[float] = []

    def start(self, *_: Any) -> None:
        self.sync()
        self._started.append(time.perf_counter())

    def vision_done(self, _module: Any, _inputs: Any, output: Any) -> None:
        self.sync()
        self.vision.append(time.perf_counter() - self._started.pop())
        if isinstance(output, tuple) and len(output) >= 3:  # (features, maps, probabilities)
            self.maps, self.probs = output[1], output[2]

    def llm_done(self, _module: Any, inputs: Any, kwargs: Any, _output: Any) -> None:
        self.sync()
        now = time.perf_counter()
        took = now - self._started.pop()
        if not self.generating:
            self.top_down.append(took)
            return
        if not self.steps:  # the prefill: the whole prompt, images included
            embeds = kwargs.get("inputs_embeds")
            ids = kwargs.get("input_ids", inputs[0] if inputs else None)
            seq = embeds if embeds is not None else ids
            self.prefill_tokens = int(seq.shape[1]) if seq is not None else 0
            self.prefill_end = now
        self.steps.append(took)

    def wrap_generate(self, generate: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.generating = True
            try:
                self.generated = generate(*args, **kwargs)
                return self.generated
            finally:
                self.generating = False

        return timed


def _generated_tokens(ids: Any, stops: Any) -> int:
    """Tokens generated before the first stop token (the stop token itself is not counted)."""
    if ids is None:
        return 0
    stop_ids = {int(s) for s in (stops if isinstance(stops, list | tuple) else [stops])
                if s is not None}  # fmt: skip
    sequence = ids[0].tolist() if hasattr(ids, "tolist") else list(ids[0])
    return next((i for i, t in enumerate(sequence) if t in stop_ids), len(sequence))


class VilaHd(Backend):
    """VILA-HD with PS3's controls as arguments, timed per stage."""

    name = "vila-hd"
    kind = "local"
    description = "VILA-HD (PS3 + LLM) through the VILA codebase; PS3's controls as arguments"
    Args = VilaHdArgs
    version = "2"
    code_modules = ("ps3_eval.models.vila_hd", "ps3_eval.models.ps3_encoder")
    max_concurrency: ClassVar[int | None] = 1
    _conversation_lock = threading.Lock()
    """VILA keeps the conversation template in a module global: one call at a time sets it."""

    def __init__(self, args: ModelArgs) -> None:
        super().__init__(args)
        assert isinstance(args, VilaHdArgs)
        self.vila_args = args
        try:
            import llava  # noqa: F401
            import torch
            from llava import conversation
        except ImportError:
            raise UsageError(
                "the vila-hd backend needs VILA's llava package, which is not on PyPI: "
                "git clone https://github.com/NVlabs/VILA && pip install -e VILA (README)."
            ) from None
        self.torch = torch
        self.conversation = conversation
        if args.conv_mode not in conversation.conv_templates:
            raise UsageError(
                f"conv_mode '{args.conv_mode}' is not one of VILA's templates: "
                f"{', '.join(sorted(conversation.conv_templates))}."
            )
        try:
            self.model = load_vila(args.model, args.dtype)
        except (OSError, ValueError) as exc:
            first = first_line(exc, type(exc).__name__)
            raise UsageError(f"cannot load VILA-HD '{args.model}': {first}") from None
        apply_controls(self.model, args)
        tower = self.model.get_vision_tower()
        self.device = str(next(tower.parameters()).device)
        self.clock = _Clock(lambda: synchronize(self.device))
        dtype = getattr(torch, args.dtype)

        def images_in_model_dtype(_module: Any, inputs: Any) -> Any:
            # generate_content makes images float16; a bfloat16 model gets them cast to match
            if inputs and torch.is_tensor(inputs[0]) and inputs[0].dtype != dtype:
                return (inputs[0].to(dtype), *inputs[1:])
            return None

        tower.register_forward_pre_hook(images_in_model_dtype)
        tower.register_forward_pre_hook(self.clock.start)
        tower.register_forward_hook(self.clock.vision_done)
        llm = self.model.llm
        llm.register_forward_pre_hook(self.clock.start)
        llm.register_forward_hook(self.clock.llm_done, with_kwargs=True)
        llm.generate = self.clock.wrap_generate(llm.generate)  # this model's LLM only

    def generation_config(self, request: Request) -> Any:
        """VILA's default generation config (stop tokens, pad, bos), updated by the request."""
        gen = request.generation
        config = self.model.default_generation_config
        update: dict[str, Any] = {"max_new_tokens": gen.max_tokens, "do_sample": False}
        if gen.temperature:
            update.update(do_sample=True, temperature=gen.temperature)
            if gen.top_p is not None:
                update["top_p"] = gen.top_p
        config.update(**update)
        return config

    def answer(self, request: Request) -> ModelOutput:
        """Generate one answer (blocking), with the stage timings and PS3's selection."""
        torch = self.torch
        parts: list[Any] = []
        images = []
        for message in request.messages:
            for part in message.content:
                if isinstance(part, ImagePart):
                    parts.append(part.image)
                    images.append(part.image)
                elif isinstance(part, TextPart):
                    parts.append(part.text)
        config = self.generation_config(request)
        gen = request.generation
        if gen.temperature and gen.seed is not None:
            torch.manual_seed(gen.seed)
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
        clock = self.clock
        if not clock.steps:
            raise ModelError("VILA-HD returned without running its LLM's generate")
        encoder = ps3_encoder_of(self.model)
        low_res = int(encoder.low_res_token_num)
        extra: dict[str, Any] = {
            "decode_steps": len(clock.steps) - 1,
            "top_down_passes": len(clock.top_down),
            "dtype": self.vila_args.dtype,
        }
        selection = None
        if clock.probs is not None and images:
            probs = [p[0].float().cpu().numpy() for p in clock.probs]
            selection, facts = read_selection(
                clock.maps,
                probs,
                images[0].size,
                low_res,
                list(encoder.ps3_scales),
                top_down=getattr(self.model, "look_close_mode", None) == "after_prompt",
            )
            extra.update(facts)
        visual = (
            fed_visual_tokens(clock.maps, low_res, projector_ratio(self.model)) if images else 0
        )
        if self.device.startswith("cuda"):
            extra["peak_memory_mb"] = torch.cuda.max_memory_allocated(self.device) / 2**20
        prefill, decode = clock.steps[0], sum(clock.steps[1:])
        top_down = sum(clock.top_down)
        return ModelOutput(
            text=str(text),
            usage=Usage(
                input_tokens=clock.prefill_tokens,
                visual_tokens=visual,
                output_tokens=_generated_tokens(clock.generated, config.eos_token_id),
            ),
            timing=Timing(
                latency=end - start,
                vision_encoder=sum(clock.vision),
                llm=top_down + prefill + decode,
                ttft=(clock.prefill_end or end) - start,
                stages={"top_down": top_down, "prefill": prefill, "decode": decode},
            ),
            selection=selection,
            extra=extra,
        )

    async def generate(self, request: Request) -> ModelOutput:
        """Answer in a worker thread."""
        return await self.in_thread(self.answer, request)
