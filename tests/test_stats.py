"""Intervals that say what they can, with n beside every breakdown."""

import json
from pathlib import Path

import pytest

from ps3_eval import evaluate
from ps3_eval.scoring.stats import bootstrap_ci, mean_ci, wilson_ci


def test_wilson_interval_matches_the_closed_form() -> None:
    # Reference values of the Wilson score interval at 95% (z = 1.959964).
    assert wilson_ci(8, 8) == pytest.approx((1.0, 0.67558, 1.0), abs=1e-4)
    assert wilson_ci(0, 8) == pytest.approx((0.0, 0.0, 0.32442), abs=1e-4)
    assert wilson_ci(5, 10) == pytest.approx((0.5, 0.23659, 0.76341), abs=1e-4)
    assert wilson_ci(81, 263) == pytest.approx((0.30798, 0.25528, 0.36620), abs=1e-4)


def test_all_right_on_few_items_is_not_a_certainty() -> None:
    # A percentile bootstrap over 8 right answers resamples only ones: [1, 1].
    assert bootstrap_ci([1.0] * 8)[1:] == (1.0, 1.0)
    mean, low, high, method = mean_ci([1.0] * 8)
    assert (mean, high, method) == (1.0, 1.0, "wilson") and low < 0.7


def test_metrics_that_are_not_proportions_keep_the_bootstrap() -> None:
    import itertools

    import numpy as np

    values = [0.0, 1 / 3, 2 / 3, 1.0, 1.0, 1 / 3]  # VQA accuracy comes in thirds
    mean, low, high, method = mean_ci(values, seed=1)
    assert method == "bootstrap" and mean == pytest.approx(5 / 9)
    # The exact bootstrap distribution: the mean of each of the 6^6 equally likely resamples.
    resamples = np.array(list(itertools.product(values, repeat=len(values)))).mean(axis=1)
    exact = np.quantile(resamples, [0.025, 0.975])  # 5/18 and 15/18
    assert exact == pytest.approx([5 / 18, 15 / 18])
    # 1000 random resamples land within one step of the resample means' 1/18 grid of it.
    assert (low, high) == pytest.approx(tuple(exact), abs=1 / 18 + 1e-9)
    assert mean_ci([0.4])[3] == "none"


def test_every_breakdown_carries_its_n_and_method(toy_card: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    s = evaluate(str(toy_card), "scripted", output_dir=out)  # all 12 right
    acc = s.metrics["accuracy"]
    assert (acc.mean, acc.ci_high, acc.method, acc.n) == (1.0, 1.0, "wilson", 12)
    assert acc.ci_low == pytest.approx(wilson_ci(12, 12)[1]) and acc.ci_low < 0.8
    stored = json.loads((out / s.run_id / "summary.json").read_text())
    for groups, size in ((stored["by_category"], 6), (stored["by_mrr"], 4)):
        for metrics in groups.values():
            assert metrics["accuracy"]["n"] == size and metrics["accuracy"]["method"] == "wilson"
            assert metrics["accuracy"]["ci_low"] < 1.0


def test_show_prints_n_beside_every_breakdown(toy_card: Path, tmp_path: Path) -> None:
    import re

    from tests.test_cli import cli

    out = tmp_path / "runs"
    s = evaluate(str(toy_card), "scripted", model_args={"accuracy": 0.5}, output_dir=out)
    shown = cli("show", str(out / s.run_id)).stdout
    rows = {line.split("│")[1].strip(): line for line in shown.splitlines() if line.count("│") > 3}
    for key, n in (("gaming", 6), ("ui", 6), ("1K", 4), ("2K", 4), ("4K", 4)):
        cells = [c.strip() for c in rows[key].split("│")]
        assert cells[-2] == str(n), rows[key]  # the n column of the breakdown
    assert re.search(r"accuracy .*wilson .*12", shown)
    assert "answered" in shown and "failed -" in shown
