"""Google Gemini through the google-genai SDK (the successor of google-generativeai)."""

from __future__ import annotations

from typing import Any

from ps3_eval.errors import UsageError
from ps3_eval.models.api.base import ApiBackend, Reply
from ps3_eval.models.api.payload import Prepared
from ps3_eval.models.api.vision import RULES, VisionRule
from ps3_eval.records import Request

_BLOCKED = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY"}


def _name(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "name", value))


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

    def rule(self) -> VisionRule:
        """Gemini's tile rule."""
        return RULES["gemini"]

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

        contents: list[Any] = []
        for kind, value in parts:
            if kind == "text":
                contents.append(types.Part.from_text(text=value))
            else:
                p: Prepared = value
                contents.append(types.Part.from_bytes(data=p.data, mime_type=p.mime))
        config = types.GenerateContentConfig(
            max_output_tokens=max_tokens,
            temperature=self.args.temperature,
            system_instruction=system,
            stop_sequences=request.generation.stop or None,
            seed=request.generation.seed,
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
