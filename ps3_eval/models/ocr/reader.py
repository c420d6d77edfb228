"""``ocr-reader``: a real CPU OCR model that answers multiple-choice questions about text.

It reads the image at a chosen resolution (whole image) or PS3-style (a low-resolution pass picks
patches, only those are read at high resolution), then picks the option its recognised text
supports. When no option is supported it gives no answer rather than a guess.
"""

from __future__ import annotations

import string
import threading
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from ps3_eval.errors import ModelError
from ps3_eval.models.base import Backend, ModelArgs
from ps3_eval.records import ModelOutput, Request, Timing, Usage


class OcrReaderArgs(ModelArgs):
    """Arguments of the OCR reader."""

    resolution: int = Field(
        3780, ge=64, le=8192, description="long side, in pixels, the image is read at"
    )
    select: float | None = Field(
        None, gt=0.0, le=1.0, description="PS3-style: share of high-res patches to read"
    )
    max_patches: int | None = Field(
        None, ge=1, le=200_000, description="PS3-style: number of high-res patches to read"
    )
    mode: Literal["top_down", "bottom_up"] = Field(
        "top_down",
        description="selection guided by the question: its options and the text it names "
        "(top_down), or by text saliency alone (bottom_up)",
    )
    low_res: int = Field(756, ge=64, le=4096, description="long side of the low-res selection pass")
    threads: int = Field(2, ge=1, le=64, description="ONNX Runtime threads")
    text_score: float = Field(0.5, ge=0.0, le=1.0, description="minimum line confidence")

    @model_validator(mode="after")
    def _consistent(self) -> OcrReaderArgs:
        if self.select is not None and self.max_patches is not None:
            raise ValueError("give select or max_patches, not both")
        if self.selective and self.low_res >= self.resolution:
            raise ValueError(
                f"low_res ({self.low_res}) must be below resolution ({self.resolution})"
            )
        return self

    @property
    def selective(self) -> bool:
        """True when only selected patches are read at high resolution."""
        return self.select is not None or self.max_patches is not None


class OcrReader(Backend):
    """PP-OCRv4 (ONNX, CPU) reading text to answer multiple-choice questions."""

    name = "ocr-reader"
    kind = "embedded"
    description = (
        "CPU OCR (PP-OCRv4 ONNX from the rapidocr-onnxruntime wheel) answering multiple choice "
        "by matching read text to the options; full or PS3-style selective reading"
    )
    Args = OcrReaderArgs
    args: OcrReaderArgs
    version = "5"
    code_modules = (
        "ps3_eval.models.ocr.reader",
        "ps3_eval.models.ocr.engine",
        "ps3_eval.models.ocr.geometry",
        "ps3_eval.models.ocr.mosaic",
        "ps3_eval.models.ocr.selection",
        "ps3_eval.models.ocr.text",
    )
    # One image at a time: each call already uses every core through ONNX Runtime.
    max_concurrency: ClassVar[int | None] = 1

    def __init__(self, args: ModelArgs) -> None:
        super().__init__(args)
        self._engine: Any = None
        self._lock = threading.Lock()

    def _get_engine(self) -> Any:
        with self._lock:
            if self._engine is None:
                from ps3_eval.models.ocr.engine import OcrEngine

                try:
                    self._engine = OcrEngine(
                        threads=self.args.threads, text_score=self.args.text_score
                    )
                except ImportError as exc:
                    raise ModelError(
                        f"ocr-reader needs rapidocr-onnxruntime ({exc}); "
                        f"pip install rapidocr-onnxruntime"
                    ) from None
            return self._engine

    def _read(self, request: Request) -> ModelOutput:
        from ps3_eval.models.ocr.text import match_option, question_anchors

        images = request.images
        if len(images) != 1 or images[0].image is None:
            raise ModelError(f"ocr-reader reads exactly one image per question, got {len(images)}")
        if not request.choices:
            raise ModelError("ocr-reader answers multiple-choice questions only (no choices)")
        engine = self._get_engine()
        image = images[0].image
        a = self.args
        if a.selective:
            result = engine.read_selective(
                image,
                a.resolution,
                select=a.select,
                max_patches=a.max_patches,
                mode=a.mode,
                queries=list(request.choices),
                anchors=question_anchors(request.text) if a.mode == "top_down" else None,
                low_res=a.low_res,
            )
        else:
            result = engine.read_full(image, a.resolution)
        index, confidence = match_option(result.lines, list(request.choices))
        letter = string.ascii_uppercase[index] if index is not None else ""
        selection = result.selection(a.mode)
        stages = {k: v for k, v in result.stages.items() if k != "total"}
        read_w, read_h = round(image.width * result.scale), round(image.height * result.scale)
        return ModelOutput(
            text=letter,
            usage=Usage(
                input_tokens=result.patches,
                visual_tokens=result.patches,
                output_tokens=1 if letter else 0,
            ),
            timing=Timing(
                latency=result.stages.get("total", sum(stages.values())),
                vision_encoder=result.stages.get("total"),
                stages=stages,
            ),
            image_sizes=[(read_w, read_h)],
            selection=selection,
            extra={
                "confidence": round(confidence, 4),
                "read_text": result.text[:2000],
                "lines": len(result.lines),
            },
        )

    async def generate(self, request: Request) -> ModelOutput:
        """Read the request's image in a worker thread and pick an option."""
        return await self.in_thread(self._read, request)
