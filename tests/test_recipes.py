"""The paper's recipes: every VILA-HD row of Tables 1, 2 and 13 as a sweep with its controls."""

from __future__ import annotations

from pathlib import Path

import pytest

from ps3_eval.errors import UsageError
from ps3_eval.models.vila_hd import VilaHdArgs
from ps3_eval.paper import load_table, match_run
from ps3_eval.recipes import paper_recipes, recipe_spec, write_recipe
from ps3_eval.sweep import cells, load_spec
from tests.test_cli import cli

UNPUBLISHED = "/ckpt/scaling-study"
K15, K4 = "nvidia/VILA-HD-8B-PS3-1.5K-SigLIP", "nvidia/VILA-HD-8B-PS3-4K-SigLIP"

PAPER_CONTROLS = {
    # table: [(row label, checkpoint, controls)], as the issue and VILA-HD's README state them
    "table1": [
        ("VILA-HD-1.5K-8B 33%", K15, {"num_token_look_close": 4860}),
        ("VILA-HD-1.5K-8B 67%", K15, {"num_token_look_close": 9720}),
        ("VILA-HD-1.5K-8B 100%", K15, {"num_token_look_close": 14580}),
        ("VILA-HD-4K-8B 6%", K4, {"num_look_close": 2}),
        ("VILA-HD-4K-8B 12%", K4, {"num_look_close": 4}),
        ("VILA-HD-4K-8B 18%", K4, {"num_look_close": 6}),
    ],
    "table2": [
        ("VILA-HD-4K 18%", K4, {"num_look_close": 6}),
        ("VILA-HD-4K 35%", K4, {"num_look_close": 12}),
    ],
    "table13": [
        ("PS3 756 100%/100%", UNPUBLISHED, {"num_token_look_close": 2916}),
        ("PS3 1512 100%/100%", UNPUBLISHED, {"num_token_look_close": 14580}),
        ("PS3 3780 6%/6%", UNPUBLISHED, {"num_look_close": 2}),
        ("PS3 3780 18%/18%", UNPUBLISHED, {"num_look_close": 6}),
        ("PS3 3780 18%/35%", UNPUBLISHED, {"num_look_close": 12}),
    ],
}  # fmt: skip


@pytest.mark.parametrize("table", sorted(PAPER_CONTROLS))
def test_every_vila_hd_row_round_trips_into_cells_with_the_papers_controls(
    table: str, tmp_path: Path
) -> None:
    local = table != "table1"  # Tables 2 and 13 are 4KPro's, whose data is a local copy
    spec = recipe_spec(table, checkpoint=UNPUBLISHED, tasks=["4kpro"] if local else None,
                       data="/data/4kpro" if local else None)  # fmt: skip
    path = write_recipe(spec, tmp_path / f"{table}.yaml")
    loaded = load_spec(path)
    assert loaded == spec  # the YAML holds the whole sweep
    grid = cells(loaded)
    defaults = VilaHdArgs(model="x").model_dump(mode="json")
    expected = PAPER_CONTROLS[table]
    assert len(grid) == len(expected) * len(loaded.tasks)
    t = load_table(table)
    for task in loaded.tasks:
        mine = [c for c in grid if c.task == task]
        assert [c.label.removeprefix(f"{task} ") for c in mine] == [e[0] for e in expected]
        for cell, (label, checkpoint, controls) in zip(mine, expected, strict=True):
            stated = {k: v for k, v in cell.model_args.items() if v != defaults[k] or k == "model"}
            mode = {"look_close_mode": "after_prompt"} if table != "table13" else {}
            assert stated == {"model": checkpoint, **controls, **mode}, label
            # a run of this cell is set beside its own row, and only that one
            metric = next(c.metric for c in t.columns if c.task == task)
            matches = match_run((t, None), task, cell.model_args, {metric: (0.5, 0.4, 0.6)})
            rows = {(m.model, tuple(sorted(m.settings.items()))) for m in matches}
            assert len(rows) == 1, (label, rows)


def test_recipes_are_the_rows_the_paper_prints() -> None:
    recipes = paper_recipes("table1", ["VILA-HD-4K-8B 18%"])
    (r,) = recipes
    assert r.row.values["tokens"] == 4036 and r.row.values["select"] == 0.18
    assert r.args == {"model": "nvidia/VILA-HD-8B-PS3-4K-SigLIP", "num_look_close": 6,
                      "look_close_mode": "after_prompt"}  # fmt: skip
    assert [x.label for x in paper_recipes("table1", ["13", "VILA-HD-1.5K-8B"])] == [
        "VILA-HD-1.5K-8B 33%", "VILA-HD-1.5K-8B 67%", "VILA-HD-1.5K-8B 100%", "VILA-HD-4K-8B 6%",
    ]  # fmt: skip
    with pytest.raises(UsageError, match="no VILA-HD row 'GPT-4o'; give a row number"):
        paper_recipes("table2", ["GPT-4o"])
    with pytest.raises(UsageError, match="not published; give the checkpoint you have"):
        paper_recipes("table13")
    with pytest.raises(UsageError, match="no public data; give its local copy with --data"):
        recipe_spec("table2", tasks=["4kpro"])


def test_a_run_of_the_published_model_matches_only_its_recipe_row() -> None:
    t1 = load_table("table1")
    four_k = {"model": "nvidia/VILA-HD-8B-PS3-4K-SigLIP", "num_look_close": 6,
              "look_close_mode": "after_prompt"}  # fmt: skip
    metrics = {"relaxed_accuracy": (0.84, 0.82, 0.86)}
    (m,) = match_run((t1, None), "chartqa", four_k, metrics)
    assert m.model == "VILA-HD-4K-8B" and m.paper == 84.3 and m.settings["select"] == 0.18
    # the same checkpoint with other controls is no paper row; nor is any full-image model's row
    assert match_run((t1, None), "chartqa", {**four_k, "num_look_close": 5}, metrics) == []
    # the scaling study's rows (model not published) are not this checkpoint's
    t13 = load_table("table13")
    assert match_run((t13, None), "4kpro", four_k, {"accuracy": (0.7, 0.6, 0.8)}) == []
    # runs of other backends still match by their settings
    (ocr,) = match_run(
        (t13, None), "4kpro", {"resolution": 3780, "select": 0.06}, {"accuracy": (0.5, 0.4, 0.6)}
    )
    assert ocr.model == "PS3"


def test_the_cli_writes_a_recipe_and_names_bad_rows(tmp_path: Path) -> None:
    spec = tmp_path / "t1.yaml"
    res = cli("paper", "recipe", "table1", "--row", "VILA-HD-4K-8B", "--task", "chartqa",
              "--to", str(spec))  # fmt: skip
    assert "3 row(s) x 1 task(s)" in res.stdout and f"ps3-eval sweep {spec}" in res.stdout
    assert load_spec(spec).zip["num_look_close"] == [2, 4, 6]
    bad = cli("paper", "recipe", "table1", "--row", "99", "--to", str(spec), check=False)
    assert bad.returncode == 2 and "has no VILA-HD row '99'" in bad.stderr
