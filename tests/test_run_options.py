"""Run options as one model, and the model seam: what the runner asks of any model."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from ps3_eval import RunOptions, evaluate, load_run
from ps3_eval.errors import UsageError, first_line
from ps3_eval.models import Backend, register_model
from ps3_eval.records import ModelOutput, Request
from ps3_eval.runner import OperationalOptions, ResultOptions
from ps3_eval.runner.cache import ResponseCache
from ps3_eval.runner.calls import CachedModel, CallFailed
from ps3_eval.runner.session import prepare_new
from ps3_eval.sweep import run_sweep
from ps3_eval.tasks import Task
from tests.conftest import write_mc_dataset


def _loader_card(root: Path) -> Path:
    """A card whose rows come from a loader with an argument (so task_args can vary)."""
    write_mc_dataset(root, n=4)
    (root / "rows.py").write_text(
        "import json\n"
        "def rows(n=4):\n"
        "    with open(__file__.replace('rows.py', 'data.jsonl')) as fh:\n"
        "        return [json.loads(line) for line in fh][:n]\n"
    )
    card = root / "card.yaml"
    card.write_text(
        card.read_text().replace(
            "source:\n  path: data.jsonl\n", "source:\n  loader: rows.py:rows\n"
        )
    )
    return card


def test_every_result_option_is_in_the_identity_and_no_operational_one(tmp_path: Path) -> None:
    card = _loader_card(tmp_path / "toy")
    copy = tmp_path / "copy.jsonl"
    shutil.copy(card.parent / "data.jsonl", copy)
    other = {  # a value unlike the default for every option that decides results
        "model_args": {"accuracy": 0.5},
        "data": str(copy),
        "task_args": {"n": 3},
        "limit": 2,
        "seed": 1,
        "max_tokens": 5,
        "prompt": "Q: {question}\n{options}",
        "judge": "scripted:answer=A",
        "image_side": 32,
        "no_image": True,
    }
    assert set(other) == set(ResultOptions.model_fields)  # a new option must be listed here
    operational = {
        "concurrency": 2,
        "prefetch": 3,
        "decode_workers": 1,
        "timeout": 9.0,
        "output_dir": str(tmp_path / "elsewhere"),
        "cache": str(tmp_path / "c.sqlite"),
        "shard": "1/2",
        "wait": True,
    }
    assert set(operational) == set(OperationalOptions.model_fields)

    def identity(**options: Any) -> str:
        prep = prepare_new(RunOptions.of(task=str(card), model="scripted", **options))
        return prep.spec.identity()

    base = identity()
    for key, value in other.items():
        assert identity(**{key: value}) != base, f"{key} does not change the run's identity"
    for key, value in operational.items():
        assert identity(**{key: value}) == base, f"{key} changes the run's identity"
    assert not (tmp_path / "elsewhere").exists()  # preparing writes nothing


def test_evaluate_takes_its_options_as_keywords_or_as_one_model(
    toy_card: Path, tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    by_keywords = evaluate(str(toy_card), "scripted", limit=3, output_dir=out)
    options = RunOptions(task=str(toy_card), model="scripted", limit=3, output_dir=out)
    assert evaluate(options=options).run_id == by_keywords.run_id
    assert evaluate(options=options, limit=2).n_total == 2  # keywords win over options
    with pytest.raises(UsageError, match="unknown run option 'limt'"):
        evaluate(str(toy_card), "scripted", limt=3, output_dir=out)
    with pytest.raises(UsageError, match="image_side must be at least 16 pixels, got 8"):
        evaluate(str(toy_card), "scripted", image_side=8, output_dir=out)


def test_a_sweep_sets_run_options_for_its_cells(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "toy", n=4, size=(96, 64))
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        f"name: s\ntasks: ['{card}']\nmodel: scripted\ngrid: {{accuracy: [0.5, 1.0]}}\n"
        f"image_side: 48\noutput_dir: {tmp_path / 'runs'}\n"
    )
    ran = run_sweep(spec)
    assert {c.status for c in ran} == {"done"}
    for cell in ran:
        run = load_run(cell.run_dir or "")
        assert run.spec.image_side == 48
        assert {r.output.image_sizes[0] for r in run.results} == {(48, 32)}
    located = run_sweep(spec, dry_run=True)  # the cells are found with their image side
    assert [c.run_dir for c in located] == [c.run_dir for c in ran]


class PlainModel:
    """Implements the Model protocol and nothing else: no Backend, no registry."""

    name = "plain"

    def __init__(self) -> None:
        self.asked: list[Request] = []

    async def generate(self, request: Request) -> ModelOutput:
        self.asked.append(request)
        return ModelOutput(text="B")

    def fingerprint(self) -> str:
        return "plain-1"


def test_any_object_implementing_the_model_protocol_runs(toy_card: Path, tmp_path: Path) -> None:
    model = PlainModel()
    s = evaluate(str(toy_card), model, output_dir=tmp_path / "runs")
    assert s.n == 12 and s.spec.model == "plain" and s.spec.model_fingerprint == "plain-1"
    assert s.metrics["accuracy"].mean == 0.25 and len(model.asked) == 12
    assert all(r.oracle is None for r in model.asked)  # a real model never sees the answers
    with pytest.raises(UsageError, match="model must be a backend name or an object"):
        evaluate(str(toy_card), object(), output_dir=tmp_path / "runs")


class _Declared(Backend):
    """An API-kind backend that declares it wants the oracle (a recorded-answers replayer)."""

    name = "declares-oracle"
    kind = "api"
    wants_oracle = True

    async def generate(self, request: Request) -> ModelOutput:
        return ModelOutput(text=(request.oracle or ["?"])[0])


class _Refuses(_Declared):
    name = "refuses-oracle"
    kind = "test-double"
    wants_oracle = False


def test_the_oracle_goes_by_the_declared_capability_not_the_kind(
    toy_card: Path, tmp_path: Path
) -> None:
    register_model("declares-oracle", _Declared)
    register_model("refuses-oracle", _Refuses)
    right = evaluate(str(toy_card), "declares-oracle", output_dir=tmp_path / "runs")
    blind = evaluate(str(toy_card), "refuses-oracle", output_dir=tmp_path / "runs")
    assert right.metrics["accuracy"].mean == 1.0
    assert blind.n == 12 and blind.metrics["accuracy"].mean == 0.0


def test_the_prompt_is_built_once_per_sample(
    toy_card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = Task.prompt_text

    def counted(self: Task, sample: Any) -> str:
        calls.append(sample.id)
        return real(self, sample)

    monkeypatch.setattr(Task, "prompt_text", counted)
    s = evaluate(str(toy_card), "scripted", output_dir=tmp_path / "runs")
    assert s.n == 12 and sorted(calls) == sorted(set(calls)) and len(calls) == 12
    assert all(r.prompt and r.prompt.startswith("Which colour") for r in load_run(
        tmp_path / "runs" / s.run_id).results)  # fmt: skip


class _Flaky(Backend):
    name = "flaky"
    calls = 0

    async def generate(self, request: Request) -> ModelOutput:
        type(self).calls += 1
        if type(self).calls == 1:
            return ModelOutput(error="  ")
        if type(self).calls == 2:
            raise RuntimeError("line one\nline two")
        return ModelOutput(text="fine")


def test_a_cached_model_call_stores_answers_only(tmp_path: Path) -> None:
    from ps3_eval.models import ModelArgs
    from ps3_eval.records import Message, TextPart

    cache = ResponseCache(tmp_path / "c.sqlite")
    calls = CachedModel(_Flaky(ModelArgs()), cache)
    request = Request(sample_id="s", messages=[Message(content=[TextPart(text="hi")])])

    async def ask() -> ModelOutput | CallFailed:
        try:
            return await calls.generate(request)
        except CallFailed as exc:
            return exc

    empty, raised, answered, replayed = (asyncio.run(ask()) for _ in range(4))
    assert (
        isinstance(empty, CallFailed) and str(empty) == "flaky returned an error without a message"
    )
    assert isinstance(raised, CallFailed) and first_line(raised) == "RuntimeError: line one"
    assert raised.output.timing.latency > 0
    assert isinstance(answered, ModelOutput) and not answered.cached
    assert isinstance(replayed, ModelOutput) and replayed.cached and replayed.text == "fine"
    assert _Flaky.calls == 3 and len(cache) == 1


def test_first_line() -> None:
    assert first_line(ValueError("\n  bad value\nmore")) == "bad value"
    assert first_line(ValueError(""), "ValueError") == "ValueError"
    assert first_line("one\ntwo") == "one"
