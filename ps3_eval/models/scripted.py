"""A scripted test double: set answers, latency and failures. Not a model of anything."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import string
from pathlib import Path

from pydantic import Field, field_validator

from ps3_eval.errors import ModelError, UsageError
from ps3_eval.models.base import Backend, ModelArgs
from ps3_eval.records import ModelOutput, Request, Timing, Usage


class ScriptedArgs(ModelArgs):
    """Arguments of the scripted test double."""

    answer: str = Field(
        "target",
        description="'target' (the right answer with probability `accuracy`), 'random', "
        "or a fixed answer such as 'A'",
    )
    answers: str | None = Field(
        None, description="JSON or JSONL file of {id: answer}; overrides `answer` for listed ids"
    )
    accuracy: float = Field(1.0, ge=0.0, le=1.0, description="chance of the right answer")
    template: str = Field(
        "{answer}", description="how the answer is worded, e.g. 'Answer: {answer}'"
    )
    latency: float = Field(0.0, ge=0.0, le=3600.0, description="seconds per call")
    jitter: float = Field(0.0, ge=0.0, le=3600.0, description="extra uniform random seconds")
    fail_rate: float = Field(0.0, ge=0.0, le=1.0, description="share of samples whose call fails")
    fail_while: str | None = Field(
        None, description="fail only while this file exists (simulates an outage that ends)"
    )
    seed: int = Field(
        0,
        description="seed of the answer and failure draws (each accuracy draws its own numbers, "
        "so runs at two accuracies are independent, not nested)",
    )

    @field_validator("template")
    @classmethod
    def _has_slot(cls, value: str) -> str:
        if "{answer}" not in value:
            raise ValueError("template must contain '{answer}'")
        return value


def _unit(seed: int, key: str, salt: str) -> float:
    """Deterministic draw in [0, 1) from (seed, sample id, purpose)."""
    digest = hashlib.sha256(f"{seed}|{salt}|{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class ScriptedModel(Backend):
    """Answers from a rule or a file; used to test the pipeline, never reported as a model."""

    name = "scripted"
    kind = "test-double"
    description = "test double: set answers, latency and failures (not a model)"
    Args = ScriptedArgs
    args: ScriptedArgs
    version = "2"
    code_modules = ("ps3_eval.models.scripted",)

    def __init__(self, args: ModelArgs) -> None:
        super().__init__(args)
        self._table: dict[str, str] = {}
        if self.args.answers:
            self._table = _read_answer_table(Path(self.args.answers))

    def _answer(self, request: Request) -> str:
        a, sid = self.args, request.sample_id
        if sid in self._table:
            return self._table[sid]
        letters = list(string.ascii_uppercase[: len(request.choices or [])]) or ["A", "B", "C", "D"]
        if a.answer == "random":
            return letters[int(_unit(a.seed, sid, "random") * len(letters))]
        if a.answer != "target":
            return a.answer
        target = (request.oracle or [""])[0]
        # Each accuracy setting draws its own numbers: with one draw shared by all settings, the
        # samples right at 0.5 would be a subset of those right at 0.7, and no sample could flip
        # from right to wrong between two runs.
        setting = f"{a.accuracy!r}"
        if _unit(a.seed, sid, f"correct|{setting}") < a.accuracy:
            return target
        wrong = [x for x in letters if x != target] if target in letters else [f"not {target}"]
        return wrong[int(_unit(a.seed, sid, f"wrong|{setting}") * len(wrong))]

    async def generate(self, request: Request) -> ModelOutput:
        """Wait the scripted latency, then fail or answer as scripted."""
        a = self.args
        delay = a.latency + (random.random() * a.jitter if a.jitter else 0.0)
        if delay:
            await asyncio.sleep(delay)
        outage = a.fail_while is None or Path(a.fail_while).exists()
        if outage and a.fail_rate and _unit(a.seed, request.sample_id, "fail") < a.fail_rate:
            raise ModelError(f"scripted failure for sample {request.sample_id}")
        text = a.template.format(answer=self._answer(request))
        sizes = [(p.width, p.height) for p in request.images]
        visual = sum(math.ceil(w / 14) * math.ceil(h / 14) for w, h in sizes)
        usage = Usage(
            input_tokens=len(request.text) // 4 + visual,
            visual_tokens=visual,
            output_tokens=max(1, len(text) // 4),
            estimated=True,
        )
        return ModelOutput(text=text, usage=usage, timing=Timing(latency=delay), image_sizes=sizes)


def _read_answer_table(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise UsageError(f"scripted answers file {path} does not exist.")
    text = path.read_text()
    try:
        data = json.loads(text)
        if isinstance(data, dict):
            return {str(k): str(v) for k, v in data.items()}
    except json.JSONDecodeError:
        pass
    table: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            table[str(row["id"])] = str(row["answer"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise UsageError(f"{path}:{n} is not a JSON line with 'id' and 'answer'.") from None
    return table
