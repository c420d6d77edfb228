"""The lmms-eval task folder: read and run the way lmms-eval does, it scores like ps3-eval.

lmms-eval itself needs torch; these tests follow its loading steps instead: the YAML with its
``!function utils.name`` tags resolved from the folder's utils.py, ``load_from_disk`` of
``dataset_path`` and the ``test_split``, then doc_to_visual / doc_to_text / process_results per
document and the metric's aggregation over them.
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
    import datasets

    res = cli("export", "lmms", "probe4k", "--to", str(tmp_path / "lmms"), "--task-arg", "n=6")
    yaml_file = tmp_path / "lmms" / "ps3_probe4k.yaml"
    assert f"--include_path {yaml_file.parent} --tasks ps3_probe4k" in res.stdout
    cfg = _load_like_lmms(yaml_file)
    assert cfg["task"] == "ps3_probe4k" and cfg["output_type"] == "generate_until"
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
            f"The answer is {'ABCD'[(i + 1) % 4]}.",
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
    scored = []
    for doc in docs:
        (image,) = cfg["doc_to_visual"](doc)
        assert image.mode == "RGB" and image.size == (3840, 2160)
        assert cfg["doc_to_text"](doc, kwargs) == prompts[doc["id"]]  # the prompt ps3-eval sent
        assert cfg["doc_to_target"](doc) == doc["answer"]
        scored.append(cfg["process_results"](doc, [said[doc["id"]]])["ps3_score"])
    (metric,) = cfg["metric_list"]
    value = metric["aggregation"]([s for s in scored])
    assert run.summary is not None
    assert value == run.summary.metrics["accuracy"].mean
    assert {s["id"]: s["score"] for s in scored} == {
        r.sample_id: r.scores["accuracy"] for r in run.results
    }
    assert cfg["doc_to_text"](docs[0], {"pre_prompt": "P:", "post_prompt": ":Q"}) == (
        f"P:{prompts[docs[0]['id']]}:Q"
    )


def test_export_refuses_a_used_folder(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    res = cli("export", "lmms", "probe4k", "--to", str(tmp_path / "x"), check=False)
    assert res.returncode == 2 and "is not empty" in res.stderr
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"
