"""Cards ask as the harness behind the paper's VILA-HD numbers did; the other family is a variant.

The expected texts are built here the way each cited harness builds them (lmms-eval's task
utilities, VILA's own scripts), from rows in the datasets' real column layouts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ps3_eval import evaluate, load_run
from ps3_eval.errors import UsageError
from ps3_eval.records import Sample
from ps3_eval.tasks import BrokenSample, load_task
from tests import layouts
from tests.test_cli import cli

MMB_ASK = "Answer with the option's letter from the given choices directly."


def _samples(task: Any) -> list[Sample]:
    out = [s for s in task.samples()]
    assert not any(isinstance(s, BrokenSample) for s in out)
    return out  # type: ignore[return-value]


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return layouts.write_snapshot(
        tmp_path_factory.mktemp("snap"),
        [layouts.chartqa(), layouts.mmbench(), layouts.mmmu_pro(), layouts.mathvista()],
    )


def test_chartqa_asks_as_lmms_eval_and_keeps_the_family_as_a_variant(snapshot: Path) -> None:
    task = load_task("chartqa", data=str(snapshot))
    (first, *_) = _samples(task)
    # lmms-eval chartqa: f"{pre_prompt}{question}{post_prompt}", 16 new tokens
    assert task.prompt_text(first) == f"{first.question}\nAnswer the question with a single word."
    assert task.generation.max_tokens == 16
    llava = load_task("chartqa", data=str(snapshot), args={"variant": "llava"})
    assert llava.prompt_text(first).endswith("using a single word or phrase.")
    assert llava.generation.max_tokens == 32
    with pytest.raises(UsageError, match="has no prompt variant 'vlm'; its variants: llava"):
        load_task("chartqa", data=str(snapshot), args={"variant": "vlm"})


def test_mmbench_puts_hint_question_and_options_as_lmms_eval(snapshot: Path) -> None:
    task = load_task("mmbench", data=str(snapshot))
    samples = _samples(task)
    hinted = next(s for s in samples if s.metadata["hint"])
    plain = next(s for s in samples if not s.metadata["hint"])
    for s in (hinted, plain):
        # lmms-eval: f"{hint} {question} {options}" (the hint only when there is one), options
        # "There are several options:" then one "A. text" line each, then "\n" and the ask
        options = "There are several options:\n" + "\n".join(
            f"{letter}. {text}" for letter, text in zip("ABCD", s.choices or [], strict=False)
        )
        head = f"{s.metadata['hint']} {s.question}" if s.metadata["hint"] else s.question
        assert task.prompt_text(s) == f"{head} {options}\n{MMB_ASK}"
    assert task.generation.max_tokens == 1024
    llava = load_task("mmbench", data=str(snapshot), args={"variant": "llava"})
    assert llava.prompt_text(hinted).startswith(f"{hinted.metadata['hint']}\n{hinted.question}\nA.")


def test_mmmu_pro_sends_the_images_its_question_names(snapshot: Path) -> None:
    task = load_task("mmmu_pro", data=str(snapshot))
    samples = _samples(task)
    # the layout's rows carry 1, 2 and 3 images but name only <image 1>
    assert [len(s.images) for s in samples] == [1, 1, 1]
    s = samples[0]
    options = "\n".join(f"{chr(65 + i)}. {c}" for i, c in enumerate(s.choices or []))
    expected = (
        f"{s.question}\n{options}\n\nAnswer with the option letter from the given choices directly."
    )
    assert task.prompt_text(s) == expected and task.generation.max_tokens == 256


def test_mathvista_sends_query_with_vilas_limit_and_a_reasoning_variant(snapshot: Path) -> None:
    task = load_task("mathvista", data=str(snapshot))
    (s, *_) = _samples(task)
    assert task.prompt_text(s) == s.metadata["query"].strip()
    assert task.generation.max_tokens == 128  # VILA's mathvista script
    reasoning = load_task("mathvista", data=str(snapshot), args={"variant": "reasoning"})
    assert reasoning.generation.max_tokens == 16384
    assert reasoning.prompt_text(s) == task.prompt_text(s)


def _mmbench_test(root: Path) -> Path:
    """MMBench's test split as lmms-lab/MMBench holds it: the answers are not published."""
    config, _, ds = layouts.mmbench(2)
    ds = ds.map(lambda row: {"answer": None, "split": "test"})
    return layouts.write_snapshot(root, [(config, "test", ds)])


def test_mmbench_test_split_is_answered_and_exported_for_submission(tmp_path: Path) -> None:
    import pandas as pd

    data = _mmbench_test(tmp_path / "mmb")
    answers = {"0": "B", "1000000": "The answer is C", "2000000": "A"}
    (tmp_path / "a.json").write_text(__import__("json").dumps(answers))
    summary = evaluate(
        "mmbench", "scripted", model_args={"answers": str(tmp_path / "a.json"), "answer": "D"},
        data=str(data), task_args={"split": "test"}, output_dir=tmp_path / "runs",
    )  # fmt: skip
    # answered, never scored: no accuracy invented from answers nobody published
    assert summary.complete and summary.n_errors == 0 and summary.metrics == {}
    run_dir = tmp_path / "runs" / summary.run_id
    results = load_run(run_dir).results
    assert all(r.notes.get("no_reference") and r.scores == {} for r in results)
    res = cli("export", "submission", str(run_dir), "--to", str(tmp_path / "mmb.xlsx"))
    assert "wrote" in res.stdout
    sheet = pd.read_excel(tmp_path / "mmb.xlsx")
    assert list(sheet["index"]) == sorted(int(r.sample_id) for r in results)
    row = sheet.set_index("index").loc[1000000]
    assert row["prediction"] == "The answer is C"  # as the model said it: the server reads it
    assert row["A"] == "dog" and row["l2-category"] == "Fine-grained Perception"
    assert {"question", "hint", "A", "B", "C", "prediction", "category"} <= set(sheet.columns)
    dev = evaluate("probe4k", "scripted", task_args={"n": 2}, output_dir=tmp_path / "runs")
    bad = cli("export", "submission", str(tmp_path / "runs" / dev.run_id), "--to",
              str(tmp_path / "x.xlsx"), check=False)  # fmt: skip
    assert bad.returncode == 2 and "has no submission format" in bad.stderr
