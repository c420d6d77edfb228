"""Anthropic's Messages API through the official async SDK."""

from __future__ import annotations

import base64
from typing import Any, ClassVar

from pydantic import Field

from ps3_eval.errors import UsageError
from ps3_eval.models.api.base import ApiArgs, ApiBackend, Reply
from ps3_eval.models.api.payload import Prepared
from ps3_eval.models.api.vision import VisionRule, anthropic_rule
from ps3_eval.models.base import ModelArgs
from ps3_eval.records import Request


class AnthropicArgs(ApiArgs):
    """Claude's arguments: temperature is not sent unless given (current SDKs dropped it)."""

    temperature: float | None = Field(
        None, ge=0.0, le=1.0, description="sent only when set (newer Claude models refuse it)"
    )


class AnthropicModel(ApiBackend):
    """Claude through the Messages API."""

    name = "anthropic"
    description = "Anthropic Messages API (Claude), official async SDK"
    version = "2"
    code_modules = (
        "ps3_eval.models.api.anthropic_messages",
        "ps3_eval.models.api.base",
        "ps3_eval.models.api.limits",
        "ps3_eval.models.api.payload",
        "ps3_eval.models.api.vision",
    )
    key_envs = ("ANTHROPIC_API_KEY",)
    Args: ClassVar[type[ModelArgs]] = AnthropicArgs

    def rule(self) -> VisionRule:
        """The classic rule, or the larger one of Opus 4.7 and later."""
        return anthropic_rule(self.args.model)

    def _make_client(self) -> Any:
        try:
            import anthropic
        except ImportError:
            raise UsageError(
                'the anthropic backend needs the Anthropic SDK: pip install -e ".[api]".'
            ) from None
        return anthropic.AsyncAnthropic(
            api_key=self._key, base_url=self.args.base_url, timeout=self.args.timeout, max_retries=0
        )

    async def _call(
        self, client: Any, request: Request, system: str | None, parts: list[Any], max_tokens: int
    ) -> Reply:
        content: list[dict[str, Any]] = []
        for kind, value in parts:
            if kind == "text":
                content.append({"type": "text", "text": value})
            else:
                p: Prepared = value
                data = base64.b64encode(p.data).decode()
                source = {"type": "base64", "media_type": p.mime, "data": data}
                content.append({"type": "image", "source": source})
        kwargs: dict[str, Any] = {}
        if system:
            kwargs["system"] = system
        if self.args.temperature is not None:
            # Not a parameter of current SDKs; older models still read it from the body.
            kwargs["extra_body"] = {"temperature": self.args.temperature}
        if request.generation.stop:
            kwargs["stop_sequences"] = request.generation.stop
        resp = await client.messages.create(
            model=self.args.model,
            max_tokens=max_tokens,
            messages=[{"role": "user", "content": content}],
            **kwargs,
        )
        text = "".join(getattr(b, "text", "") for b in resp.content if b.type == "text")
        stop = resp.stop_reason
        refusal = None
        if stop == "refusal":
            details = getattr(resp, "stop_details", None)
            refusal = text or getattr(details, "explanation", None) or "the model refused"
        return Reply(
            text=text,
            input_tokens=int(resp.usage.input_tokens or 0),
            output_tokens=int(resp.usage.output_tokens or 0),
            finish_reason=stop,
            refusal=refusal,
        )
