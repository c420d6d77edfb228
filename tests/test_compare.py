"""Paired comparison of runs, run listings, and the machine-readable listings."""

from __future__ import annotations

import json
import math
from math import comb
from pathlib import Path

import numpy as np
import pytest

from ps3_eval.compare import compare_runs, mcnemar_exact, paired_stat
from ps3_eval.errors import UsageError
from ps3_eval.runner import evaluate
from tests.conftest import LETTERS, write_mc_dataset
from tests.test_cli import cli


def _run(
    card: Path,
    out: Path,
    wrong: set[int] | None = None,
    right: set[int] | None = None,
    limit: int | None = None,
    n: int = 12,
) -> Path:
    """A scripted run of the 12-item toy card: all right except `wrong` (or only `right`)."""
    answers = {}
    for i in range(n):
        ok = (i not in (wrong or set())) if right is None else i in right
        target = LETTERS[i % 4]
        answers[f"q{i:03d}"] = target if ok else LETTERS[(i + 1) % 4]
    file = out.parent / f"{out.name}.json"
    file.write_text(json.dumps(answers))
    summary = evaluate(str(card), f"scripted:answers={file}", output_dir=out, limit=limit)
    return out / summary.run_id


def test_identical_runs_differ_by_nothing(toy_card: Path, tmp_path: Path) -> None:
    a = _run(toy_card, tmp_path / "a", wrong={1, 5})
    b = _run(toy_card, tmp_path / "b", wrong={1, 5})
    c = compare_runs(a, b)
    assert c.overall.delta == 0 and c.overall.p_value == 1.0 and c.flipped == []
    assert c.overall.ci_low == c.overall.ci_high == 0 and c.n_shared == 12


def test_known_flips_give_the_exact_mcnemar_p(toy_card: Path, tmp_path: Path) -> None:
    a = _run(toy_card, tmp_path / "a")  # all right
    b = _run(toy_card, tmp_path / "b", wrong={0, 3, 7, 9})  # four flipped to wrong, none back
    c = compare_runs(a, b)
    assert c.overall.only_a == 4 and c.overall.only_b == 0
    assert c.overall.p_value == pytest.approx(2 * 0.5**4)
    assert c.overall.delta == pytest.approx(-4 / 12)
    # The paired bootstrap resamples twelve differences, four of them -1: its mean is -K/12 with
    # K ~ Binomial(12, 1/3), whose 2.5% and 97.5% quantiles are 1 and 7 (P(K <= 0) = 0.008,
    # P(K <= 1) = 0.054; P(K <= 6) = 0.934, P(K <= 7) = 0.981), far from any edge 2000 draws
    # could cross.
    assert (c.overall.ci_low, c.overall.ci_high) == pytest.approx((-7 / 12, -1 / 12))
    assert sorted(f.sample_id for f in c.flipped) == ["q000", "q003", "q007", "q009"]
    # Per bucket: the toy card's categories alternate gaming / ui.
    assert c.by_category["gaming"].only_a == 1 and c.by_category["ui"].only_a == 3


def test_mcnemar_matches_the_binomial_definition() -> None:
    for x, y in [(0, 0), (3, 1), (10, 2), (7, 7)]:
        n, k = x + y, min(x, y)
        expected = 1.0 if n == 0 else min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n)
        assert mcnemar_exact(x, y) == pytest.approx(expected)
    st = paired_stat([0.5, 0.2], [0.7, 0.2])
    assert st.p_value is None and st.delta == pytest.approx(0.1)


def test_compare_refuses_other_tasks_and_no_shared_samples(toy_card: Path, tmp_path: Path) -> None:
    a = _run(toy_card, tmp_path / "a")
    other = write_mc_dataset(tmp_path / "other", n=4)
    other.write_text(other.read_text().replace("name: toy", "name: toy2"))
    b = evaluate(str(other), "scripted", output_dir=tmp_path / "b")
    with pytest.raises(UsageError, match="different tasks"):
        compare_runs(a, tmp_path / "b" / b.run_id)
    failing = evaluate(str(toy_card), "scripted:fail_rate=1", output_dir=tmp_path / "c")
    with pytest.raises(UsageError, match="no scored sample in common"):
        compare_runs(a, tmp_path / "c" / failing.run_id)


def test_compare_runs_and_listings_from_the_cli(toy_card: Path, tmp_path: Path) -> None:
    a = _run(toy_card, tmp_path / "runs")
    b = _run(toy_card, tmp_path / "runs2", wrong={2})
    res = cli("compare", str(a), str(b), "--json")
    data = json.loads(res.stdout)
    assert data["overall"]["only_a"] == 1 and data["flipped"][0]["sample_id"] == "q002"
    table = cli("compare", str(a), str(b)).stdout
    assert "McNemar p" in table and "q002: 1 -> 0" in table
    rows = json.loads(cli("runs", str(tmp_path / "runs"), str(tmp_path / "runs2"), "--json").stdout)
    assert {r["metric"] for r in rows} == {"accuracy"} and len(rows) == 2
    assert {"cost", "latency_p90", "accuracy", "accuracy.ci_low", "complete"} <= set(rows[0])
    per_sample = json.loads(cli("runs", str(tmp_path / "runs"), "--samples", "--json").stdout)
    assert per_sample and {"sample_id", "prediction", "score.accuracy"} <= set(per_sample[0])
    bad = cli("runs", str(tmp_path / "runs"), "--samples", check=False)
    assert bad.returncode == 2 and "add --csv or --json" in bad.stderr
    csv = cli("runs", str(tmp_path / "runs"), "--csv").stdout
    assert csv.splitlines()[0].startswith("run_id,task,model") and len(csv.splitlines()) == 2
    tasks = json.loads(cli("tasks", "--json").stdout)
    assert {"textvqa", "mmbench", "probe4k"} <= {t["name"] for t in tasks}
    models = json.loads(cli("models", "--json").stdout)
    openai = next(m for m in models if m["name"] == "openai")
    model_arg = next(a for a in openai["args"] if a["name"] == "model")
    assert model_arg["required"] is True and openai["kind"] == "api"
    bad = cli("compare", str(a), str(tmp_path / "nope"), check=False)
    assert bad.returncode == 2 and "not a run directory" in bad.stderr


def _numpy_paired_ci(a: list[float], b: list[float], seed: int, n_boot: int) -> tuple[float, float]:
    """The paired percentile bootstrap written out with numpy: resample the differences."""
    d = np.asarray(b) - np.asarray(a)
    idx = np.random.default_rng(seed).integers(0, d.size, size=(n_boot, d.size))
    low, high = np.quantile(d[idx].mean(axis=1), [0.025, 0.975])
    return float(low), float(high)


def test_buckets_flips_and_unshared_samples_are_counted(toy_card: Path, tmp_path: Path) -> None:
    a = _run(toy_card, tmp_path / "a")  # all twelve right
    b = _run(toy_card, tmp_path / "b", wrong={1, 4}, limit=8)  # q000..q007, two flipped to wrong
    c = compare_runs(a, b)
    assert (c.run_a, c.run_b, c.task, c.metric) == (a.name, b.name, "toy", "accuracy")
    assert (c.n_shared, c.n_only_a, c.n_only_b) == (8, 4, 0)
    o = c.overall
    assert (o.n, o.mean_a, o.mean_b, o.delta) == pytest.approx((8, 1.0, 0.75, -0.25))
    assert (o.only_a, o.only_b, o.p_value) == pytest.approx((2, 0, 0.5))
    ones = [1.0] * 8
    flipped_b = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0]
    assert (o.ci_low, o.ci_high) == pytest.approx(_numpy_paired_ci(ones, flipped_b, 0, 2000))
    # q001 is ui / 2K, q004 gaming / 2K (categories alternate, mrr cycles 1K 2K 4K).
    assert [f.model_dump() for f in c.flipped] == [
        {"sample_id": "q001", "a": 1.0, "b": 0.0, "category": "ui", "mrr": "2K"},
        {"sample_id": "q004", "a": 1.0, "b": 0.0, "category": "gaming", "mrr": "2K"},
    ]
    assert list(c.by_category) == ["gaming", "ui"] and list(c.by_mrr) == ["1K", "2K", "4K"]
    assert [(s.n, s.only_a) for s in c.by_category.values()] == [(4, 1), (4, 1)]
    two_k = c.by_mrr["2K"]  # q001 q004 q007
    assert (two_k.n, two_k.mean_b, two_k.delta, two_k.only_a) == pytest.approx(
        (3, 1 / 3, -2 / 3, 2)
    )
    assert (two_k.ci_low, two_k.ci_high) == pytest.approx(
        _numpy_paired_ci([1.0] * 3, [0.0, 0.0, 1.0], 0, 2000)
    )
    assert [(s.n, s.delta, s.p_value) for k, s in c.by_mrr.items() if k != "2K"] == [
        (3, 0.0, 1.0),
        (2, 0.0, 1.0),
    ]
    back = compare_runs(b, a)  # the other way round: B's extra samples are counted on its side
    assert (back.n_only_a, back.n_only_b, back.overall.only_b, back.overall.delta) == (
        0,
        4,
        2,
        0.25,
    )
    assert [(f.a, f.b) for f in back.flipped] == [(0.0, 1.0), (0.0, 1.0)]


def test_compare_takes_a_metric_and_names_a_missing_one(toy_card: Path, tmp_path: Path) -> None:
    a = _run(toy_card, tmp_path / "a", wrong={0})
    b = _run(toy_card, tmp_path / "b", wrong={1})
    c = compare_runs(a, b, metric="accuracy", seed=3)
    assert c.metric == "accuracy" and (c.overall.only_a, c.overall.only_b) == (1, 1)
    a_scores = [0.0] + [1.0] * 11
    b_scores = [1.0, 0.0] + [1.0] * 10
    assert (c.overall.ci_low, c.overall.ci_high) == pytest.approx(
        _numpy_paired_ci(a_scores, b_scores, 3, 2000)
    )
    with pytest.raises(
        UsageError, match=r"metric 'anls' is missing for sample q000; the runs have accuracy\."
    ):
        compare_runs(a, b, metric="anls")


def test_paired_stat_on_graded_and_empty_values() -> None:
    a, b = [0.2, 0.9, 0.4, 0.0, 1.0], [0.5, 0.9, 0.1, 1.0, 1.0]
    st = paired_stat(a, b)
    many_a = [(i * 37 % 101) / 101 for i in range(40)]
    many_b = [(i * 53 % 97) / 97 for i in range(40)]
    spread = paired_stat(many_a, many_b)  # near-continuous means: the interval shows the seed
    assert (spread.ci_low, spread.ci_high) == pytest.approx(
        _numpy_paired_ci(many_a, many_b, 0, 2000)
    )
    assert (st.n, st.mean_a, st.mean_b) == pytest.approx((5, 0.5, 0.7))
    assert st.delta == pytest.approx(0.2) and st.only_a is st.only_b is st.p_value is None
    assert (st.ci_low, st.ci_high) == pytest.approx(_numpy_paired_ci(a, b, 0, 2000))
    other = paired_stat(a, b, seed=7, n_boot=50)
    assert (other.ci_low, other.ci_high) == pytest.approx(_numpy_paired_ci(a, b, 7, 50))
    # 0/1 in one run only is not a McNemar table.
    assert paired_stat([0.0, 1.0], [0.5, 1.0]).p_value is None
    assert paired_stat([0.5, 1.0], [0.0, 1.0]).p_value is None
    empty = paired_stat([], [])
    assert empty.n == 0 and math.isnan(empty.mean_a) and math.isnan(empty.mean_b)
    assert math.isnan(empty.delta) and empty.only_a is None and empty.p_value is None


def test_runs_sharing_no_metric_are_refused_by_name(tmp_path: Path) -> None:
    # One task name, two scorers: run A scores accuracy, run B exact_match, on one shared sample.
    card_a = write_mc_dataset(tmp_path / "mc", n=1, with_images=False)
    card_b = write_mc_dataset(tmp_path / "em", n=1, with_images=False)
    card_b.write_text(card_b.read_text() + "scorer: exact_match\n")
    a = _run(card_a, tmp_path / "a")
    b = _run(card_b, tmp_path / "b")
    with pytest.raises(UsageError, match=r"^the runs share no metric; pass --metric\.$"):
        compare_runs(a, b)
    with pytest.raises(
        UsageError, match=r"^metric 'accuracy' is missing for sample q000; the runs have \.$"
    ):
        compare_runs(a, b, metric="accuracy")


def test_compare_defaults_to_the_cards_primary_metric(tmp_path: Path) -> None:
    # The scorer lists a_graded first; the card names z_right, which compare must take.
    card = write_mc_dataset(tmp_path / "toy", n=40, with_images=False)
    (tmp_path / "toy" / "hooks.py").write_text(
        "from ps3_eval.scoring import Score\n"
        "def score(pred, sample):\n"
        "    right = float(pred.strip() == sample.targets[0])\n"
        "    graded = (int(sample.id[1:]) * 37 % 101) / 101 * (0.5 + right)\n"
        "    return Score({'a_graded': graded, 'z_right': right}, pred.strip())\n"
    )
    card.write_text(card.read_text() + "scorer: hooks.py:score\nprimary_metric: z_right\n")
    wrong = {i for i in range(40) if i % 5 in (1, 2)}
    a, b = _run(card, tmp_path / "a", n=40), _run(card, tmp_path / "b", wrong=wrong, n=40)
    assert compare_runs(a, b).metric == "z_right"
    with pytest.raises(UsageError, match=r"the runs have a_graded, z_right\.$"):
        compare_runs(a, b, metric="nope")
    # A graded metric: the bootstrap intervals follow the seed, overall and per bucket.
    base = [(i * 37 % 101) / 101 for i in range(40)]
    va = [x * 1.5 for x in base]
    vb = [x * (0.5 if i in wrong else 1.5) for i, x in enumerate(base)]
    gaming = [i for i in range(40) if i % 2 == 0]
    for kwargs, seed in (({}, 0), ({"seed": 5}, 5)):
        c = compare_runs(a, b, metric="a_graded", **kwargs)
        assert (c.overall.ci_low, c.overall.ci_high) == pytest.approx(
            _numpy_paired_ci(va, vb, seed, 2000)
        )
        g = c.by_category["gaming"]
        assert (g.ci_low, g.ci_high) == pytest.approx(
            _numpy_paired_ci([va[i] for i in gaming], [vb[i] for i in gaming], seed, 2000)
        )
