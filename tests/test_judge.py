"""Judges: any registered model reads what the rules cannot; cached, recorded apart."""

from __future__ import annotations

import json
from pathlib import Path

from ps3_eval.analysis import load_run, samples_df
from ps3_eval.records import SampleResult
from ps3_eval.runner import evaluate
from tests import layouts

# MathVista rows: pid 1 multiple choice (answer y = B), 2 integer 7, 3 float 1.45, 4 list [1, 3].
MODEL_ANSWERS = {"1": "y", "2": "It is either 6 or 7, hard to say", "3": "1.45", "4": "[1, 3]"}


def _setup(tmp_path: Path) -> tuple[Path, str]:
    snap = layouts.write_snapshot(tmp_path / "mv", [layouts.mathvista()])
    answers = tmp_path / "model.json"
    answers.write_text(json.dumps(MODEL_ANSWERS))
    return snap, f"scripted:answers={answers}"


def _records(run_dir: Path) -> dict[str, SampleResult]:
    return {r.sample_id: r for r in load_run(run_dir).results}


def test_without_a_judge_the_summary_says_rules_only(tmp_path: Path) -> None:
    snap, model = _setup(tmp_path)
    summary = evaluate("mathvista", model, data=str(snap), output_dir=tmp_path / "runs")
    assert summary.extraction == "rule-based extraction only"
    assert summary.metrics["accuracy"].mean == 0.75 and summary.n_unparsed == 1
    assert summary.n_judged == 0


def test_a_judge_reads_the_rest_with_its_own_tokens_and_cache(tmp_path: Path) -> None:
    snap, model = _setup(tmp_path)
    judge_answers = tmp_path / "judge.json"
    judge_answers.write_text(json.dumps({"judge:2": "7"}))
    judge = f"scripted:answers={judge_answers}"
    cache = tmp_path / "cache.sqlite"
    summary = evaluate(
        "mathvista",
        model,
        data=str(snap),
        output_dir=tmp_path / "runs",
        judge=judge,
        cache=cache,
    )
    assert summary.metrics["accuracy"].mean == 1.0 and summary.n_judged == 1
    assert summary.extraction.startswith("rules, then the judge")
    assert summary.judge_tokens.input > 0 and summary.judge_tokens.output >= 1
    run = load_run(next((tmp_path / "runs").iterdir()))
    rec = _records(run.dir)["2"]
    assert rec.judge is not None and rec.judge.text == "7" and rec.judge.model == "scripted"
    assert rec.judge.cached is False and rec.notes["judged"] == "7"
    assert "Response: It is either 6 or 7" in rec.judge.prompt
    # The model's own tokens do not include the judge's.
    # The scripted judge counts a token per four characters of its prompt (no image), and one
    # for its answer; those are the run's judge tokens, and none of them the model's.
    judge_in = len(rec.judge.prompt) // 4
    assert (rec.judge.usage.input_tokens, rec.judge.usage.output_tokens) == (judge_in, 1)
    assert (summary.judge_tokens.input, summary.judge_tokens.output) == (judge_in, 1)
    visual = rec.output.usage.visual_tokens
    assert rec.output.usage.input_tokens == len(rec.prompt or "") // 4 + visual
    assert _records(run.dir)["1"].judge is None
    assert run.spec.judge is not None and run.spec.judge_model == "scripted"
    df = samples_df(tmp_path / "runs").set_index("sample_id")
    assert bool(df.loc["2", "judged"]) and not bool(df.loc["2", "unparsed"])
    assert df.loc["2", "judge_input_tokens"] > 0 and not bool(df.loc["1", "judged"])

    # A new run with the same judge replays its answer from the cache.
    again = evaluate(
        "mathvista",
        model,
        data=str(snap),
        output_dir=tmp_path / "runs2",
        judge=judge,
        cache=cache,
    )
    assert again.metrics["accuracy"].mean == 1.0
    rec2 = _records(next((tmp_path / "runs2").iterdir()))["2"]
    assert rec2.judge is not None and rec2.judge.cached is True and rec2.judge.text == "7"


def test_a_failing_judge_leaves_the_rule_based_score(tmp_path: Path) -> None:
    snap, model = _setup(tmp_path)
    summary = evaluate(
        "mathvista",
        model,
        data=str(snap),
        output_dir=tmp_path / "runs",
        judge="scripted:fail_rate=1",
        cache=tmp_path / "c.sqlite",
    )
    assert summary.n_errors == 0 and summary.metrics["accuracy"].mean == 0.75
    assert summary.n_judged == 0 and summary.n_unparsed == 1
    rec = _records(next((tmp_path / "runs").iterdir()))["2"]
    assert rec.judge is not None and "scripted failure" in (rec.judge.error or "")
    assert "unparsed" in rec.notes
