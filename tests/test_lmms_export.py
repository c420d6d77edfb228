"""The lmms-eval task folder: read and run the way lmms-eval does, it scores like ps3-eval.

lmms-eval itself needs torch; these tests follow its loading steps instead: the YAML with its
``!function utils.name`` tags resolved from the folder's utils.py, ``load_from_disk`` of
``dataset_path`` and the ``test_split``, then doc_to_visual / doc_to_text / process_results per
document and the metric's aggregation over them. The lmms environment runs the same export
through lmms-eval's own TaskManager (tests/test_lmms_bridge.py).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import yaml

from ps3_eval import load_run
from tests.test_cli import cli


def _load_like_lmms(yaml_file: Path) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("utils", yaml_file.parent / "utils.py")
    assert spec is not None and spec.loader is not None
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)

    class Loader(yaml.SafeLoader):
        pass

    def function(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        module, _, name = loader.construct_scalar(node).partition(".")  # type: ignore[arg-type]
        assert module == "utils"
        return getattr(utils, name)

    Loader.add_constructor("!function", function)
    return yaml.load(yaml_file.read_text(), Loader=Loader)


def test_exported_task_scores_like_ps3_eval(tmp_path: Path) -> None:
    import shutil

    import datasets

    res = cli("export", "lmms", "probe4k", "--to", str(tmp_path / "lmms"), "--task-arg", "n=6")
    (yaml_file,) = (tmp_path / "lmms").glob("ps3_probe4k_*.yaml")  # its task args make its name
    assert f"--include_path {yaml_file.parent} --tasks {yaml_file.stem}" in res.stdout
    text = yaml_file.read_text() + (yaml_file.parent / "utils.py").read_text()
    assert str(tmp_path) not in text and "pip install ps3-eval" not in text  # no index serves it
    # nothing in the folder names where it was written: a moved folder runs as well
    moved = tmp_path / "elsewhere" / "task"
    shutil.move(str(yaml_file.parent), str(moved))
    yaml_file = moved / yaml_file.name
    cfg = _load_like_lmms(yaml_file)
    assert cfg["task"] == yaml_file.stem and cfg["output_type"] == "generate_until"
    assert cfg["metadata"]["ps3_eval_task_args"] == {"n": 6, "seed": 0}  # the card default too
    assert cfg["dataset_kwargs"] == {"load_from_disk": True}
    docs = datasets.load_from_disk(cfg["dataset_path"])[cfg["test_split"]]
    assert len(docs) == 6
    # Answers in several wordings, one of them unreadable, one after a reasoning block (scored
    # without it in both); ps3-eval gets the same ones.
    letters = [d["answer"] for d in docs]
    said = {
        d["id"]: [
            f"<think>maybe ({'ABCD'[('ABCD'.index(letters[i]) + 2) % 4]})</think>({letters[i]})",
            "banana",
            f"The answer is {letters[i]}.",
        ][i % 3]
        for i, d in enumerate(docs)
    }
    (tmp_path / "answers.json").write_text(json.dumps(said))
    out = tmp_path / "runs"
    cli("run", "-t", "probe4k", "--task-arg", "n=6", "-m", "scripted",
        "-a", f"answers={tmp_path / 'answers.json'}", "--output-dir", str(out), "-q")  # fmt: skip
    run = load_run(next(out.iterdir()))
    prompts = {r.sample_id: r.prompt for r in run.results}
    kwargs = cfg["lmms_eval_specific_kwargs"]["default"]
    per_metric: dict[str, list[Any]] = {}
    for doc in docs:
        (image,) = cfg["doc_to_visual"](doc)
        assert image.mode == "RGB" and image.size == (3840, 2160)
        assert cfg["doc_to_text"](doc, kwargs) == prompts[doc["id"]]  # the prompt ps3-eval sent
        assert cfg["doc_to_target"](doc) == doc["answer"]
        for key, value in cfg["process_results"](doc, [said[doc["id"]]]).items():
            per_metric.setdefault(key, []).append(value)  # as lmms-eval collects them
    # lmms-eval aggregates each listed metric over the documents that gave it: the overall
    # score and, as metrics of their own in its results, each category's and MRR bucket's
    results = {m["metric"]: m["aggregation"](per_metric[m["metric"]]) for m in cfg["metric_list"]}
    summary = run.summary
    assert summary is not None
    # Every third answer ("banana") is wrong, the others right: 4 of 6 in both.
    right = {d["id"]: float(i % 3 != 1) for i, d in enumerate(docs)}
    assert results.pop("ps3_score") == summary.metrics["accuracy"].mean == 4 / 6
    expected = {
        f"ps3_score_category_{c}": v["accuracy"].mean for c, v in summary.by_category.items()
    }
    expected |= {f"ps3_score_mrr_{m}": v["accuracy"].mean for m, v in summary.by_mrr.items()}
    assert results == expected and len(expected) > 2
    assert {s["id"]: s["score"] for s in per_metric["ps3_score"]} == right
    assert {r.sample_id: r.scores["accuracy"] for r in run.results} == right
    assert cfg["doc_to_text"](docs[0], {"pre_prompt": "P:", "post_prompt": ":Q"}) == (
        f"P:{prompts[docs[0]['id']]}:Q"
    )


def test_export_refuses_a_used_folder(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    res = cli("export", "lmms", "probe4k", "--to", str(tmp_path / "x"), check=False)
    assert res.returncode == 2 and "is not empty" in res.stderr
    forced = cli("export", "lmms", "probe4k", "--to", str(tmp_path / "x"), "--force", check=False)
    assert forced.returncode == 2 and "not a ps3-eval export" in forced.stderr
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def test_exports_keep_their_arguments_apart_and_replace_with_force(tmp_path: Path) -> None:
    from ps3_eval.tasks.lmms_export import export_lmms

    two = export_lmms("probe4k", tmp_path / "a", args={"n": 2})
    three = export_lmms("probe4k", tmp_path / "b", args={"n": 3})
    assert two.stem != three.stem  # one include_path can hold both
    again = export_lmms("probe4k", tmp_path / "a", args={"n": 2}, force=True, name="my_probe")
    assert again == tmp_path / "a" / "my_probe.yaml" and not two.exists()
    assert _load_like_lmms(again)["task"] == "my_probe"


def test_a_card_file_travels_with_its_export(toy_card: Path, tmp_path: Path) -> None:
    import shutil

    import datasets

    from ps3_eval.tasks.lmms_export import export_lmms

    yaml_file = export_lmms(str(toy_card), tmp_path / "out")
    assert (tmp_path / "out" / "card" / toy_card.name).is_file()
    shutil.move(str(tmp_path / "out"), str(tmp_path / "moved"))
    toy_card.unlink()  # the export needs nothing from where the card was
    cfg = _load_like_lmms(tmp_path / "moved" / yaml_file.name)
    doc = datasets.load_from_disk(cfg["dataset_path"])["test"][0]
    result = cfg["process_results"](doc, [doc["answer"]])["ps3_score"]
    assert result["score"] == 1.0
