"""Figures as data: the Pareto front, series, static images, and runs matched to the paper."""

from __future__ import annotations

from pathlib import Path

import pytest

from ps3_eval.errors import UsageError
from ps3_eval.paper import load_table, match_run
from ps3_eval.report import Labelled, build_figure, pareto, report_rows
from ps3_eval.report.figures import Figure, Trace
from ps3_eval.runner import evaluate


def test_pareto_front_known_answer() -> None:
    # (latency, accuracy): 1 is beaten by 0 (faster, as good); 3 by 2; ties keep the best.
    points = [(0.1, 0.5), (0.2, 0.5), (0.3, 0.7), (0.5, 0.6), (0.3, 0.4), (1.0, 0.9)]
    assert pareto(points) == [0, 2, 5]
    assert pareto([]) == [] and pareto([(1.0, 0.0)]) == [0]


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list:  # type: ignore[type-arg]
    """Scripted runs whose arguments are then read as selection settings."""
    out = tmp_path_factory.mktemp("fig")
    from tests.conftest import write_mc_dataset

    card = write_mc_dataset(out / "toy", n=12)
    labelled = []
    for i, acc in enumerate((0.25, 0.5, 0.75, 1.0)):
        s = evaluate(str(card), "scripted", model_args={"accuracy": acc}, output_dir=out / "r")
        labelled.append(Labelled(out / "r" / s.run_id, f"run {i}"))
    got, _ = report_rows(labelled)
    for r in got:  # one configuration: the tests give each run the settings they read
        r.spec.model_args.pop("accuracy")
    return got


def test_selection_series_split_training_from_test(rows: list) -> None:  # type: ignore[type-arg]
    # two runs trained and tested at the same ratio, two trained at 0.2 and tested at another
    settings = ((0.2, 0.2), (0.4, 0.4), (0.2, 0.4), (0.2, 1.0))
    for r, (train, test) in zip(rows, settings, strict=True):
        r.spec.model_args.update(select_train=train, select=test)
    fig = build_figure("selection", rows)
    assert fig is not None
    series = {t.name: (t.x, t.y) for t in fig.traces}
    assert series == {
        "scripted: same selection in training and at test": (
            [0.2, 0.4],
            [rows[0].value, rows[1].value],
        ),
        "scripted: trained at 0.2, selection varied at test": (
            [0.4, 1.0],
            [rows[2].value, rows[3].value],
        ),
    }
    assert build_figure("resolution", rows) is None  # no run states a resolution


def test_latency_figure_marks_the_front(rows: list) -> None:  # type: ignore[type-arg]
    for r, lat in zip(rows, (0.4, 0.1, 0.3, 0.2), strict=True):
        r.latency = lat
    fig = build_figure("latency", rows)
    assert fig is not None and fig.x_log
    (front,) = [t for t in fig.traces if t.kind == "front"]
    best = pareto([(r.latency, r.value) for r in rows])
    assert front.hover == [rows[i].label for i in best]
    assert front.x == sorted(front.x) and front.y == sorted(front.y)


def test_static_images_and_bad_suffix(tmp_path: Path) -> None:
    fig = Figure(
        "tokens",
        "Accuracy vs <tokens>",
        "visual tokens",
        "accuracy",
        [Trace("a & b", [10, 100], [0.2, 0.6], [0.1, 0.5], [0.3, 0.7], ["x", "y"])],
        x_log=True,
    )
    png = fig.write(tmp_path / "f.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = fig.write(tmp_path / "f.svg").read_text()
    assert "Accuracy vs &lt;tokens&gt;" in svg  # text, escaped as XML wants
    html = fig.write(tmp_path / "f.html").read_text()
    assert "Accuracy vs &lt;tokens&gt;" in html and "<tokens>" not in html  # shown as typed
    with pytest.raises(UsageError, match=r"cannot write a figure as '\.pdf'"):
        fig.write(tmp_path / "f.pdf")


def test_runs_matched_to_paper_rows() -> None:
    t13 = load_table("table13")
    value = {"accuracy": (0.5, 0.45, 0.55)}
    # test-time selection 0.18 at 3780, training not stated: the row trained at 0.18 too
    (m,) = match_run(
        "table13:PS3", "4kpro", {"resolution": 3780, "select": 0.18}, value, backend="vila-hd"
    )
    assert m.paper == t13.value("PS3", "acc", res=3780, select=0.18) == 51.6
    assert m.measured == pytest.approx(50.0) and m.delta == pytest.approx(-1.6)
    assert (m.ci_low, m.ci_high) == pytest.approx((45.0, 55.0)) and m.inside
    # trained at 0.18, tested at 0.35: only that row
    (m,) = match_run(
        "table13:PS3",
        "4kpro",
        {"resolution": 3780, "select": 0.35, "select_train": 0.18},
        value,
        backend="vila-hd",
    )
    assert m.paper == 59.8 and m.inside is False
    # no selection means every patch: PS3 rows at 1.0, one per resolution when it is given
    assert [m.settings["resolution"] for m in match_run("table13:PS3", "4kpro", {}, value)] == [
        756,
        1512,
    ]
    # an API model without selection matches GPT-4o in table2; another task matches nothing
    (m,) = match_run("table2:GPT-4o", "4kpro", {"model": "gpt-4o"}, value, backend="openai")
    assert m.paper == 59.7 and m.same_model
    assert match_run("table13:PS3", "probe4k", {}, value) == []
    # a third is printed as 0.33
    (m,) = match_run("table1:VILA-HD-1.5K-8B", "chartqa", {"select": 1 / 3},
                     {"relaxed_accuracy": (0.8, 0.78, 0.82)})  # fmt: skip
    assert m.paper == 81.3
    with pytest.raises(UsageError, match="table13 has no model 'PS4'"):
        match_run("table13:PS4", "4kpro", {}, value)
