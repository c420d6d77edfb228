"""Fixtures that generate small datasets in the real layouts the loaders read."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

LETTERS = "ABCD"

# No test may reach a model or dataset hub: fail fast instead of hanging on the closed network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
# Generated benchmark images go to a per-session folder, shared by the tests of one session.
os.environ["PS3_EVAL_CACHE"] = tempfile.mkdtemp(prefix="ps3-eval-cache-")


def write_mc_dataset(
    root: Path, n: int = 12, *, size: tuple[int, int] = (64, 48), with_images: bool = True
) -> Path:
    """A jsonl multiple-choice set with an images/ folder; returns the card path."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(exist_ok=True)
    rows = []
    for i in range(n):
        row = {
            "qid": f"q{i:03d}",
            "question": f"Which colour is square {i}?",
            "options": ["red", "green", "blue", "grey"],
            "answer": LETTERS[i % 4],
            "cat": ["gaming", "ui"][i % 2],
            "mrr": ["1K", "2K", "4K"][i % 3],
        }
        if with_images:
            Image.new("RGB", size, (i * 20 % 255, 80, 160)).save(root / "images" / f"{i}.png")
            row["image"] = f"images/{i}.png"
        rows.append(row)
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    image_line = "  image: image\n" if with_images else "  image: null\n"
    card = root / "card.yaml"
    card.write_text(
        "name: toy\nversion: '1'\ndescription: generated toy task\n"
        "source:\n  path: data.jsonl\n"
        "fields:\n  id: qid\n" + image_line + "  question: question\n  choices: options\n"
        "  answer: answer\n  category: cat\n  mrr: mrr\n"
    )
    return card


@pytest.fixture
def toy_card(tmp_path: Path) -> Path:
    return write_mc_dataset(tmp_path / "toy")


@pytest.fixture
def make_dataset(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def make(**kwargs: object) -> Path:
        return write_mc_dataset(tmp_path / f"ds{next(counter)}", **kwargs)  # type: ignore[arg-type]

    return make


# In CI every extra is installed: a skip there would hide a test, so it fails instead. The one
# exception is the lmms bridge, which CI runs in an environment of its own (.ci/run).
_CI_MAY_SKIP = ("in its own environment",)


def _skip_in_ci(report: pytest.CollectReport | pytest.TestReport) -> None:
    if not os.environ.get("CI") or not report.skipped:
        return
    if hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    if any(allowed in reason for allowed in _CI_MAY_SKIP):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped in CI, where every extra is installed: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    _skip_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):  # type: ignore[no-untyped-def]
    outcome = yield
    _skip_in_ci(outcome.get_result())
