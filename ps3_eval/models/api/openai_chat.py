"""OpenAI chat completions, and any server that speaks them (vLLM, SGLang, LMDeploy, VILA)."""

from __future__ import annotations

import base64
from typing import Any

from pydantic import Field

from ps3_eval.errors import UsageError
from ps3_eval.models.api.base import ApiArgs, ApiBackend, Reply
from ps3_eval.models.api.payload import Prepared
from ps3_eval.models.api.vision import RULES, VisionRule, openai_rule
from ps3_eval.records import Request


def _sdk() -> Any:
    try:
        import openai
    except ImportError:
        raise UsageError(
            'the openai backends need the OpenAI SDK: pip install -e ".[api]".'
        ) from None
    return openai


def _parts(items: list[Any], detail: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for kind, value in items:
        if kind == "text":
            out.append({"type": "text", "text": value})
        else:
            p: Prepared = value
            url = f"data:{p.mime};base64,{base64.b64encode(p.data).decode()}"
            out.append({"type": "image_url", "image_url": {"url": url, "detail": detail}})
    return out


class OpenAIModel(ApiBackend):
    """OpenAI's chat completions API through the official async SDK."""

    name = "openai"
    description = "OpenAI chat completions (GPT-4o and later), official async SDK"
    version = "2"
    code_modules = (
        "ps3_eval.models.api.openai_chat",
        "ps3_eval.models.api.base",
        "ps3_eval.models.api.limits",
        "ps3_eval.models.api.payload",
        "ps3_eval.models.api.vision",
    )
    key_envs = ("OPENAI_API_KEY",)
    token_field = "max_completion_tokens"
    """Newer OpenAI models take ``max_completion_tokens``; servers often only ``max_tokens``."""

    def rule(self) -> VisionRule:
        """The GPT-4o family's tile rule, or the patch rule of the minis."""
        return openai_rule(self.args.model)

    def _make_client(self) -> Any:
        return _sdk().AsyncOpenAI(
            api_key=self._key or "none",
            base_url=self.args.base_url,
            timeout=self.args.timeout,
            max_retries=0,
        )

    async def _call(
        self, client: Any, request: Request, system: str | None, parts: list[Any], max_tokens: int
    ) -> Reply:
        messages: list[dict[str, Any]] = []
        if system:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": _parts(parts, self.args.detail)})
        kwargs: dict[str, Any] = {self.token_field: max_tokens}
        if self.args.temperature is not None:
            kwargs["temperature"] = self.args.temperature
        if request.generation.seed is not None:
            kwargs["seed"] = request.generation.seed
        if request.generation.stop:
            kwargs["stop"] = request.generation.stop
        # The documented low-level call: the same HTTP stack, errors and response type as
        # chat.completions.create, without its per-request walk over the (already plain) body.
        from openai.types.chat import ChatCompletion

        body = {"model": self.args.model, "messages": messages, **kwargs}
        resp = await client.post("/chat/completions", body=body, cast_to=ChatCompletion)
        if not resp.choices:
            raise ValueError("the response has no choices")
        choice = resp.choices[0]
        usage = resp.usage
        return Reply(
            text=choice.message.content or "",
            input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            finish_reason=choice.finish_reason,
            refusal=getattr(choice.message, "refusal", None),
        )


class CompatibleArgs(ApiArgs):
    """An OpenAI-compatible server: ``base_url`` is required, the key optional."""

    base_url: str | None = Field(..., description="the server's /v1 URL, e.g. http://gpu:8000/v1")
    vision_rule: str = Field(
        "none",
        description="whose resize rule the server follows: none (it resizes nothing the toolkit "
        "can know; image tokens unknown), openai-tiles, openai-patches, anthropic, gemini",
    )


class OpenAICompatibleModel(OpenAIModel):
    """Any server that speaks OpenAI's chat completions (vLLM, SGLang, LMDeploy, a VILA server)."""

    name = "openai-compatible"
    description = "any OpenAI-compatible server (vLLM, SGLang, LMDeploy): open models like Qwen2-VL"
    Args = CompatibleArgs
    args: CompatibleArgs
    needs_key = False
    key_envs = ("OPENAI_API_KEY",)
    token_field = "max_tokens"

    def rule(self) -> VisionRule:
        """The rule named by ``vision_rule`` (a local server's processor is its own)."""
        if self.args.vision_rule not in RULES:
            raise UsageError(
                f"unknown vision_rule '{self.args.vision_rule}'; valid: {', '.join(RULES)}."
            )
        return RULES[self.args.vision_rule]
