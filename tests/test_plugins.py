"""Code found by name: registries, file.py:function hooks, and scorers typed with their judge."""

from pathlib import Path

import pytest

from ps3_eval.errors import UsageError
from ps3_eval.plugins import Registry, load_hook
from ps3_eval.records import Sample
from ps3_eval.scoring import get_scorer, judged, list_scorers, scorer_metrics
from ps3_eval.tasks import load_task
from tests.conftest import write_mc_dataset


def test_registry_order_and_unknown_names() -> None:
    reg: Registry[int] = Registry("widget", {"one": 1, "lazy": "math:pi"})
    reg.register("two", 2)
    assert reg.names() == ["lazy", "one", "two"] and "one" in reg and "three" not in reg
    assert reg.load("lazy") == pytest.approx(3.14159, abs=1e-5)  # imported when asked for
    reg.register("one", 11)  # a registration replaces a built-in
    assert reg.load("one") == 11
    with pytest.raises(UsageError, match=r"unknown widget 'tow'\. Did you mean 'two'\?"):
        reg.load("tow")
    with pytest.raises(UsageError, match=r"unknown scorer 'acuracy'.*Valid scorers: anls"):
        get_scorer("acuracy")


def test_hooks_load_from_a_file_beside_the_card_or_say_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "hooks.py").write_text("def rows(n=2):\n    return list(range(n))\nVALUE = 3\n")
    assert load_hook("hooks.py:rows", tmp_path, "loader")(n=3) == [0, 1, 2]
    for ref, needle in [
        ("hooks.py", "must look like module:function"),
        ("gone.py:rows", "loader file .*gone.py does not exist"),
        ("hooks.py:VALUE", "no function 'VALUE'"),
        ("no_such_module_here:rows", "cannot import loader module 'no_such_module_here'"),
    ]:
        with pytest.raises(UsageError, match=needle):
            load_hook(ref, tmp_path, "loader")


def test_built_in_scorers_say_their_metrics_and_whether_they_read_a_judge() -> None:
    assert scorer_metrics("multiple_choice") == ("accuracy",)
    assert scorer_metrics("anls") == ("anls",) and scorer_metrics("hooks.py:score") == ()
    for name in list_scorers():
        sample = Sample(id="1", question="q", choices=["a", "b"], targets=["A"])
        values = get_scorer(name)("A", sample).values
        assert set(values) == set(scorer_metrics(name)), name  # every built-in says what it makes
    assert judged(get_scorer("multiple_choice")) is not None
    assert judged(get_scorer("mathvista")) is not None
    assert judged(get_scorer("exact_match")) is None


def _card_with(tmp_path: Path, scorer_source: str) -> Path:
    card = write_mc_dataset(tmp_path, n=2)
    (tmp_path / "hooks.py").write_text("from ps3_eval.scoring import Score\n" + scorer_source)
    card.write_text(card.read_text() + "scorer: hooks.py:score\n")
    return card


def test_a_custom_scorer_that_reads_a_judge_gets_its_reply(tmp_path: Path) -> None:
    card = _card_with(
        tmp_path,
        "def score(prediction, sample, extraction=None):\n"
        "    said = prediction if extraction is None else extraction\n"
        "    ask = None if extraction is not None or said in 'ABCD' else 'which letter?'\n"
        "    return Score({'accuracy': float(said in sample.targets)}, said, judge_prompt=ask)\n",
    )
    task = load_task(str(card))
    sample = next(iter(task.samples()))
    assert task.judged_scorer is not None
    assert task.score("hmm", sample).judge_prompt == "which letter?"
    assert task.score("hmm", sample, extraction="A").values == {"accuracy": 1.0}


def test_a_custom_scorer_without_a_judge_step_is_not_handed_a_reply(tmp_path: Path) -> None:
    card = _card_with(
        tmp_path,
        "def score(prediction, sample):\n"
        "    return Score({'accuracy': 0.0}, None, judge_prompt='which letter?')\n",
    )
    task = load_task(str(card))
    sample = next(iter(task.samples()))
    assert task.judged_scorer is None
    with pytest.raises(UsageError, match="takes no extraction= argument"):
        task.score("hmm", sample, extraction="A")
