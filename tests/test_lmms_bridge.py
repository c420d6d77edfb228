"""lmms-eval model classes inside ps3-eval: built and asked the way lmms-eval does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ps3_eval import evaluate, load_run
from ps3_eval.errors import UsageError

# lmms-eval cannot share an environment with ps3-torch (its transformers pin): CI runs this file
# in a second environment (.ci/run) and says so to the first one.
if not os.environ.get("CI") or os.environ.get("PS3_EVAL_LMMS_ELSEWHERE"):
    pytest.importorskip("lmms_eval", reason="needs the lmms extra, in its own environment")


def test_a_simple_model_class_runs_and_resumes(tmp_path: Path) -> None:
    args = {"model": "dummy", "model_args": "response=B"}  # lmms-eval's own no-op model
    first = evaluate("probe4k", "lmms", model_args=args, task_args={"n": 4}, output_dir=tmp_path)
    run = load_run(tmp_path / first.run_id)
    assert [r.prediction for r in run.results] == ["B"] * 4
    assert all(r.error is None and r.output.extra["lmms_model"] == "dummy" for r in run.results)
    truth = [r.targets[0] for r in run.results]
    assert first.metrics["accuracy"].mean == truth.count("B") / 4
    again = evaluate("probe4k", "lmms", model_args=args, task_args={"n": 4}, output_dir=tmp_path)
    assert again.run_id == first.run_id and load_run(tmp_path / first.run_id).results == run.results


def test_a_chat_model_class_answers_as_the_hf_backend(tmp_path: Path) -> None:
    from tests.test_hf import _tiny_llava

    checkpoint = _tiny_llava(tmp_path / "tiny-llava")
    bridged = evaluate(
        "probe4k", "lmms",
        model_args={"model": "llava_hf", "device": "cpu",
                    "model_args": f"pretrained={checkpoint},device_map=cpu"},
        task_args={"n": 3}, output_dir=tmp_path / "lmms", max_tokens=5,
    )  # fmt: skip
    direct = evaluate(
        "probe4k", "hf", model_args={"model": str(checkpoint), "dtype": "float32"},
        task_args={"n": 3}, output_dir=tmp_path / "hf", max_tokens=5,
    )  # fmt: skip
    a = load_run(tmp_path / "lmms" / bridged.run_id).results
    b = load_run(tmp_path / "hf" / direct.run_id).results
    assert all(r.error is None for r in a + b)
    # lmms-eval's chat llava_hf and the hf backend render the same chat template over the same
    # weights: greedy decoding gives the same answers
    assert [r.prediction for r in a] == [r.prediction for r in b]


def test_an_unknown_model_class_is_one_clear_error() -> None:
    from ps3_eval.models import build_model

    with pytest.raises(UsageError, match="lmms-eval has no model 'no_such_model'"):
        build_model("lmms", {"model": "no_such_model"})
