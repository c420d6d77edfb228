"""API backends through their real SDKs against a local server speaking each wire format."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

# The api extra; in CI (where it is installed) a missing SDK fails instead of skipping the file.
if not os.environ.get("CI"):
    pytest.importorskip("openai", reason="needs the api extra")
    pytest.importorskip("anthropic", reason="needs the api extra")
    pytest.importorskip("google.genai", reason="needs the api extra")


from ps3_eval.analysis import load_run
from ps3_eval.errors import UsageError
from ps3_eval.models.api.vision import RULES
from ps3_eval.runner import evaluate
from tests.fake_api import FakeApi, Server, input_tokens

KEYS = {
    "OPENAI_API_KEY": "sk-test-SECRETKEY-0123456789abcdef",
    "ANTHROPIC_API_KEY": "sk-ant-SECRETKEY-0123456789abcdef",
    "GEMINI_API_KEY": "gm-SECRETKEY-0123456789abcdef",
}
BACKENDS = {
    "openai": ({"model": "gpt-4o"}, "/v1"),
    "anthropic": ({"model": "claude-sonnet-4-5"}, ""),
    "gemini": ({"model": "gemini-2.5-flash"}, ""),
    "openai-compatible": ({"model": "Qwen2-VL-7B-Instruct"}, "/v1"),
}


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    for k, v in KEYS.items():
        monkeypatch.setenv(k, v)
    with Server() as state:
        yield state


def _args(name: str, api: FakeApi, **extra: Any) -> dict[str, Any]:
    args, suffix = BACKENDS[name]
    return {**args, "base_url": api.url + suffix, "max_retries": 3, "timeout": 5.0, **extra}


def _files(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*") if p.is_file())


ROUND_PRICES = {
    "name": "round",
    "date": "2026-01-01",
    "models": {
        m: {"input": 1, "output": 10} for m in ("gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash")
    },
}
"""USD 1 per million tokens in and 10 per million out, for every priced backend's model."""


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_backend_answers_records_what_was_sent_and_prices_it(
    name: str, api: FakeApi, tmp_path: Path
) -> None:
    api.answer = lambda text: "B"
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps(ROUND_PRICES))
    summary = evaluate(
        "probe4k", name, model_args=_args(name, api, prices=str(prices)), task_args={"n": 4},
        output_dir=tmp_path / "runs", cache=tmp_path / "cache.sqlite",
    )  # fmt: skip
    assert summary.complete and summary.n == 4 and summary.n_errors == 0
    run = load_run(next((tmp_path / "runs").iterdir()))
    assert len(api.seen) == 4
    by_text = {s.text: s for s in api.seen}
    dollars = []
    for r in run.results:
        seen = by_text[r.prompt or ""]
        # What the server decoded is what the record says was sent.
        assert [tuple(i.sent) for i in r.output.sent_images] == seen.images
        assert [i.bytes for i in r.output.sent_images] == seen.image_bytes
        n_in = input_tokens(seen.text, len(seen.images))  # the server's own counts
        assert r.output.usage.input_tokens == n_in and r.output.usage.output_tokens == 1
        assert r.prediction == "B" and r.output.attempts == 1
        dollars.append(n_in * 1e-6 + 1 * 10e-6)  # $1 per million in, $10 per million out
        if name != "openai-compatible":
            assert r.output.cost == pytest.approx(dollars[-1], rel=1e-12)
    if name == "openai":
        # GPT-4o's rule keeps 1365x768 of a 3840x2160 frame; the image is shrunk here to that.
        assert api.seen[0].images == [(1365, 768)]
        assert run.results[0].output.sent_images[0].seen == (1365, 768)
    if name == "anthropic":
        # Claude's table: a 16:9 frame is read at 1456x819; sent at that size, not resized again.
        assert api.seen[0].images == [(1456, 819)]
        assert run.results[0].output.sent_images[0].seen == (1456, 819)
    if name == "openai-compatible":
        assert api.seen[0].images == [(3840, 2160)]  # a local server's own processor decides
        assert summary.cost.n_priced == 0 and summary.cost.n_unpriced == 4
        assert summary.cost.total == 0 and all(r.output.cost is None for r in run.results)
    else:
        assert summary.cost.total == pytest.approx(sum(dollars), rel=1e-12)
        assert summary.cost.per_sample == pytest.approx(sum(dollars) / 4, rel=1e-12)
        assert summary.cost.n_priced == 4 and summary.cost.prices == "round 2026-01-01"
    # The key reaches no file of the run or the cache.
    for path in [*_files(tmp_path / "runs"), tmp_path / "cache.sqlite"]:
        data = path.read_bytes()
        for key in KEYS.values():
            assert key.encode() not in data, path


def test_retries_429_and_500_then_answers(api: FakeApi, tmp_path: Path) -> None:
    api.faults = ["429", "500"]
    summary = evaluate(
        "probe4k", "openai", model_args=_args("openai", api), task_args={"n": 1},
        output_dir=tmp_path / "runs",
    )  # fmt: skip
    assert summary.n == 1 and len(api.seen) == 3
    result = load_run(next((tmp_path / "runs").iterdir())).results[0]
    assert result.output.attempts == 3


@pytest.mark.parametrize("name", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("fault", ["429", "429ms"])
def test_the_servers_retry_after_is_the_wait(
    name: str, fault: str, api: FakeApi, tmp_path: Path
) -> None:
    # 0.6 s: a wait the random backoff of a first retry (at most 0.5 s) never draws.
    api.faults, api.retry_after, api.retry_after_ms = [fault, fault], "0.6", "600"
    summary = evaluate(
        "probe4k", name, model_args=_args(name, api), task_args={"n": 1},
        output_dir=tmp_path / "runs",
    )  # fmt: skip
    assert summary.n == 1 and len(api.seen) == 3
    result = load_run(next((tmp_path / "runs").iterdir())).results[0]
    assert result.output.attempts == 3 and result.output.extra["retry_waits"] == [0.6, 0.6]


def test_bad_request_is_not_retried_and_hides_the_key(api: FakeApi, tmp_path: Path) -> None:
    api.faults = ["400"]
    summary = evaluate(
        "probe4k", "anthropic", model_args=_args("anthropic", api), task_args={"n": 1},
        output_dir=tmp_path / "runs",
    )  # fmt: skip
    assert summary.n == 0 and summary.n_errors == 1 and len(api.seen) == 1
    assert KEYS["ANTHROPIC_API_KEY"] in api.seen[0].auth  # the server did get the key ...
    result = load_run(next((tmp_path / "runs").iterdir())).results[0]
    assert "HTTP 400" in (result.error or "") and result.error_kind == "model"
    for path in _files(tmp_path / "runs"):  # ... and echoed it, yet no file holds it
        assert KEYS["ANTHROPIC_API_KEY"].encode() not in path.read_bytes()
        assert b"SECRETKEY" not in path.read_bytes()


def test_exhausted_retries_are_an_error_record_retried_on_resume(
    api: FakeApi, tmp_path: Path
) -> None:
    api.faults = ["500", "500"]
    args = _args("gemini", api, max_retries=1)
    first = evaluate("probe4k", "gemini", model_args=args, task_args={"n": 2},
                     output_dir=tmp_path / "runs", concurrency=1)  # fmt: skip
    assert first.n == 1 and first.n_errors == 1 and len(api.seen) == 3
    assert "after 2 attempts" in next(iter(first.errors))
    again = evaluate("probe4k", "gemini", model_args=args, task_args={"n": 2},
                     output_dir=tmp_path / "runs")  # fmt: skip
    assert again.complete and again.n == 2 and len(api.seen) == 4


@pytest.mark.parametrize("fault", ["slow", "malformed"])
def test_timeouts_and_malformed_replies_are_retried(
    fault: str, api: FakeApi, tmp_path: Path
) -> None:
    api.faults, api.slow_s = [fault], 2.0
    summary = evaluate(
        "probe4k", "openai", model_args=_args("openai", api, timeout=0.5), task_args={"n": 1},
        output_dir=tmp_path / "runs",
    )  # fmt: skip
    assert summary.n == 1 and len(api.seen) == 2


@pytest.mark.parametrize("name", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("fault", ["empty", "refusal"])
def test_empty_and_refused_completions_are_recorded_as_such(
    name: str, fault: str, api: FakeApi, tmp_path: Path
) -> None:
    api.faults = [fault]
    summary = evaluate(
        "probe4k", name, model_args=_args(name, api), task_args={"n": 1},
        output_dir=tmp_path / "runs",
    )  # fmt: skip
    assert summary.n == 0 and summary.n_errors == 1 and len(api.seen) == 1
    result = load_run(next((tmp_path / "runs").iterdir())).results[0]
    word = "empty" if fault == "empty" else "refused"
    assert word in (result.error or ""), result.error
    # The provider's own stop reason, as its server sent it, and no score.
    assert result.output.finish_reason == FINISH[name][fault] and not result.scores
    assert result.prediction is None or result.prediction == ""


FINISH = {
    "openai": {"empty": "stop", "refusal": "stop"},  # its refusal is a field of the message
    "anthropic": {"empty": "end_turn", "refusal": "refusal"},
    "gemini": {"empty": "STOP", "refusal": "SAFETY"},
}


def test_missing_key_is_one_line_before_any_sample(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(UsageError, match="set GEMINI_API_KEY or GOOGLE_API_KEY"):
        evaluate("probe4k", "gemini:model=gemini-2.5-flash", task_args={"n": 1},
                 output_dir=tmp_path / "runs")  # fmt: skip
    assert not (tmp_path / "runs").exists()
    monkeypatch.setenv("MY_KEY", "k")
    with pytest.raises(UsageError, match="set MY_KEY"):
        evaluate("probe4k", "openai:model=gpt-4o,api_key_env=MY_KEYS", task_args={"n": 1},
                 output_dir=tmp_path / "runs")  # fmt: skip


def _jpeg_task(tmp_path: Path, size: tuple[int, int]) -> Path:
    root = tmp_path / "jpeg"
    (root / "images").mkdir(parents=True)
    Image.new("RGB", size, (200, 30, 30)).save(root / "images" / "0.jpg", quality=80)
    row = {"id": "0", "image": "images/0.jpg", "question": "colour?", "options": ["red", "blue"],
           "answer": "A"}  # fmt: skip
    (root / "data.jsonl").write_text(json.dumps(row) + "\n")
    card = root / "card.yaml"
    card.write_text("name: jpeg\nsource: {path: data.jsonl}\nfields: {id: id, choices: options}\n")
    return card


def test_source_bytes_pass_through_untouched_when_they_meet_the_policy(
    api: FakeApi, tmp_path: Path
) -> None:
    card = _jpeg_task(tmp_path, (1200, 700))
    source = (tmp_path / "jpeg" / "images" / "0.jpg").read_bytes()
    summary = evaluate(
        str(card),
        "openai-compatible",
        model_args=_args("openai-compatible", api),
        output_dir=tmp_path / "r1",
    )
    assert summary.n == 1
    sent = load_run(next((tmp_path / "r1").iterdir())).results[0].output.sent_images[0]
    assert sent.passthrough and api.seen[0].image_hashes[0] == hashlib.sha256(source).hexdigest()
    # Over the policy's size: decoded, shrunk, re-encoded, and recorded as such.
    evaluate(
        str(card),
        "openai-compatible",
        model_args=_args("openai-compatible", api, max_side=600),
        output_dir=tmp_path / "r2",
    )
    sent = load_run(next((tmp_path / "r2").iterdir())).results[0].output.sent_images[0]
    assert not sent.passthrough and sent.sent == (600, 350) and api.seen[1].images == [(600, 350)]


def test_a_jpeg_stored_sideways_is_sent_upright(api: FakeApi, tmp_path: Path) -> None:
    # A phone photo: 300x200 pixels stored, EXIF orientation 6, so it is shown 200 wide, 300 high.
    root = tmp_path / "side"
    (root / "images").mkdir(parents=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (300, 200), (30, 90, 200)).save(root / "images" / "0.jpg", exif=exif)
    row = {"id": "0", "image": "images/0.jpg", "question": "q?", "options": ["a", "b"],
           "answer": "A"}  # fmt: skip
    (root / "data.jsonl").write_text(json.dumps(row) + "\n")
    card = root / "card.yaml"
    card.write_text("name: side\nsource: {path: data.jsonl}\nfields: {id: id, choices: options}\n")
    for name, out in (("openai-compatible", "r1"), ("anthropic", "r2")):
        summary = evaluate(str(card), name, model_args=_args(name, api), output_dir=tmp_path / out)
        assert summary.n == 1, summary.errors
        result = load_run(next((tmp_path / out).iterdir())).results[0]
        (sent,) = result.output.sent_images
        # Under every size limit, yet not passed on as the file: its pixels lie on their side.
        assert not sent.passthrough and sent.sent == (200, 300) and sent.seen == (200, 300)
        assert api.seen[-1].images == [(200, 300)]  # what the server decoded
        assert (result.images[0].width, result.images[0].height) == (200, 300)


def test_tiles_let_the_model_see_4k_detail(api: FakeApi, tmp_path: Path) -> None:
    summary = evaluate(
        "probe4k", "openai", model_args=_args("openai", api, tiles=9), task_args={"n": 1},
        output_dir=tmp_path / "runs",
    )  # fmt: skip
    assert summary.n == 1
    parts = load_run(next((tmp_path / "runs").iterdir())).results[0].output.sent_images
    assert len(parts) == 10 and parts[0].crop is None
    crops = [p.crop for p in parts[1:]]
    assert crops[0] == (0, 0, 1280, 720) and crops[-1] == (2560, 1440, 3840, 2160)
    # Each 1280x720 crop is under GPT-4o's resize threshold: seen at full resolution.
    assert all(p.seen == p.sent == (1280, 720) for p in parts[1:])
    assert api.seen[0].images == [(1365, 768)] + [(1280, 720)] * 9
    assert "Crops of the image above" in api.seen[0].text


def test_rate_limits_space_requests_and_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limiter's schedule on a fake clock: each start exactly where the budgets put it."""
    import asyncio
    from types import SimpleNamespace

    from ps3_eval.models.api import limits

    clock = [0.0]

    async def sleep(seconds: float) -> None:
        clock[0] += seconds
        await asyncio.sleep(0)  # let the other callers reach the limiter meanwhile

    monkeypatch.setattr(limits, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(limits, "asyncio", SimpleNamespace(sleep=sleep, Lock=asyncio.Lock))

    def run(rpm: float | None, tpm: float | None, tokens: int, n: int) -> list[float]:
        clock[0] = 0.0
        limiter = limits.RateLimiter(rpm=rpm, tpm=tpm)

        async def one() -> float:
            await limiter.acquire(tokens)
            return clock[0]

        async def all_at_once() -> list[float]:
            return sorted(await asyncio.gather(*(one() for _ in range(n))))

        return asyncio.run(all_at_once())

    # 600 requests a minute: request k starts at k * 0.1 s.
    assert run(600, None, 10, 4) == pytest.approx([0.0, 0.1, 0.2, 0.3])
    # 60,000 tokens a minute (1,000 a second), a full bucket, 1,500-token calls: forty start at
    # once, the 41st waits for 1,500 tokens of refill.
    assert run(None, 60_000, 1_500, 41) == pytest.approx([0.0] * 40 + [1.5])
    # Both budgets: the later of the two waits.
    assert run(60, 60_000, 30_000, 3) == pytest.approx([0.0, 1.0, 30.0])


def test_operational_arguments_keep_the_run_identity(api: FakeApi, tmp_path: Path) -> None:
    from ps3_eval.models import build_model

    a = build_model("openai", _args("openai", api, timeout=5.0, rpm=100))
    b = build_model("openai", _args("openai", api, timeout=60.0, max_retries=0))
    c = build_model("openai", _args("openai", api, tiles=4))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_png_over_the_byte_limit_is_reencoded(api: FakeApi, tmp_path: Path) -> None:
    from ps3_eval.models.api.payload import ImagePolicy, prepare
    from ps3_eval.models.api.vision import _rule
    from ps3_eval.records import ImagePart

    noise = Image.effect_noise((800, 600), 90).convert("RGB")
    buf = io.BytesIO()
    noise.save(buf, format="PNG")
    part = ImagePart(data=buf.getvalue(), width=800, height=600, digest="x", format="PNG")
    tight = _rule("tight", 200_000, 10, None, "none", 64)
    out = prepare(part, 0, tight, ImagePolicy())
    assert len(out) == 1 and out[0].record.format == "JPEG" and len(out[0].data) <= 200_000
    assert not out[0].record.passthrough


def test_report_says_what_the_model_saw(api: FakeApi, tmp_path: Path) -> None:
    from ps3_eval.report import seen_text

    evaluate("probe4k", "openai", model_args=_args("openai", api, tiles=9), task_args={"n": 1},
             output_dir=tmp_path / "runs")  # fmt: skip
    result = load_run(next((tmp_path / "runs").iterdir())).results[0]
    assert seen_text(result) == "saw 1365x768 of 3840x2160 + 9 crops at 1280x720"


def test_missing_key_from_the_cli_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.test_cli import cli

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    res = cli("run", "-t", "probe4k", "-m", "anthropic:model=claude-sonnet-4-5", "--task-arg",
              "n=1", "--output-dir", str(tmp_path / "runs"), check=False)  # fmt: skip
    assert res.returncode == 2 and "set ANTHROPIC_API_KEY" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()


def test_limits_of_many_images_and_request_bytes() -> None:
    from ps3_eval.errors import DataError
    from ps3_eval.models.api.payload import ImagePolicy, prepare_all
    from ps3_eval.records import ImagePart

    big = Image.new("RGB", (3000, 1000), (10, 20, 30))
    parts = [ImagePart(image=big, width=3000, height=1000, digest=str(i)) for i in range(21)]
    # Claude: with more than 20 images, none may be over 2000 px (a resize, recorded).
    out = prepare_all(parts, RULES["anthropic"], ImagePolicy(resize="none"))
    assert all(max(p.record.sent) <= 2000 for p in out)
    out = prepare_all(parts[:20], RULES["anthropic"], ImagePolicy(resize="none"))
    assert all(p.record.sent == (3000, 1000) for p in out)
    with pytest.raises(DataError, match="limit of 100 per request"):
        prepare_all(parts[:11], RULES["anthropic"], ImagePolicy(tiles=9))


# -- issue 17: arguments, failures, outages, retry hints, echoed keys ------------------------------


def test_none_reaches_literal_and_string_arguments_from_spec_and_cli(
    api: FakeApi, tmp_path: Path
) -> None:
    from ps3_eval.models import build_model, parse_model_spec
    from tests.test_cli import cli

    # From the model string: the Literal resize and the plain-string vision_rule take "none";
    # an optional number given "none" still becomes None.
    url = api.url + "/v1"
    spec = f"openai:model=gpt-4o,base_url={url},resize=none,max_side=none,timeout=5"
    summary = evaluate("probe4k", spec, task_args={"n": 1}, output_dir=tmp_path / "r1")
    assert summary.n == 1 and api.seen[-1].images == [(3840, 2160)]
    name, args = parse_model_spec(f"openai-compatible:model=m,base_url={url},vision_rule=none")
    compatible = build_model(name, args)
    assert compatible.args.vision_rule == "none"  # type: ignore[attr-defined]
    assert build_model("openai", {"model": "gpt-4o", "max_side": None}).args.max_side is None
    # From the command line's -a, as a user types it.
    res = cli("run", "-t", "probe4k", "-m", f"openai:model=gpt-4o,base_url={url}", "-a",
              "resize=none", "--task-arg", "n=1", "--output-dir", str(tmp_path / "r2"),
              check=False)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert api.seen[-1].images == [(3840, 2160)]


@pytest.mark.parametrize("name", ["openai", "anthropic", "gemini"])
def test_error_record_after_retries_says_how_often_and_what_was_sent(
    name: str, api: FakeApi, tmp_path: Path
) -> None:
    api.faults = ["500", "500", "500"]
    summary = evaluate(
        "probe4k", name, model_args=_args(name, api, max_retries=2), task_args={"n": 1},
        output_dir=tmp_path / "runs",
    )  # fmt: skip
    assert summary.n_errors == 1 and len(api.seen) == 3
    result = load_run(next((tmp_path / "runs").iterdir())).results[0]
    assert "after 3 attempts" in (result.error or "") and result.error_kind == "model"
    assert result.output.attempts == 3
    sent = result.output.sent_images
    assert [tuple(i.sent) for i in sent] == api.seen[0].images == api.seen[-1].images
    assert [i.bytes for i in sent] == api.seen[-1].image_bytes
    assert len(result.output.extra["retry_waits"]) == 2


def _sdk_objects() -> list[object]:
    """Live exceptions raised by an SDK or its HTTP stack, and live HTTP request objects."""
    import gc

    roots = ("openai", "anthropic", "google", "httpx", "httpcore", "aiohttp")
    found = []
    for obj in gc.get_objects():
        kind = type(obj)
        if not str(getattr(kind, "__module__", "")).startswith(roots):
            continue
        if isinstance(obj, BaseException) or kind.__name__ in ("Request", "ClientRequest"):
            found.append(obj)
    return found


@pytest.mark.parametrize("name", ["openai", "anthropic", "gemini"])
def test_failed_attempts_keep_no_request_alive_while_backing_off(
    name: str, api: FakeApi, tmp_path: Path
) -> None:
    """During an outage every call waits out its backoff holding no request body.

    The cyclic garbage collector is off, so anything kept only by a reference cycle (an exception's
    traceback holding the frame that holds the exception) counts as alive, as it does between
    collections of a real run.
    """
    import asyncio
    import gc
    import time

    from ps3_eval.runner import evaluate_async

    n = 4
    api.faults, api.retry_after = ["429"] * n, "60"  # every call sleeps a minute after failing
    args = _args(name, api, max_retries=1)

    before = {id(o) for o in _sdk_objects()}  # module-level ones, such as aiohttp's constants

    async def scenario() -> list[str]:
        run = asyncio.ensure_future(evaluate_async(
            "probe4k", name, model_args=args, task_args={"n": n}, concurrency=n,
            output_dir=tmp_path / "runs"))  # fmt: skip
        try:
            left = ["the calls never failed"]
            give_up = time.monotonic() + 15  # a guard against waiting forever, far below 60 s
            while time.monotonic() < give_up:  # until every call has failed and is backing off
                await asyncio.sleep(0.05)
                if len(api.seen) == n:
                    left = [type(o).__name__ for o in _sdk_objects() if id(o) not in before]
                    if not left:
                        break
            return left
        finally:
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)

    gc.collect()
    gc.disable()
    try:
        left = asyncio.run(scenario())
    finally:
        gc.enable()
    assert len(api.seen) == n  # nobody retried yet: all were backing off
    assert not left, f"alive while backing off: {left}"


def test_gemini_retry_delay_in_the_error_body_is_honoured(api: FakeApi, tmp_path: Path) -> None:
    import asyncio

    from google import genai
    from google.genai import types

    from ps3_eval.models.api.limits import classify

    api.faults, api.retry_delay = ["429rpc"], "1.5s"
    client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=api.url)).aio
    with pytest.raises(Exception) as info:  # the SDK's own error type, from the real wire
        asyncio.run(client.models.generate_content(model="gemini-2.5-flash", contents="hi"))
    failure = classify(info.value)
    assert failure.retry and failure.after == 1.5
    # In a run: the wait before the retry is the server's, not a random backoff.
    api.faults, api.retry_delay = ["429rpc"], "0.2s"
    summary = evaluate("probe4k", "gemini", model_args=_args("gemini", api), task_args={"n": 1},
                       output_dir=tmp_path / "runs")  # fmt: skip
    assert summary.n == 1
    result = load_run(next((tmp_path / "runs").iterdir())).results[0]
    assert result.output.attempts == 2 and result.output.extra["retry_waits"] == [0.2]


@pytest.mark.parametrize("name", ["openai", "anthropic", "gemini"])
def test_key_echoed_in_a_successful_answer_is_scrubbed(
    name: str, api: FakeApi, tmp_path: Path
) -> None:
    api.faults = ["echo"]
    summary = evaluate(
        "probe4k", name, model_args=_args(name, api), task_args={"n": 1},
        output_dir=tmp_path / "runs", cache=tmp_path / "cache.sqlite",
    )  # fmt: skip
    assert summary.n == 1
    key = KEYS[{"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}.get(
        name, "GEMINI_API_KEY")]  # fmt: skip
    assert key in api.seen[0].auth
    result = load_run(next((tmp_path / "runs").iterdir())).results[0]
    assert "you sent" in (result.output.text or "") and "***" in result.output.text
    for path in [*_files(tmp_path / "runs"), tmp_path / "cache.sqlite"]:
        data = path.read_bytes()
        assert key.encode() not in data and b"SECRETKEY" not in data, path


def test_a_run_whose_every_call_fails_exits_non_zero_from_the_cli(
    api: FakeApi, tmp_path: Path
) -> None:
    from tests.conftest import write_mc_dataset
    from tests.test_cli import cli

    card = write_mc_dataset(tmp_path / "d", n=3, size=(32, 32))
    api.faults = ["500"] * 50  # an outage: every attempt of every call fails
    out = tmp_path / "runs"
    spec = f"openai:model=gpt-4o,base_url={api.url}/v1,max_retries=1,timeout=5"
    res = cli("run", "-t", str(card), "-m", spec, "--output-dir", str(out), check=False)
    assert res.returncode == 3, res.stderr
    run_dir = next(out.iterdir())
    assert (
        f"3 of 3 samples ended in an error (not scored); a re-run retries them: "
        f"ps3-eval run --resume {run_dir}" in res.stdout
    )
    assert len(api.seen) == 6  # each call tried twice, none scored
    assert load_run(run_dir).summary.n_errors == 3  # type: ignore[union-attr]
    # the outage is over: the same command retries the three and exits 0
    api.faults = []
    again = cli("run", "-t", str(card), "-m", spec, "--output-dir", str(out), "--json")
    assert json.loads(again.stdout)["n"] == 3 and len(api.seen) == 9
