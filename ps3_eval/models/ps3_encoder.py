"""``ps3``: the PS3 vision encoder on its own (ps3-torch), for selection and efficiency studies.

It answers nothing: each sample records what PS3 did with the image. Tokens per scale (the
low-resolution grid plus the patches selected at each high-resolution scale), the selection
ratio, the selection mask of the largest scale (the runner turns it into the recall of the
answer's box), encoder latency (CUDA-synchronised) and peak GPU memory. Selection probability
maps can be saved as overlays on the image. PS3's test-time controls are arguments:
``num_look_close``, ``num_token_look_close`` (it wins when both are set), ``select_num_each_scale``,
``look_close_mode`` (``after_image``: bottom-up, by saliency; ``after_prompt``: top-down, steered
by the question through PS3's text model) and ``smooth_selection_prob``. PS3 runs in float16 on
a GPU by default, as VILA-HD runs it (so encoder latencies are on the scale of the paper's
Table 9), and in float32 on the CPU. Needs the ``ps3`` extra: ``pip install "ps3-eval[ps3]"``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from ps3_eval.errors import ModelError, UsageError, first_line
from ps3_eval.models.base import Backend, ModelArgs
from ps3_eval.models.torch_device import pick_device, synchronize
from ps3_eval.records import ImagePart, ModelOutput, Request, Selection, TextPart, Timing, Usage

LookClose = int | Literal["all"]


class Ps3Args(ModelArgs):
    """Arguments of the ``ps3`` backend (PS3's test-time controls among them)."""

    model: str = Field(description="hub id (e.g. nvidia/PS3-4K-SigLIP2) or local folder")
    revision: str | None = Field(None, description="hub revision")
    num_look_close: LookClose | None = Field(
        "all", description="high-res selection passes (each selects max_select_num patches), or all"
    )
    num_token_look_close: LookClose | None = Field(
        None, description="high-res patches to select in all (overrides num_look_close), or all"
    )
    select_num_each_scale: str | None = Field(
        None, description="patches per pass at each high-res scale, e.g. 512+2048"
    )
    look_close_mode: Literal["after_image", "after_prompt"] = Field(
        "after_image",
        description="after_image: bottom-up (saliency); after_prompt: top-down (the question)",
    )
    smooth_selection_prob: bool = Field(False, description="smooth the selection probabilities")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="weights' dtype (auto: float16 on a GPU, as VILA-HD; float32 on cpu)"
    )
    device: str = Field("auto", description="auto (cuda:LOCAL_RANK if a GPU is there), cpu, cuda:N")
    maps_dir: str | None = Field(
        None, description="save each scale's selection probabilities over the image here"
    )

    @field_validator("num_look_close", "num_token_look_close")
    @classmethod
    def _non_negative(cls, value: LookClose | None) -> LookClose | None:
        if isinstance(value, int) and value < 0:
            raise ValueError("must be 0 or more, or 'all'")
        return value

    @field_validator("select_num_each_scale")
    @classmethod
    def _per_scale(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d+(\+\d+)*", value):
            raise ValueError("must be numbers joined by '+', e.g. 512+2048")
        return value


def default_dtype(device: str) -> str:
    """float16 on a GPU (VILA-HD runs PS3 so), float32 on the CPU (slow or missing kernels)."""
    return "float16" if device.startswith("cuda") else "float32"


def overlay(image: Any, probs: Any, path: Path) -> None:
    """Save ``probs`` (a 2-D array in [0, 1]) as a heat map over ``image``."""
    import numpy as np
    from PIL import Image

    p = np.asarray(probs, dtype=np.float32)
    span = float(p.max() - p.min()) or 1.0
    heat = ((p - p.min()) / span * 255).astype(np.uint8)
    small = image.convert("RGB")
    small.thumbnail((1024, 1024))  # the aspect ratio kept
    mask = Image.fromarray(heat, "L").resize(small.size, Image.Resampling.NEAREST)
    red = Image.new("RGB", small.size, (255, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.composite(red, small, mask.point(lambda v: int(v * 0.6))).save(path)


def read_selection(
    maps: Any,
    probs: list[Any],
    image_size: tuple[int, int],
    low_res_tokens: int,
    scales: list[int],
    *,
    top_down: bool,
) -> tuple[Selection, dict[str, Any]]:
    """What PS3 selected for one image, from its selection maps (one per high-res scale).

    Shared by the ``ps3`` backend and ``vila-hd`` (whose PS3 tower hands back the same maps).

    Args:
        maps: The selection maps (``B x H x W`` each, the first image is read), or None when no
            high-res pass ran.
        probs: Each high-res scale's selection probabilities for the image (``H x W``).
        image_size: The original image's ``(width, height)``.
        low_res_tokens: Tokens of the low-resolution pass.
        scales: PS3's scales, the low-resolution one first.
        top_down: Whether a prompt steered the selection.

    Returns:
        The selection record (the largest scale's mask, for box recall) and the per-scale facts.
    """
    grids = [tuple(int(v) for v in p.shape[-2:]) for p in probs]
    totals = [h * w for h, w in grids]
    if maps is None:
        selected, top = [0] * len(grids), None
    else:
        selected = [int(m[0].sum()) for m in maps]
        top = maps[-1][0].bool().cpu().numpy()
    n_sel, n_total = sum(selected), sum(totals)
    mode = "full" if n_sel >= n_total else ("top_down" if top_down else "bottom_up")
    rows, cols = grids[-1]
    selection = Selection(
        mode=mode,
        selected_patches=n_sel,
        total_patches=n_total,
        grid=(rows, cols),
        patch_px=image_size[0] / cols,
        patch_px_y=image_size[1] / rows,
        mask_runs=Selection.encode_mask(top) if top is not None else [rows * cols],
    )
    extra: dict[str, Any] = {
        "scales": scales,
        "selected_per_scale": selected,
        "grid_per_scale": [list(g) for g in grids],
        "low_res_tokens": low_res_tokens,
        "selection_ratio": n_sel / n_total if n_total else 0.0,
        "llm_tokens": n_sel // 4,  # VILA-HD's 2x2 projector: a quarter of the patches
    }
    return selection, extra


class Ps3Encoder(Backend):
    """PS3 alone: what it selects and what that costs, per image."""

    name = "ps3"
    kind = "local"
    description = "the PS3 vision encoder alone: tokens per scale, selection, latency (no answer)"
    Args = Ps3Args
    version = "2"
    code_modules = ("ps3_eval.models.ps3_encoder",)
    operational_args: ClassVar[frozenset[str]] = frozenset({"device", "maps_dir"})
    max_concurrency: ClassVar[int | None] = 1

    def __init__(self, args: ModelArgs) -> None:
        super().__init__(args)
        assert isinstance(args, Ps3Args)
        self.ps3_args = args
        try:
            import torch
            from ps3 import PS3ImageProcessor, PS3VisionModel
        except ImportError as exc:
            raise UsageError(
                f"the ps3 backend needs ps3-torch ({exc.name} is missing): "
                f"pip install 'ps3-eval[ps3]'."
            ) from None
        self.torch = torch
        self.device = pick_device(args.device)
        self.dtype_name = default_dtype(self.device) if args.dtype == "auto" else args.dtype
        self.dtype = getattr(torch, self.dtype_name)
        kw: dict[str, Any] = {"revision": args.revision}
        try:
            self.processor = PS3ImageProcessor.from_pretrained(args.model, **kw)
            self.vision = PS3VisionModel.from_pretrained(args.model, **kw)
            self.text_model = self.tokenizer = None
            if args.look_close_mode == "after_prompt":
                from ps3 import PS3TextModel, PS3Tokenizer

                self.tokenizer = PS3Tokenizer.from_pretrained(args.model, **kw)
                self.text_model = PS3TextModel.from_pretrained(args.model, **kw)
        except (OSError, ValueError, RuntimeError) as exc:
            first = first_line(exc, type(exc).__name__)
            raise UsageError(
                f"cannot load PS3 '{args.model}': {first} (offline: pass a local folder)."
            ) from None
        self.vision.to(self.device, self.dtype).eval()
        if self.text_model is not None:
            self.text_model.to(self.device, self.dtype).eval()
        self.encoder = self.vision.vision_model
        if args.select_num_each_scale:
            per_scale = [int(v) for v in args.select_num_each_scale.split("+")]
            if len(per_scale) != len(self.encoder.ps3_scales) - 1:
                raise UsageError(
                    f"select_num_each_scale={args.select_num_each_scale} gives "
                    f"{len(per_scale)} numbers; this PS3 has {len(self.encoder.ps3_scales) - 1} "
                    f"high-res scales ({self.encoder.ps3_scales[1:]})."
                )
            self.encoder.max_select_num_each_scale = per_scale  # this instance's model only

    def args_dict(self) -> dict[str, Any]:
        """The arguments with ``dtype`` resolved.

        ``auto`` runs float16 on a GPU and float32 on the CPU, which are different runs.
        """
        return {**super().args_dict(), "dtype": self.dtype_name}

    def _controls(self) -> dict[str, Any]:
        a = self.ps3_args
        if a.num_token_look_close is not None:
            # ps3-torch takes num_look_close="all" for the whole image, not num_token_look_close
            if a.num_token_look_close == "all":
                return {"num_look_close": "all"}
            return {"num_token_look_close": a.num_token_look_close}
        return {"num_look_close": "all" if a.num_look_close is None else a.num_look_close}

    def encode(self, request: Request) -> ModelOutput:
        """Run PS3 on the request's first image (blocking)."""
        torch = self.torch
        images = [p for m in request.messages for p in m.content if isinstance(p, ImagePart)]
        if not images:
            raise ModelError("the ps3 backend needs an image in the request")
        image = images[0].image
        text = " ".join(p.text for m in request.messages for p in m.content
                        if isinstance(p, TextPart))  # fmt: skip
        start = time.perf_counter()
        pixels = self.processor(image)["pixel_values"][0].unsqueeze(0)
        pixels = pixels.to(self.device, self.dtype)
        prompt = None
        if self.text_model is not None and self.tokenizer is not None:
            with torch.inference_mode():
                tokens = self.tokenizer(text).to(self.device)
                prompt = self.text_model(tokens).prompt
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats(self.device)
        synchronize(self.device)
        begin = time.perf_counter()
        try:
            with torch.inference_mode():
                out = self.vision(
                    pixels,
                    prompt=prompt,
                    smooth_selection_prob=self.ps3_args.smooth_selection_prob,
                    **self._controls(),
                )
            synchronize(self.device)
        except torch.cuda.OutOfMemoryError as exc:
            raise ModelError(f"out of GPU memory in the PS3 encoder: {exc}") from None
        except ValueError as exc:
            if "torch.cat" not in str(exc):
                raise
            # ps3-torch splits a pass's budget over the scales by pixels, rounding down: a last
            # pass of a few patches gives every scale none, and its encoder fails on that
            per_pass = sum(self.encoder.max_select_num_each_scale)
            raise ModelError(
                f"ps3-torch cannot encode num_token_look_close={self.ps3_args.num_token_look_close}"
                f": its last pass of {self.ps3_args.num_token_look_close} mod {per_pass} patches "
                f"is too few to give any scale a patch; take a budget a few patches away."
            ) from None
        end = time.perf_counter()
        probs = [p[0].float().cpu().numpy() for p in out.selection_probs]
        selection, extra = read_selection(
            getattr(out, "selection_maps", None),
            probs,
            image.size,
            int(self.encoder.low_res_token_num),
            list(self.encoder.ps3_scales),
            top_down=prompt is not None,
        )
        low, n_sel = extra["low_res_tokens"], selection.selected_patches
        extra["dtype"] = self.dtype_name
        if self.device.startswith("cuda"):
            extra["peak_memory_mb"] = torch.cuda.max_memory_allocated(self.device) / 2**20
        if self.ps3_args.maps_dir:
            safe = re.sub(r"[^A-Za-z0-9._-]+", "_", request.sample_id)
            paths = []
            for scale, prob in zip(self.encoder.ps3_scales[1:], probs, strict=True):
                path = Path(self.ps3_args.maps_dir) / f"{safe}_{scale}.png"
                overlay(image, prob, path)
                paths.append(str(path))
            extra["maps"] = paths
        return ModelOutput(
            text="",
            usage=Usage(visual_tokens=low + n_sel),
            timing=Timing(
                latency=end - start,
                vision_encoder=end - begin,
                stages={"preprocess": begin - start, "encode": end - begin},
            ),
            image_sizes=[(pixels.shape[-1], pixels.shape[-2])],
            selection=selection,
            extra=extra,
        )

    async def generate(self, request: Request) -> ModelOutput:
        """Encode the request's image in a worker thread."""
        return await self.in_thread(self.encode, request)
