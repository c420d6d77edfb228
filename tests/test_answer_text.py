"""What the scorers see of a reply: reasoning removed and white space trimmed, in one place.

The runner turns every backend's text into the prediction it scores (``answer_text``); the record
keeps the raw text in ``output.text`` and the scored text in ``prediction``. The judge's reading
and the re-scoring of stored answers go through the same function.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ps3_eval import evaluate, load_run
from ps3_eval.models import build_model
from ps3_eval.scoring import answer_text
from tests import layouts
from tests.conftest import write_mc_dataset


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<think>maybe blue</think>red", "red"),
        ("<think>\nmaybe blue\n</think>\n\nred\n", "red"),
        ("<THINK>maybe blue</THINK> red", "red"),
        ("<analysis>blue or red?</analysis>red", "red"),
        ("<thinking>a</thinking>b<thinking>c</thinking>", "b"),
        ("maybe blue</think>\nred", "red"),  # the chat template opened <think> in the prompt
        ("<think>maybe blue, then cut off", ""),  # no answer after the reasoning
        ("red <think>second thoughts", "red"),
        ("Yes ", "Yes"),
        ("\n  B.\n", "B."),
        ("a <b>bold</b> answer", "a <b>bold</b> answer"),  # other tags are the answer's
        ("", ""),
    ],
)
def test_answer_text(raw: str, expected: str) -> None:
    assert answer_text(raw) == expected


def test_runs_score_the_answer_and_keep_the_raw_text(tmp_path: Path) -> None:
    # ChartQA's relaxed accuracy compares strings as they are: "Yes " is not "Yes", and a number
    # after a reasoning block does not parse. Every backend's text is cleaned by the runner.
    snap = layouts.write_snapshot(tmp_path / "c", [layouts.chartqa()])  # 12.5, 0, Yes, 40%
    said = {
        "0": "<think>maybe 13</think>12.5",
        "1": " 0",
        "2": "Yes ",
        "3": "It could be 50%.</think>\n40%",
    }
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps(said))
    summary = evaluate(
        "chartqa", f"scripted:answers={answers}", data=str(snap), output_dir=tmp_path / "runs"
    )
    assert summary.metrics["relaxed_accuracy"].mean == 1.0
    records = {r.sample_id: r for r in load_run(tmp_path / "runs" / summary.run_id).results}
    assert {k: r.output.text for k, r in records.items()} == said  # raw text kept
    assert {k: r.prediction for k, r in records.items()} == {
        "0": "12.5",
        "1": "0",
        "2": "Yes",
        "3": "40%",
    }


def test_the_judge_sees_the_answer_and_its_reading_is_cleaned_too(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "d", n=1)  # q000: answer A of red/green/blue/grey
    said = tmp_path / "said.json"
    said.write_text(json.dumps({"q000": "<think>It is B, no, C</think>I cannot say"}))
    judge = build_model("scripted", {"answer": "<think>it says red</think>A"})
    summary = evaluate(
        str(card),
        f"scripted:answers={said}",
        judge=judge,
        cache=tmp_path / "c.sqlite",
        output_dir=tmp_path / "runs",
    )
    assert summary.metrics["accuracy"].mean == 1.0 and summary.n_judged == 1
    (rec,) = load_run(tmp_path / "runs" / summary.run_id).results
    assert rec.prediction == "I cannot say" and rec.extracted == "A"
    assert rec.judge is not None and "It is B" not in rec.judge.prompt
    assert "Answer: I cannot say" in rec.judge.prompt and rec.notes["judged"] == "A"


def test_a_stored_answer_is_rescored_from_its_raw_text_by_the_same_rule(tmp_path: Path) -> None:
    flag = tmp_path / "scorer-down"
    flag.touch()
    card = write_mc_dataset(tmp_path / "d", n=2)  # answers A, B
    (card.parent / "hooks.py").write_text(
        "from pathlib import Path\n"
        "from ps3_eval.scoring import Score\n"
        "def score(prediction, sample):\n"
        f"    if sample.id == 'q001' and Path({str(flag)!r}).exists():\n"
        "        raise ValueError('scorer down')\n"
        "    return Score({'accuracy': float(prediction in sample.targets)}, prediction)\n"
    )
    card.write_text(card.read_text() + "scorer: hooks.py:score\n")
    said = tmp_path / "said.json"
    said.write_text(json.dumps({"q000": "<think>B?</think> A ", "q001": "<think>A?</think>B\n"}))
    model = f"scripted:answers={said}"
    first = evaluate(str(card), model, output_dir=tmp_path / "runs")
    assert first.n_errors == 1
    flag.unlink()
    second = evaluate(str(card), model, output_dir=tmp_path / "runs")
    assert second.complete and second.metrics["accuracy"].mean == 1.0
    rec = {r.sample_id: r for r in load_run(tmp_path / "runs" / second.run_id).results}["q001"]
    assert rec.prediction == "B" and rec.output.text == "<think>A?</think>B\n"
