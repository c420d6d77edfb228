"""Google Gemini through the google-genai SDK (the successor of google-generativeai)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from ps3_eval.errors import UsageError
from ps3_eval.models.api.base import ApiArgs, ApiBackend, Reply
from ps3_eval.models.api.payload import Prepared
from ps3_eval.models.api.vision import VisionRule, gemini_generation, gemini_rule
from ps3_eval.models.base import ModelArgs
from ps3_eval.records import Request

_BLOCKED = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY"}


def _name(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "name", value))


class GeminiArgs(ApiArgs):
    """Gemini's arguments: ``media_resolution`` sets how many tokens an image may take."""

    media_resolution: Literal["low", "medium", "high", "ultra_high"] | None = Field(
        None,
        description="tokens per image: Gemini 3 low 280, medium 560, high 1120, ultra_high 2240 "
        "(3 only); unset: the model's default (1120 on Gemini 3, 258 per tile before)",
    )


class GeminiModel(ApiBackend):
    """Gemini's generateContent through the async client of google-genai."""

    name = "gemini"
    description = "Google Gemini (google-genai SDK, async client)"
    version = "2"
    code_modules = (
        "ps3_eval.models.api.gemini",
        "ps3_eval.models.api.base",
        "ps3_eval.models.api.limits",
        "ps3_eval.models.api.payload",
        "ps3_eval.models.api.vision",
    )
    key_envs = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    Args: ClassVar[type[ModelArgs]] = GeminiArgs
    args: GeminiArgs

    def rule(self) -> VisionRule:
        """Gemini 3's fixed tokens per image, or the tile rule of the models before it."""
        resolution = self.args.media_resolution
        generation = gemini_generation(self.args.model)
        if resolution == "ultra_high" and (generation is None or generation < 3):
            raise UsageError(
                f"media_resolution=ultra_high is for Gemini 3 and later, not {self.args.model}; "
                f"use low, medium or high."
            )
        return gemini_rule(self.args.model, resolution)

    def _make_client(self) -> Any:
        try:
            from google import genai
            from google.genai import types
        except ImportError:
            raise UsageError(
                'the gemini backend needs the google-genai SDK: pip install -e ".[api]".'
            ) from None
        options = types.HttpOptions(
            base_url=self.args.base_url, timeout=int(self.args.timeout * 1000)
        )
        return genai.Client(api_key=self._key, http_options=options).aio

    async def _call(
        self, client: Any, request: Request, system: str | None, parts: list[Any], max_tokens: int
    ) -> Reply:
        from google.genai import types

        resolution = self.args.media_resolution
        # ultra_high exists only per image part; the other levels apply to the whole request.
        per_part = "MEDIA_RESOLUTION_ULTRA_HIGH" if resolution == "ultra_high" else None
        contents: list[Any] = []
        for kind, value in parts:
            if kind == "text":
                contents.append(types.Part.from_text(text=value))
            else:
                p: Prepared = value
                contents.append(
                    types.Part.from_bytes(data=p.data, mime_type=p.mime, media_resolution=per_part)
                )
        config = types.GenerateContentConfig(
            max_output_tokens=max_tokens,
            temperature=self.args.temperature,
            system_instruction=system,
            stop_sequences=request.generation.stop or None,
            seed=request.generation.seed,
            media_resolution=(
                types.MediaResolution(f"MEDIA_RESOLUTION_{resolution.upper()}")
                if resolution and resolution != "ultra_high"
                else None
            ),
        )
        resp = await client.models.generate_content(
            model=self.args.model,
            contents=[types.Content(role="user", parts=contents)],
            config=config,
        )
        usage = resp.usage_metadata
        image_tokens = None
        for detail in getattr(usage, "prompt_tokens_details", None) or []:
            if _name(getattr(detail, "modality", None)) == "IMAGE":
                image_tokens = (image_tokens or 0) + int(detail.token_count or 0)
        candidates = resp.candidates or []
        finish = _name(candidates[0].finish_reason) if candidates else None
        text = ""
        if candidates and candidates[0].content and candidates[0].content.parts:
            text = "".join(p.text or "" for p in candidates[0].content.parts if p.text)
        refusal = None
        blocked = _name(getattr(resp.prompt_feedback, "block_reason", None))
        if blocked:
            refusal, finish = f"prompt blocked ({blocked})", finish or "BLOCKED"
        elif finish in _BLOCKED and not text:
            refusal = f"response blocked ({finish})"
        return Reply(
            text=text,
            input_tokens=int(getattr(usage, "prompt_token_count", 0) or 0),
            output_tokens=int(getattr(usage, "candidates_token_count", 0) or 0)
            + int(getattr(usage, "thoughts_token_count", 0) or 0),
            finish_reason=finish,
            refusal=refusal,
            image_tokens=image_tokens,
        )
