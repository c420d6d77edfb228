import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest

import ps3_eval.runner.pipeline as runner_mod
from ps3_eval import evaluate, load_run
from ps3_eval.models import Backend, register_model
from ps3_eval.records import ModelOutput, Request, RunSummary
from ps3_eval.runner.cache import ResponseCache
from tests.conftest import write_mc_dataset


def _lines(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]


def _run_dir(summary: RunSummary, out: Path) -> Path:
    return out / summary.run_id


def _comparable(s: RunSummary) -> dict[str, Any]:
    keep = {"n", "n_total", "n_errors", "complete", "metrics", "by_category", "by_mrr", "tokens"}
    return s.model_dump(include=keep)


def test_full_run_writes_records_and_summary(toy_card: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    s = evaluate(str(toy_card), "scripted", model_args={"accuracy": 0.5}, output_dir=out)
    run_dir = _run_dir(s, out)
    assert {p.name for p in run_dir.iterdir()} >= {"spec.json", "samples.jsonl", "summary.json"}
    rows = _lines(run_dir)
    assert len(rows) == 12 and len({r["sample_id"] for r in rows}) == 12
    acc = sum(r["scores"]["accuracy"] for r in rows) / 12
    assert s.metrics["accuracy"].mean == pytest.approx(acc)
    assert s.metrics["accuracy"].ci_low <= acc <= s.metrics["accuracy"].ci_high
    for cat in ("gaming", "ui"):
        part = [r["scores"]["accuracy"] for r in rows if r["category"] == cat]
        assert s.by_category[cat]["accuracy"].mean == pytest.approx(sum(part) / len(part))
        assert s.by_category[cat]["accuracy"].n == len(part)
    assert set(s.by_mrr) == {"1K", "2K", "4K"}
    assert s.complete and s.n == 12 and s.n_errors == 0
    assert rows[0]["output"]["image_sizes"] == [[64, 48]]
    spec = json.loads((run_dir / "spec.json").read_text())
    assert spec["task"] == "toy" and spec["model_args"]["accuracy"] == 0.5
    assert spec["package_version"]
    assert load_run(run_dir).summary == s


def test_errors_are_records_and_are_retried_on_resume(toy_card: Path, tmp_path: Path) -> None:
    outage = tmp_path / "outage"
    outage.touch()
    args = {"fail_rate": 0.5, "fail_while": str(outage), "accuracy": 0.7}
    out = tmp_path / "runs"
    first = evaluate(str(toy_card), "scripted", model_args=args, output_dir=out)
    run_dir = _run_dir(first, out)
    failed = [r for r in _lines(run_dir) if r["error"]]
    assert failed and first.n_errors == len(failed) and not first.complete
    assert all(r["scores"] == {} and r["extracted"] is None for r in failed)
    assert first.metrics["accuracy"].n == 12 - len(failed)
    assert "scripted failure" in next(iter(first.errors))

    outage.unlink()
    second = evaluate(str(toy_card), "scripted", model_args=args, output_dir=out)
    assert second.run_id == first.run_id and second.complete and second.n_errors == 0
    rows = _lines(run_dir)
    assert sorted(r["sample_id"] for r in rows) == [f"q{i:03d}" for i in range(12)]
    history = (run_dir / "errors.jsonl").read_text().splitlines()
    assert len(history) == len(failed)

    clean = evaluate(
        str(toy_card),
        "scripted",
        model_args={**args, "fail_while": str(tmp_path / "never")},
        output_dir=tmp_path / "clean",
    )
    assert _comparable(second) == _comparable(clean)


def test_resume_by_directory_runs_only_missing(toy_card: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    s = evaluate(str(toy_card), "scripted", limit=5, output_dir=out)
    run_dir = _run_dir(s, out)
    rows = _lines(run_dir)
    # Drop two results as if the process had died before writing them.
    (run_dir / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:3]))
    calls: list[str] = []
    again = evaluate(
        "ignored",
        "ignored",
        resume=run_dir,
        on_progress=lambda p: calls.append(p.last.sample_id if p.last else ""),
    )
    assert len(calls) == 2 and again.n == 5 and again.n_total == 5
    assert len(_lines(run_dir)) == 5


def test_truncated_last_line_is_dropped_and_redone(toy_card: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    s = evaluate(str(toy_card), "scripted", output_dir=out)
    path = _run_dir(s, out) / "samples.jsonl"
    text = path.read_text()
    path.write_text(text[: len(text) - 40])  # cut inside the last record
    again = evaluate(str(toy_card), "scripted", output_dir=out)
    assert _comparable(again) == _comparable(s)
    assert len(_lines(path.parent)) == 12


def test_bad_rows_and_bad_images_are_that_samples_error(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "d", n=6)
    (card.parent / "images" / "2.png").write_bytes(b"")
    data = card.parent / "data.jsonl"
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    del rows[4]["options"]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = evaluate(str(card), "scripted", output_dir=tmp_path / "runs")
    errors = {
        r["sample_id"]: r["error"] for r in _lines(tmp_path / "runs" / s.run_id) if r["error"]
    }
    assert set(errors) == {"q002", "q004"}
    assert "empty" in errors["q002"] and "'options'" in errors["q004"] and "'toy'" in errors["q004"]
    assert s.n == 4 and s.n_errors == 2


class _Probe(Backend):
    name = "probe-concurrency"
    kind = "test-double"
    in_flight = 0
    peak = 0

    full: asyncio.Event | None = None

    async def generate(self, request: Request) -> ModelOutput:
        cls = type(self)
        cls.full = cls.full or asyncio.Event()
        cls.in_flight += 1
        cls.peak = max(cls.peak, cls.in_flight)
        if cls.in_flight == 4:
            cls.full.set()
        # The first calls wait until four are in flight at once (no sleep that a busy machine
        # could outlast); the guard only ends a run whose bound is below four.
        try:
            await asyncio.wait_for(cls.full.wait(), 60)
        except TimeoutError:
            pass
        await asyncio.sleep(0)  # let any call beyond the bound start, were there one
        cls.in_flight -= 1
        return ModelOutput(text=(request.oracle or ["A"])[0])


def test_concurrency_is_bounded_and_decoding_is_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_model("probe-concurrency", _Probe)
    card = write_mc_dataset(tmp_path / "d", n=30)
    threads: set[str] = set()
    real = runner_mod.decode

    def spy(src: Any) -> Any:
        threads.add(threading.current_thread().name)
        return real(src)

    monkeypatch.setattr(runner_mod, "decode", spy)
    _Probe.full, _Probe.peak = None, 0
    s = evaluate(str(card), "probe-concurrency", concurrency=4, output_dir=tmp_path / "runs")
    assert s.n == 30 and s.metrics["accuracy"].mean == 1.0
    assert _Probe.peak == 4
    assert threads and all(t.startswith("ps3-eval-decode") for t in threads)


def test_timeout_becomes_an_error_record(toy_card: Path, tmp_path: Path) -> None:
    s = evaluate(
        str(toy_card),
        "scripted",
        model_args={"latency": 2},
        timeout=0.05,
        limit=2,
        concurrency=2,
        output_dir=tmp_path / "runs",
    )
    assert s.n_errors == 2 and "timed out after 0.05s" in next(iter(s.errors))


def test_response_cache_replays_only_matching_requests(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "d", n=6)
    db = tmp_path / "cache.sqlite"
    first = evaluate(
        str(card), "scripted", model_args={"accuracy": 0.5}, cache=db, output_dir=tmp_path / "a"
    )
    assert len(ResponseCache(db)) == 6
    second = evaluate(
        str(card), "scripted", model_args={"accuracy": 0.5}, cache=db, output_dir=tmp_path / "b"
    )
    rows = _lines(tmp_path / "b" / second.run_id)
    assert all(r["output"]["cached"] for r in rows)
    assert _comparable(first) == _comparable(second)
    # Another model argument: nothing replayed.
    other = evaluate(
        str(card), "scripted", model_args={"accuracy": 0.6}, cache=db, output_dir=tmp_path / "c"
    )
    assert not any(r["output"]["cached"] for r in _lines(tmp_path / "c" / other.run_id))
    # A changed prompt: nothing replayed.
    card.write_text(card.read_text() + "prompt: 'Q: {question}\\n{options}'\n")
    changed = evaluate(
        str(card), "scripted", model_args={"accuracy": 0.5}, cache=db, output_dir=tmp_path / "d"
    )
    assert not any(r["output"]["cached"] for r in _lines(tmp_path / "d" / changed.run_id))


def test_errors_are_never_cached(toy_card: Path, tmp_path: Path) -> None:
    db = tmp_path / "cache.sqlite"
    s = evaluate(
        str(toy_card),
        "scripted",
        model_args={"fail_rate": 0.5},
        cache=db,
        output_dir=tmp_path / "runs",
    )
    assert 0 < s.n_errors < 12
    assert len(ResponseCache(db)) == 12 - s.n_errors


def test_card_changed_under_a_resume_is_refused(toy_card: Path, tmp_path: Path) -> None:
    s = evaluate(str(toy_card), "scripted", limit=2, output_dir=tmp_path / "runs")
    toy_card.write_text(toy_card.read_text().replace("version: '1'", "version: '2'"))
    from ps3_eval.errors import UsageError

    with pytest.raises(UsageError, match="changed since this run started"):
        evaluate("x", "x", resume=tmp_path / "runs" / s.run_id)


def test_bad_arguments(toy_card: Path, tmp_path: Path) -> None:
    from ps3_eval.errors import UsageError

    with pytest.raises(UsageError, match="limit"):
        evaluate(str(toy_card), "scripted", limit=0, output_dir=tmp_path)
    with pytest.raises(UsageError, match="not a run directory"):
        evaluate("x", "x", resume=tmp_path / "nothing")


def test_rerunning_a_finished_run_keeps_its_timing(toy_card: Path, tmp_path: Path) -> None:
    first = evaluate(
        str(toy_card),
        "scripted",
        model_args={"latency": 0.01},
        concurrency=2,
        output_dir=tmp_path / "runs",
    )
    again = evaluate(
        str(toy_card),
        "scripted",
        model_args={"latency": 0.01},
        concurrency=2,
        output_dir=tmp_path / "runs",
    )
    assert first.throughput and again.throughput == first.throughput
    assert again.model_dump(exclude={"finished_at"}) == first.model_dump(exclude={"finished_at"})


def test_selection_mask_round_trip_and_recall() -> None:
    import numpy as np

    from ps3_eval.records import Selection

    mask = np.zeros((4, 6), dtype=bool)
    mask[1:3, 2:4] = True
    runs = Selection.encode_mask(mask)
    sel = Selection(
        mode="top_down",
        selected_patches=4,
        total_patches=24,
        grid=(4, 6),
        patch_px=10.0,
        mask_runs=runs,
    )
    assert (sel.mask() == mask).all()
    assert sel.recall_of([20, 10, 40, 30]) == 1.0  # exactly the selected block
    assert sel.recall_of([0, 0, 40, 30]) == pytest.approx(4 / 12)
    assert Selection.encode_mask(np.ones((2, 2), dtype=bool)) == [0, 4]
    assert Selection(mode="full", selected_patches=1, total_patches=1).recall_of([0, 0, 1, 1]) == 1


def test_changed_data_never_resumes_an_old_run(tmp_path: Path) -> None:
    # Two folders with the same card text but different rows: two runs, not one resumed.
    a = write_mc_dataset(tmp_path / "a", n=4)
    b = write_mc_dataset(tmp_path / "b", n=6)
    out = tmp_path / "runs"
    sa = evaluate(str(a), "scripted", output_dir=out)
    sb = evaluate(str(b), "scripted", output_dir=out)
    assert sa.run_id != sb.run_id and sb.n == 6 and sb.n_total == 6
    # Editing the data in place also starts a new run; the same data resumes the same one.
    assert evaluate(str(a), "scripted", output_dir=out).run_id == sa.run_id
    data = a.parent / "data.jsonl"
    data.write_text(data.read_text().replace("square 1?", "square one?"))
    assert evaluate(str(a), "scripted", output_dir=out).run_id != sa.run_id
    from ps3_eval.errors import UsageError

    with pytest.raises(UsageError, match="data of task 'toy' changed"):
        evaluate("x", "x", resume=out / sa.run_id)


def test_results_are_self_contained(toy_card: Path, tmp_path: Path) -> None:
    # Reports, comparisons and MRR studies read a run directory alone, without the task's data.
    out = tmp_path / "runs"
    broken = toy_card.parent / "images" / "5.png"
    broken.write_bytes(b"not a png")
    s = evaluate(str(toy_card), "scripted", output_dir=out)
    for path in toy_card.parent.rglob("*.jsonl"):
        path.unlink()  # the dataset is gone; the run directory must still tell the whole story
    results = {r.sample_id: r for r in load_run(out / s.run_id).results}
    r = results["q001"]
    assert r.question == "Which colour is square 1?"
    assert r.choices == ["red", "green", "blue", "grey"]
    assert r.prompt is not None and "B. green" in r.prompt and r.question in r.prompt
    assert r.targets == ["B"] and r.category == "ui" and r.mrr == "2K"
    (ref,) = r.images
    assert ref.path == str(toy_card.parent / "images" / "1.png")
    assert (ref.width, ref.height) == (64, 48) and ref.digest and len(ref.digest) == 32
    bad = results["q005"]
    assert bad.error_kind == "image" and bad.images[0].path == str(broken)
    assert bad.question == "Which colour is square 5?"
    stored = json.loads((out / s.run_id / "samples.jsonl").read_text().splitlines()[0])
    assert "data" not in json.dumps(stored["images"])  # by reference, never pixels


def test_summary_keeps_stage_means_and_the_peak_memory() -> None:
    from datetime import datetime, timezone

    from ps3_eval.records import ModelOutput, RunSpec, SampleResult, Timing
    from ps3_eval.runner.summary import summarize

    now = datetime.now(timezone.utc)
    spec = RunSpec(task="t", task_version="1", card_digest="c", model="m", model_fingerprint="f")

    def result(i: int, vision: float | None, peak: float | None) -> SampleResult:
        extra = {} if peak is None else {"peak_memory_mb": peak}
        out = ModelOutput(text="a", timing=Timing(latency=1.0, vision_encoder=vision), extra=extra)
        return SampleResult(sample_id=str(i), output=out, scores={"accuracy": 1.0},
                            started_at=now, finished_at=now)  # fmt: skip

    s = summarize("r", spec, [result(0, 0.2, 900.0), result(1, 0.4, 1200.0), result(2, None, None)],
                  n_total=3)  # fmt: skip
    assert s.stage_means == {"vision_encoder": pytest.approx(0.3)}
    assert s.peak_memory_mb == 1200.0
    assert summarize("r", spec, [result(0, None, None)], n_total=1).peak_memory_mb is None
