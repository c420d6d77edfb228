"""lmms-eval model classes inside ps3-eval: built and asked the way lmms-eval does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ps3_eval import evaluate, load_run
from ps3_eval.errors import UsageError

# lmms-eval cannot share an environment with ps3-torch (its transformers pin): CI runs this file
# in a second environment (.ci/run) and says so to the first one.
if not os.environ.get("CI") or os.environ.get("PS3_EVAL_LMMS_ELSEWHERE"):
    pytest.importorskip("lmms_eval", reason="needs the lmms extra, in its own environment")


def test_a_simple_model_class_runs_and_resumes(tmp_path: Path) -> None:
    args = {"model": "dummy", "model_args": "response=B"}  # lmms-eval's own no-op model
    first = evaluate("probe4k", "lmms", model_args=args, task_args={"n": 4}, output_dir=tmp_path)
    run = load_run(tmp_path / first.run_id)
    assert [r.prediction for r in run.results] == ["B"] * 4
    assert all(r.error is None and r.output.extra["lmms_model"] == "dummy" for r in run.results)
    truth = [r.targets[0] for r in run.results]
    assert first.metrics["accuracy"].mean == truth.count("B") / 4
    again = evaluate("probe4k", "lmms", model_args=args, task_args={"n": 4}, output_dir=tmp_path)
    assert again.run_id == first.run_id and load_run(tmp_path / first.run_id).results == run.results


def test_a_chat_model_class_answers_as_the_hf_backend(tmp_path: Path) -> None:
    from tests.test_hf import _tiny_llava

    checkpoint = _tiny_llava(tmp_path / "tiny-llava")
    bridged = evaluate(
        "probe4k", "lmms",
        model_args={"model": "llava_hf", "device": "cpu",
                    "model_args": f"pretrained={checkpoint},device_map=cpu"},
        task_args={"n": 3}, output_dir=tmp_path / "lmms", max_tokens=5,
    )  # fmt: skip
    direct = evaluate(
        "probe4k", "hf", model_args={"model": str(checkpoint), "dtype": "float32"},
        task_args={"n": 3}, output_dir=tmp_path / "hf", max_tokens=5,
    )  # fmt: skip
    a = load_run(tmp_path / "lmms" / bridged.run_id).results
    b = load_run(tmp_path / "hf" / direct.run_id).results
    assert all(r.error is None for r in a + b)
    # lmms-eval's chat llava_hf and the hf backend render the same chat template over the same
    # weights: greedy decoding gives the same answers
    assert [r.prediction for r in a] == [r.prediction for r in b]


def test_an_unknown_model_class_is_one_clear_error() -> None:
    from ps3_eval.models import build_model

    with pytest.raises(UsageError, match="lmms-eval has no model 'no_such_model'"):
        build_model("lmms", {"model": "no_such_model"})


def _openai_args(url: str, key: str = "sk-test-0123456789abcdef", **extra: str) -> dict[str, str]:
    more = "".join(f",{k}={v}" for k, v in extra.items())
    return {
        "model": "openai",
        "model_args": f"model=fake-vlm,base_url={url}/v1,api_key={key},max_retries=1,"
        f"retry_backoff_s=0{more}",
    }


def _letter(text: str) -> str:
    return "ABCD"[len(text) % 4]  # the same prompt gets the same answer, whoever sends it


def test_an_api_class_scores_as_openai_compatible_sample_for_sample(tmp_path: Path) -> None:
    from tests.fake_api import FakeApi, Server

    with Server(FakeApi(answer=_letter)) as api:
        bridged = evaluate("probe4k", "lmms", model_args=_openai_args(api.url),
                           task_args={"n": 6}, output_dir=tmp_path / "lmms")  # fmt: skip
        direct = evaluate(
            "probe4k", "openai-compatible",
            model_args={"model": "fake-vlm", "base_url": f"{api.url}/v1"},
            task_args={"n": 6}, output_dir=tmp_path / "direct",
        )  # fmt: skip
    a = {r.sample_id: r for r in load_run(tmp_path / "lmms" / bridged.run_id).results}
    b = {r.sample_id: r for r in load_run(tmp_path / "direct" / direct.run_id).results}
    assert set(a) == set(b) and len(a) == 6
    assert {k: (r.prediction, r.scores) for k, r in a.items()} == {
        k: (r.prediction, r.scores) for k, r in b.items()
    }
    # an API class answers a call's requests in parallel: it is given them batched, and each
    # records its share of the batch's wall time
    sizes = [r.output.timing.batch_size or 0 for r in a.values()]
    assert max(sizes) > 1 and bridged.batched_calls > 0
    for r in a.values():
        t = r.output.timing
        assert t.batch_latency is not None
        assert t.latency == pytest.approx(t.batch_latency / (t.batch_size or 1))


def test_a_failed_request_is_an_error_record_retried_on_resume(tmp_path: Path) -> None:
    from tests.fake_api import FakeApi, Server

    # three 500s: the openai SDK inside lmms-eval's class retries twice on its own
    with Server(FakeApi(answer=_letter, faults=["500"] * 3)) as api:
        args = _openai_args(api.url, num_concurrent="1")
        first = evaluate("probe4k", "lmms", model_args=args, task_args={"n": 3},
                         output_dir=tmp_path)  # fmt: skip
        assert first.n_errors == 1 and first.n == 2 and not first.complete
        (failed,) = [r for r in load_run(tmp_path / first.run_id).results if r.error]
        assert "LMMS_EVAL_REQUEST_FAILED" in failed.error and "500" in failed.error
        assert failed.scores == {}  # never scored as a wrong answer
        asked = len(api.seen)
        again = evaluate("probe4k", "lmms", model_args=args, task_args={"n": 3},
                         output_dir=tmp_path)  # fmt: skip
    assert again.run_id == first.run_id and again.complete and again.n_errors == 0
    assert len(api.seen) == asked + 1  # the failed sample alone was asked again


def test_a_spent_budget_is_an_error_record(tmp_path: Path) -> None:
    args = {"model": "dummy", "model_args": "response=[LMMS_EVAL_BUDGET_EXCEEDED]"}
    summary = evaluate("probe4k", "lmms", model_args=args, task_args={"n": 2}, output_dir=tmp_path)
    assert summary.n == 0 and summary.n_errors == 2
    assert all("LMMS_EVAL_BUDGET_EXCEEDED" in (r.error or "")
               for r in load_run(tmp_path / summary.run_id).results)  # fmt: skip


def test_a_key_in_model_args_reaches_no_record(tmp_path: Path) -> None:
    from tests.fake_api import FakeApi, Server

    secret, other = "sk-test-SECRET-0123456789", "sk-test-OTHER-9876543210"
    with Server(FakeApi(answer=_letter, faults=["400"])) as api:
        first = evaluate("probe4k", "lmms", model_args=_openai_args(api.url, secret),
                         task_args={"n": 2}, output_dir=tmp_path)  # fmt: skip
        # the server's 400 echoed the credential header into the error: it is scrubbed
        assert first.n_errors == 1
        again = evaluate("probe4k", "lmms", model_args=_openai_args(api.url, other),
                         task_args={"n": 2}, output_dir=tmp_path)  # fmt: skip
    assert again.run_id == first.run_id and again.complete  # a new key is the same model
    assert api.seen[-1].auth == f"Bearer {other}"
    run_dir = tmp_path / first.run_id
    written = "".join(p.read_text() for p in run_dir.rglob("*") if p.is_file())
    assert "api_key=<redacted>" in written
    for key in (secret, other):
        assert key not in written and key[: len(key) // 2] not in written


def test_a_model_that_cannot_be_built_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_cli import cli

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the openai class needs a key
    res = cli("run", "-t", "probe4k", "--task-arg", "n=1", "-m", "lmms:model=openai", "-a",
              "model_args=model=fake-vlm", "--output-dir", str(tmp_path), check=False)  # fmt: skip
    assert res.returncode == 2
    assert "lmms-eval model 'openai' could not be built" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) <= 3


def test_lmms_evals_own_loader_runs_the_exported_task(tmp_path: Path) -> None:
    """The export, read by lmms-eval's TaskManager, scores known answers as ps3-eval does."""
    import json

    from lmms_eval.tasks import TaskManager, get_task_dict

    from ps3_eval.tasks.lmms_export import export_lmms

    yaml_file = export_lmms("probe4k", tmp_path / "lmms", args={"n": 6})
    manager = TaskManager(include_path=str(yaml_file.parent), include_defaults=False)
    task = get_task_dict([yaml_file.stem], manager)[yaml_file.stem]
    docs = list(task.test_docs())
    assert len(docs) == 6
    # Right in two wordings, and "banana" (no letter) for every third: 4 of 6.
    said = {
        d["id"]: [f"({d['answer']})", "banana", f"The answer is {d['answer']}."][i % 3]
        for i, d in enumerate(docs)
    }
    per_metric: dict[str, list[object]] = {}
    for doc in docs:
        assert task.doc_to_target(doc) == doc["answer"]
        for key, value in task.process_results(doc, [said[doc["id"]]]).items():
            per_metric.setdefault(key, []).append(value)
    aggregate = task.aggregation()
    results = {key: aggregate[key](values) for key, values in per_metric.items()}
    assert results["ps3_score"] == 4 / 6
    (tmp_path / "answers.json").write_text(json.dumps(said))
    summary = evaluate(
        "probe4k", "scripted", model_args={"answers": str(tmp_path / "answers.json")},
        task_args={"n": 6}, output_dir=tmp_path / "runs",
    )  # fmt: skip
    assert summary.metrics["accuracy"].mean == 4 / 6
    expected = {
        f"ps3_score_category_{c}": v["accuracy"].mean for c, v in summary.by_category.items()
    } | {f"ps3_score_mrr_{m}": v["accuracy"].mean for m, v in summary.by_mrr.items()}
    assert {k: v for k, v in results.items() if k != "ps3_score"} == expected
