"""Prompts: the family defaults, a card's own, a model's own, and a run's --prompt-file."""

from __future__ import annotations

from pathlib import Path

from ps3_eval.analysis import load_run
from ps3_eval.models.scripted import ScriptedArgs, ScriptedModel
from ps3_eval.runner import evaluate
from ps3_eval.tasks import load_task
from ps3_eval.tasks.card import DEFAULT_MC_PROMPT, DEFAULT_SHORT_PROMPT
from tests import layouts
from tests.test_cli import cli


class TerseScripted(ScriptedModel):
    """A model whose own prompt differs from the card's."""

    def prompt_for(self, task: str, template: str) -> str | None:
        return "Q: {question}\n{options}\nLetter:" if task == "toy" else None


def test_family_defaults_follow_the_kind_of_question(toy_card: Path, tmp_path: Path) -> None:
    assert load_task(str(toy_card)).prompt_template == DEFAULT_MC_PROMPT
    assert "Answer with the option's letter from the given choices directly." in DEFAULT_MC_PROMPT
    snap = layouts.write_snapshot(tmp_path / "c", [layouts.docvqa()])
    assert load_task("docvqa", data=str(snap)).prompt_template == DEFAULT_SHORT_PROMPT
    assert DEFAULT_SHORT_PROMPT.endswith("Answer the question using a single word or phrase.")


def test_model_prompt_then_run_prompt_override_the_card(toy_card: Path, tmp_path: Path) -> None:
    base = evaluate(str(toy_card), "scripted", output_dir=tmp_path / "runs")
    terse = evaluate(str(toy_card), TerseScripted(ScriptedArgs()), output_dir=tmp_path / "runs")
    override = evaluate(
        str(toy_card),
        TerseScripted(ScriptedArgs()),
        output_dir=tmp_path / "runs",
        prompt="{question}\nOptions:\n{options}\nReply with one letter.",
    )
    ids = {base.run_id, terse.run_id, override.run_id}
    assert len(ids) == 3  # a different prompt is a different run
    runs = {r: load_run(tmp_path / "runs" / r) for r in ids}
    assert runs[base.run_id].spec.prompt is None
    first = {r: {x.sample_id: x.prompt for x in runs[r].results}["q000"] for r in ids}
    options = "A. red\nB. green\nC. blue\nD. grey"
    assert first[terse.run_id] == f"Q: Which colour is square 0?\n{options}\nLetter:"
    assert first[override.run_id] == (
        f"Which colour is square 0?\nOptions:\n{options}\nReply with one letter."
    )
    assert first[base.run_id] == DEFAULT_MC_PROMPT.format(
        question="Which colour is square 0?", options=options
    )
    # The spec names the prompt that decided the run: the model's own, or the run's override.
    assert runs[terse.run_id].spec.prompt == "Q: {question}\n{options}\nLetter:"
    assert runs[override.run_id].spec.prompt == (
        "{question}\nOptions:\n{options}\nReply with one letter."
    )


def test_prompt_file_from_the_cli(toy_card: Path, tmp_path: Path) -> None:
    template = tmp_path / "prompt.txt"
    template.write_text("Look closely.\n{question}\n{options}\nLetter only.\n")
    common = ["run", "-t", str(toy_card), "-m", "scripted", "--output-dir", str(tmp_path / "runs")]
    cli(*common, "--prompt-file", str(template), "-q")
    run = load_run(next((tmp_path / "runs").iterdir()))
    assert (run.results[0].prompt or "").startswith("Look closely.\nWhich colour")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    res = cli(*common, "--prompt-file", str(empty), "-q", check=False)
    assert res.returncode == 2 and "is empty" in res.stderr and "Traceback" not in res.stderr
