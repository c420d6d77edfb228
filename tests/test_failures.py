"""No single sample can stop a run, and failed calls are counted honestly."""

import asyncio
import json
import signal
import threading
import time
from pathlib import Path

import pytest

from ps3_eval import evaluate, load_run
from ps3_eval.models import Backend, register_model
from ps3_eval.records import ModelOutput, Request
from ps3_eval.runner import Progress


class _OwnTimeout(Backend):
    name = "own-timeout"
    kind = "test-double"

    async def generate(self, request: Request) -> ModelOutput:
        if request.sample_id.endswith(("1", "5")):
            raise TimeoutError("upstream gateway took too long")
        return ModelOutput(text=(request.oracle or ["A"])[0])


def test_a_backends_own_timeout_is_that_samples_error(toy_card: Path, tmp_path: Path) -> None:
    register_model("own-timeout", _OwnTimeout)
    s = evaluate(str(toy_card), "own-timeout", output_dir=tmp_path / "runs")  # no --timeout
    assert s.n == 9 and s.n_errors == 3  # q001, q005, q011
    assert s.errors == {"TimeoutError: upstream gateway took too long": 3}
    failed = [r for r in load_run(tmp_path / "runs" / s.run_id).results if r.error]
    assert {r.error_kind for r in failed} == {"model"}


class _EmptyError(Backend):
    name = "empty-error"
    kind = "test-double"

    async def generate(self, request: Request) -> ModelOutput:
        if request.sample_id == "q003":
            return ModelOutput(error="")
        return ModelOutput(text="A")


def test_an_error_without_a_message_is_still_an_error(toy_card: Path, tmp_path: Path) -> None:
    register_model("empty-error", _EmptyError)
    s = evaluate(str(toy_card), "empty-error", output_dir=tmp_path / "runs")
    assert s.n == 11 and s.n_errors == 1
    assert s.errors == {"empty-error returned an error without a message": 1}


class _Counting(Backend):
    name = "counting"
    kind = "test-double"
    calls: dict[str, int] = {}  # noqa: RUF012

    async def generate(self, request: Request) -> ModelOutput:
        self.calls[request.sample_id] = self.calls.get(request.sample_id, 0) + 1
        return ModelOutput(text=(request.oracle or ["A"])[0])


def _card_with_scorer(root: Path, flag: Path) -> Path:
    from tests.conftest import write_mc_dataset

    card = write_mc_dataset(root, n=8)
    (root / "hooks.py").write_text(
        "from pathlib import Path\n"
        "from ps3_eval.scoring import Score\n"
        "def score(prediction, sample):\n"
        f"    if sample.id in ('q002', 'q006') and Path({str(flag)!r}).exists():\n"
        "        raise ValueError('judge unreachable')\n"
        "    return Score({'accuracy': float(prediction in sample.targets)}, prediction)\n"
    )
    card.write_text(card.read_text() + "scorer: hooks.py:score\n")
    return card


def test_a_failing_scorer_is_that_samples_error_and_is_rescored(tmp_path: Path) -> None:
    flag = tmp_path / "judge-down"
    flag.touch()
    card = _card_with_scorer(tmp_path / "d", flag)
    register_model("counting", _Counting)
    _Counting.calls = {}
    out = tmp_path / "runs"
    first = evaluate(str(card), "counting", output_dir=out)
    assert first.n == 6 and first.n_errors == 2
    assert all("scorer 'hooks.py:score' failed: ValueError" in e for e in first.errors)
    failed = [r for r in load_run(out / first.run_id).results if r.error]
    assert {r.error_kind for r in failed} == {"scorer"}
    # The answers are kept for the rescoring (the toy card's answers cycle A, B, C, D).
    assert {r.sample_id: r.prediction for r in failed} == {"q002": "C", "q006": "C"}

    flag.unlink()  # the judge is back: resuming scores the stored answers, asks nothing again
    second = evaluate(str(card), "counting", output_dir=out)
    assert second.run_id == first.run_id and second.complete and second.n == 8
    assert second.metrics["accuracy"].mean == 1.0
    assert set(_Counting.calls.values()) == {1}


class _SlowCpu(Backend):
    """A CPU backend whose work cannot be interrupted once it started."""

    name = "slow-cpu"
    kind = "test-double"
    max_concurrency = 1
    events: list[tuple[str, str, float]] = []  # noqa: RUF012
    lock = threading.Lock()

    def _work(self, sample_id: str) -> ModelOutput:
        with self.lock:
            self.events.append(("start", sample_id, time.perf_counter()))
        time.sleep(1.0)  # ten times the timeout: the call is given up long before it ends
        with self.lock:
            self.events.append(("end", sample_id, time.perf_counter()))
        return ModelOutput(text="A")

    async def generate(self, request: Request) -> ModelOutput:
        return await self.in_thread(self._work, request.sample_id)


def test_a_timed_out_cpu_call_keeps_its_slot_until_it_ends(toy_card: Path, tmp_path: Path) -> None:
    register_model("slow-cpu", _SlowCpu)
    _SlowCpu.events = []
    s = evaluate(
        str(toy_card), "slow-cpu", timeout=0.1, limit=3, concurrency=3, output_dir=tmp_path / "r"
    )
    assert s.n_errors == 3 and next(iter(s.errors)) == "model call timed out after 0.1s"
    # Never two calls at once, though each timed out long before it ended: every call's work
    # ends before the next one's starts.
    kinds = [(kind, sid) for kind, sid, _ in _SlowCpu.events]
    order = [sid for kind, sid in kinds if kind == "start"]
    assert kinds == [(k, sid) for sid in order for k in ("start", "end")]
    # Failed calls are timed until they failed (the limit), not until their work ended, and kept
    # apart from answered ones.
    assert s.latency.n == 0 and s.latency_failed.n == 3
    took = {sid: t for kind, sid, t in _SlowCpu.events if kind == "end"}
    took = {sid: took[sid] - t for kind, sid, t in _SlowCpu.events if kind == "start"}
    run = load_run(tmp_path / "r" / s.run_id)
    for r in run.results:
        assert 0.1 <= r.output.timing.latency < took[r.sample_id], (r.output.timing, took)


def test_latency_is_split_and_throughput_counts_failures(toy_card: Path, tmp_path: Path) -> None:
    s = evaluate(
        str(toy_card),
        "scripted",
        model_args={"latency": 0.05, "fail_rate": 0.5, "seed": 3},
        concurrency=4,
        output_dir=tmp_path / "runs",
    )
    assert 0 < s.n_errors < 12 and s.n + s.n_errors == 12
    assert s.latency.n == s.n and s.latency_failed.n == s.n_errors
    assert s.latency_failed.mean is not None and s.latency_failed.mean >= 0.05
    assert s.throughput is not None and s.answered_throughput is not None
    assert s.throughput / s.answered_throughput == pytest.approx(12 / s.n)


def test_evaluate_runs_inside_a_running_event_loop(toy_card: Path, tmp_path: Path) -> None:
    from ps3_eval import evaluate_async

    async def notebook_cell() -> tuple[int, int]:
        # What Jupyter does: a loop is already running when the user calls evaluate().
        blocking = evaluate(str(toy_card), "scripted", output_dir=tmp_path / "a")
        awaited = await evaluate_async(str(toy_card), "scripted", output_dir=tmp_path / "b")
        return blocking.n, awaited.n

    assert asyncio.run(notebook_cell()) == (12, 12)


def test_interrupting_evaluate_in_a_running_loop_stops_the_run(
    toy_card: Path, tmp_path: Path
) -> None:
    import _thread
    import threading

    from tests.test_lock import feed, held_dataset

    # The last image is a named pipe: the run cannot end before the interrupt, however late the
    # interrupt comes on a busy machine.
    card, pipe, image = held_dataset(tmp_path / "held", n=12)
    out = tmp_path / "runs"

    def press_stop(progress: Progress) -> None:
        if progress.done == 2:  # the user presses stop while the run is under way
            threading.Timer(0.05, _thread.interrupt_main).start()

    async def notebook_cell() -> None:
        evaluate(
            str(card),
            "scripted",
            model_args={"latency": 0.01},
            concurrency=1,
            output_dir=out,
            on_progress=press_stop,
        )

    # A kernel's loop, like Jupyter's: an interrupt raises KeyboardInterrupt in the waiting thread
    # (asyncio.run would install a SIGINT handler of its own). The handler is set here because a
    # shell starts background jobs with SIGINT ignored, and then the interrupt would never arrive.
    loop = asyncio.new_event_loop()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(notebook_cell())
    finally:
        signal.signal(signal.SIGINT, previous)
        loop.close()
    assert not [t for t in threading.enumerate() if t.name == "ps3-eval-run"]
    (run_dir,) = out.iterdir()
    written = (run_dir / "samples.jsonl").read_text().count("\n")
    assert 2 <= written < 12 and (run_dir / "summary.json").is_file()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["n"] + summary["n_errors"] == written and not summary["complete"]
    feed(pipe, image)  # a decoder still waiting on the pipe (a late interrupt) lets go
