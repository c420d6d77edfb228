"""Provider image rules and prices against the providers' published examples and a local server.

Every number asserted here is one a provider publishes (a worked example, a table row, a constant)
or follows from its published formula; the sources are named in ``ps3_eval/models/api/vision.py``
and in ``prices.json``.
"""

from __future__ import annotations

import json
import os
import re
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
from ps3_eval.models import build_model
from ps3_eval.models.api.base import load_prices, price_of
from ps3_eval.models.api.vision import RULES, anthropic_rule, gemini_rule, openai_rule
from ps3_eval.runner import evaluate
from tests.fake_api import FakeApi, Server
from tests.test_api import BACKENDS, KEYS


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    for k, v in KEYS.items():
        monkeypatch.setenv(k, v)
    with Server() as state:
        yield state


def _args(name: str, api: FakeApi, **extra: Any) -> dict[str, Any]:
    args, suffix = BACKENDS[name]
    return {**args, "base_url": api.url + suffix, "max_retries": 1, "timeout": 10.0, **extra}


def _outputs(root: Path) -> list[Any]:
    return [r.output for r in load_run(next(root.iterdir())).results]


# -- Anthropic --------------------------------------------------------------------------------


TABLE = [(1092, 1092), (951, 1268), (896, 1344), (819, 1456), (784, 1568)]
"""Anthropic's table of the largest sizes, by aspect ratio, that Claude does not resize."""


def test_claude_resize_reproduces_the_published_table() -> None:
    rule = RULES["anthropic"]
    for (w, h), step in zip(TABLE, [(1, 1), (3, 4), (2, 3), (9, 16), (1, 2)], strict=True):
        assert rule.seen((w, h)) == (w, h)
        # One step larger at the same aspect ratio is resized back down to the table's size
        # (to within the rounding of a side the ratio does not divide).
        larger = (w + step[0], h + step[1])
        seen = rule.seen(larger)
        assert abs(seen[0] - w) <= 1 and abs(seen[1] - h) <= 1 and seen != larger, larger
        assert rule.seen((larger[1], larger[0])) == (seen[1], seen[0])  # the same, sideways
    # The documentation's example: a 16:9 frame is 1456x819, about 1590 tokens (w * h / 750).
    assert rule.seen((3840, 2160)) == (1456, 819) and rule.tokens((3840, 2160)) == 1590
    assert rule.seen((2160, 3840)) == (819, 1456) and rule.tokens((1092, 1092)) == 1590
    # Claude Opus 4.7 and later: 2576 px and 4784 28-pixel patches.
    big = anthropic_rule("claude-opus-4-7")
    assert big.seen((3840, 2160)) == (2576, 1449) and big.tokens((3840, 2160)) == 92 * 52
    assert anthropic_rule("claude-sonnet-4-5") is RULES["anthropic"]


def _noise_jpeg(path: Path, size: tuple[int, int], quality: int) -> int:
    import numpy as np

    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=quality)  # colour noise barely compresses
    return path.stat().st_size


def test_claude_5mb_limit_counts_the_base64_string(api: FakeApi, tmp_path: Path) -> None:
    root = tmp_path / "big"
    (root / "images").mkdir(parents=True)
    raw = _noise_jpeg(root / "images" / "0.jpg", (2000, 1800), 95)
    # Under 5 MB as a file, over 5 MB as the base64 Claude receives: the API refuses it.
    assert 3.75 * 2**20 < raw <= 5 * 2**20 and 4 * -(-raw // 3) > 5 * 2**20
    row = {"id": "0", "image": "images/0.jpg", "question": "noise?", "options": ["a", "b"],
           "answer": "A"}  # fmt: skip
    (root / "data.jsonl").write_text(json.dumps(row) + "\n")
    card = root / "card.yaml"
    card.write_text("name: big\nsource: {path: data.jsonl}\nfields: {id: id, choices: options}\n")
    summary = evaluate(str(card), "anthropic", model_args=_args("anthropic", api, resize="none"),
                       output_dir=tmp_path / "runs")  # fmt: skip
    assert summary.n == 1, summary.errors
    sent = _outputs(tmp_path / "runs")[0].sent_images[0]
    assert not sent.passthrough and 4 * -(-sent.bytes // 3) <= 5 * 2**20
    assert api.seen[0].image_bytes == [sent.bytes]


# -- OpenAI -----------------------------------------------------------------------------------


def test_openai_patch_rule_reproduces_the_published_examples() -> None:
    patches = RULES["openai-patches"]  # multiplier 1: the patch count itself
    assert patches.seen((1024, 1024)) == (1024, 1024) and patches.tokens((1024, 1024)) == 1024
    assert patches.seen((1800, 2400)) == (1056, 1408) and patches.tokens((1800, 2400)) == 1452
    # A 4K frame: both sides scale, then the height is cut to 29 whole patches.
    assert patches.seen((3840, 2160)) == (1649, 928) and patches.tokens((3840, 2160)) == 1508
    assert patches.seen((2160, 3840)) == (928, 1649) and patches.tokens((2160, 3840)) == 1508
    # The published multipliers.
    assert openai_rule("gpt-4.1-mini").tokens((3840, 2160)) == 2443  # 1508 x 1.62
    assert openai_rule("gpt-4.1-mini-2025-04-14").tokens((1024, 1024)) == 1659  # 1024 x 1.62
    assert openai_rule("gpt-4.1-nano").tokens((1024, 1024)) == 2520  # 1024 x 2.46
    assert openai_rule("o4-mini").tokens((1024, 1024)) == 1762  # 1024 x 1.72
    assert openai_rule("gpt-5-mini").tokens((1024, 1024)) == 1659
    assert openai_rule("gpt-5-nano").tokens((1024, 1024)) == 2520


def test_openai_tile_constants_per_model() -> None:
    gpt4o = openai_rule("gpt-4o-2024-08-06")
    assert gpt4o.seen((3840, 2160)) == (1365, 768)
    # The published gpt-4o examples: 1024x1024 high 765, 2048x4096 high 1105, low 85.
    assert gpt4o.tokens((1024, 1024)) == 765 and gpt4o.tokens((2048, 4096)) == 1105
    assert gpt4o.tokens((4096, 8192), "low") == 85
    four_tiles = {"gpt-5": 70 + 140 * 4, "gpt-5-chat-latest": 70 + 140 * 4, "o1": 75 + 150 * 4,
                  "o3": 75 + 150 * 4, "gpt-4.1": 85 + 170 * 4, "gpt-4o-mini": 2833 + 5667 * 4,
                  "computer-use-preview": 65 + 129 * 4}  # fmt: skip
    for model, tokens in four_tiles.items():
        assert openai_rule(model).tokens((1024, 1024)) == tokens, model
    assert openai_rule("gpt-5").tokens((1024, 1024), "low") == 70


def test_openai_patch_model_sends_what_it_reads(api: FakeApi, tmp_path: Path) -> None:
    summary = evaluate("probe4k", "openai", model_args=_args("openai", api, model="gpt-4.1-mini"),
                       task_args={"n": 1}, output_dir=tmp_path / "runs")  # fmt: skip
    assert summary.n == 1 and api.seen[0].images == [(1649, 928)]
    (out,) = _outputs(tmp_path / "runs")
    assert out.sent_images[0].tokens == 2443 and out.usage.estimated


# -- Gemini -----------------------------------------------------------------------------------


def test_gemini_tiles_before_3_and_fixed_tokens_from_3() -> None:
    flash = gemini_rule("gemini-2.5-flash")
    assert flash.tokens((384, 384)) == 258  # both sides within 384 px: one tile
    # A 4K frame fits 3072x1728; its crop unit is min(768, 1728 / 1.5): 4 x 3 tiles.
    assert flash.seen((3840, 2160)) == (3072, 1728) and flash.tokens((3840, 2160)) == 258 * 12
    # A 1280x720 crop (tiles=9 of a 4K frame): unit 720 / 1.5 = 480, so 3 x 2 tiles.
    assert flash.tokens((1280, 720)) == 258 * 6
    assert flash.tokens((600, 300)) == 258 * 3 * 2  # the unit is 256 px at least, not 200
    pro3 = gemini_rule("gemini-3-pro-preview")
    assert pro3.tokens((3840, 2160)) == 1120 and pro3.tokens((100, 100)) == 1120
    levels = {"low": 280, "medium": 560, "high": 1120, "ultra_high": 2240}
    for level, tokens in levels.items():
        assert gemini_rule("gemini-3-flash-preview", level).tokens((3840, 2160)) == tokens
    # Google publishes no count for a media_resolution set on 2.x: unknown, not a guess.
    assert gemini_rule("gemini-2.5-pro", "low").tokens((3840, 2160)) is None


def test_gemini_media_resolution_reaches_the_request(api: FakeApi, tmp_path: Path) -> None:
    args = _args("gemini", api, model="gemini-3-pro-preview", media_resolution="low", tiles=4)
    summary = evaluate("probe4k", "gemini", model_args=args, task_args={"n": 1},
                       output_dir=tmp_path / "low")  # fmt: skip
    assert summary.n == 1
    assert api.seen[0].options["generationConfig"]["mediaResolution"] == "MEDIA_RESOLUTION_LOW"
    (out,) = _outputs(tmp_path / "low")
    assert [p.tokens for p in out.sent_images] == [280] * 5
    # ultra_high exists per image part only.
    args = _args("gemini", api, model="gemini-3-pro-preview", media_resolution="ultra_high")
    evaluate("probe4k", "gemini", model_args=args, task_args={"n": 1},
             output_dir=tmp_path / "ultra")  # fmt: skip
    media = api.seen[1].options["mediaResolution"]
    assert [m and m.get("level") for m in media] == ["MEDIA_RESOLUTION_ULTRA_HIGH"]
    assert "mediaResolution" not in api.seen[1].options["generationConfig"]
    with pytest.raises(UsageError, match="ultra_high is for Gemini 3"):
        build_model("gemini", _args("gemini", api, media_resolution="ultra_high"))
    # Crops of a 2.x model are estimated by the crop-unit rule.
    evaluate("probe4k", "gemini", model_args=_args("gemini", api, tiles=9), task_args={"n": 1},
             output_dir=tmp_path / "tiles")  # fmt: skip
    (out,) = _outputs(tmp_path / "tiles")
    assert [p.tokens for p in out.sent_images] == [258 * 12] + [258 * 6] * 9


# -- estimates against what the server reports ---------------------------------------------------


def test_estimate_above_the_reported_input_is_flagged(api: FakeApi, tmp_path: Path) -> None:
    api.usage = (100, 5)  # the server says the whole prompt took 100 tokens
    evaluate("probe4k", "anthropic", model_args=_args("anthropic", api), task_args={"n": 1},
             output_dir=tmp_path / "runs")  # fmt: skip
    (out,) = _outputs(tmp_path / "runs")
    assert out.usage.visual_tokens == 1590 and out.usage.estimated
    assert out.extra["visual_estimate_over_input"] is True


def test_a_server_that_resizes_by_itself_records_unknown_tokens(
    api: FakeApi, tmp_path: Path
) -> None:
    summary = evaluate("probe4k", "openai-compatible", task_args={"n": 2},
                       model_args=_args("openai-compatible", api, vision_rule="none"),
                       output_dir=tmp_path / "runs")  # fmt: skip
    assert summary.n == 2 and summary.tokens.visual == 0.0  # no sample's count is known
    for out in _outputs(tmp_path / "runs"):
        assert out.usage.visual_tokens is None and out.sent_images[0].tokens is None
        assert "visual_estimate_over_input" not in out.extra


# -- prices -----------------------------------------------------------------------------------


def test_shipped_prices_name_their_source_and_price_current_opus_models() -> None:
    table = load_prices(None)
    for name, entry in table["models"].items():
        assert str(entry["source"]).startswith("https://"), name
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(entry["date"])), name
    for model in ("claude-opus-4-5-20251101", "claude-opus-4-6", "claude-opus-4-7"):
        assert price_of(table, model) == (5.0, 25.0), model
    assert price_of(table, "claude-opus-4-1-20250805") == (15.0, 75.0)
    assert price_of(table, "claude-opus-4-20250514") == (15.0, 75.0)
    assert price_of(table, "claude-opus-5-5") == (4.0, 20.0)
    assert price_of(table, "Qwen2-VL-7B-Instruct") is None


def test_price_file_longest_prefix_gives_exact_dollars(api: FakeApi, tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"name": "round", "date": "2026-01-01", "models": {
        "claude-opus-4": {"input": 10, "output": 100},
        "claude-opus-4-5": {"input": 1, "output": 10}}}))  # fmt: skip
    api.usage = (1_000_000, 100_000)  # a million tokens in, a hundred thousand out
    costs = {}
    for model in ("claude-opus-4-5-20251101", "claude-opus-4-1-20250805"):
        args = _args("anthropic", api, model=model, prices=str(prices))
        summary = evaluate("probe4k", "anthropic", model_args=args, task_args={"n": 1},
                           output_dir=tmp_path / model)  # fmt: skip
        costs[model] = summary.cost.total
        assert summary.cost.prices == "round 2026-01-01"
    assert costs == {"claude-opus-4-5-20251101": 2.0, "claude-opus-4-1-20250805": 20.0}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"models": {"gpt-4o": {"input": "two"}}}))
    with pytest.raises(UsageError, match="entry 'gpt-4o' needs numeric"):
        build_model("openai", _args("openai", api, prices=str(bad)))
