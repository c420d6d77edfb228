"""The ocr-reader backend through the real pipeline, on real probe4k pixels."""

import math
from pathlib import Path

import pytest

from ps3_eval import evaluate, load_run
from ps3_eval.errors import UsageError
from ps3_eval.models import build_model


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ({"resolution": 10}, "greater than or equal to 64"),
        ({"resolution": 99999}, "less than or equal to 8192"),
        ({"select": 0}, "greater than 0"),
        ({"select": 1.5}, "less than or equal to 1"),
        ({"select": 0.1, "max_patches": 10}, "not both"),
        ({"select": 0.1, "resolution": 756, "low_res": 756}, "must be below resolution"),
        ({"mode": "sideways"}, "top_down"),
        ({"threads": 0}, "greater than or equal to 1"),
    ],
)
def test_argument_errors_name_the_range(args: dict[str, object], needle: str) -> None:
    with pytest.raises(UsageError, match=needle) as exc:
        build_model("ocr-reader", args)
    assert "ocr-reader" in str(exc.value) and "\n" not in str(exc.value)


def _run(tmp_path: Path, args: dict[str, object], n: int = 6) -> list:  # type: ignore[type-arg]
    s = evaluate(
        "probe4k", "ocr-reader", model_args=args, task_args={"n": n}, output_dir=tmp_path / "runs"
    )
    assert s.n_errors == 0, s.errors
    return load_run(tmp_path / "runs" / s.run_id).results


def test_low_resolution_misses_4k_details_and_never_guesses(tmp_path: Path) -> None:
    results = _run(tmp_path, {"resolution": 756})
    four_k = [r for r in results if r.mrr == "4K"]
    assert four_k and all(r.scores["accuracy"] == 0.0 for r in four_k)
    # Not read means no answer: an abstention, never a letter picked at random.
    assert all(r.extracted is None and r.prediction == "" for r in four_k)
    one_k = [r for r in results if r.mrr == "1K"]
    assert sum(r.scores["accuracy"] for r in one_k) >= 1
    r = results[0]
    assert r.output.usage.visual_tokens == 54 * 31  # ceil(756/14) x ceil(425/14)
    assert r.output.image_sizes == [(756, 425)]
    assert r.output.selection is not None and r.output.selection.mode == "full"


def test_selective_reading_at_3780_reads_with_fewer_patches(tmp_path: Path) -> None:
    results = _run(tmp_path, {"resolution": 3780, "select": 0.25}, n=3)
    boxes = {s.id: s.bbox for s in _probe_samples(3)}
    full_grid = 270 * 152
    for r in results:
        sel = r.output.selection
        assert sel is not None and sel.mode == "top_down" and sel.total_patches == full_grid
        assert sel.selected_patches == pytest.approx(0.25 * full_grid, abs=1)
        assert r.output.usage.visual_tokens == 54 * 31 + sel.selected_patches < full_grid
        assert set(r.output.timing.stages) == {"selection", "detection", "recognition"}
        # The recorded recall is the share of the answer box's patches on the 3780 grid that
        # the recorded mask holds (the box in 4K pixels, 14-pixel patches at 3780/3840).
        mask = sel.mask()
        assert mask is not None and int(mask.sum()) == sel.selected_patches
        x0, y0, x1, y1 = (v * 3780 / 3840 / 14 for v in boxes[r.sample_id])
        under = mask[math.floor(y0) : math.ceil(y1), math.floor(x0) : math.ceil(x1)]
        assert sel.recall == pytest.approx(float(under.mean()))
    # The 1K and 2K details are large enough to be found at low resolution and read.
    easy = [r for r in results if r.mrr in {"1K", "2K"}]
    assert all((r.output.selection.recall or 0) > 0.5 for r in easy)  # type: ignore[union-attr]
    assert sum(r.scores["accuracy"] for r in easy) >= 1


def _probe_samples(n: int) -> list:  # type: ignore[type-arg]
    from ps3_eval import load_task

    return list(load_task("probe4k", args={"n": n}).samples())


def test_designed_mrr_holds_at_full_resolution(tmp_path: Path) -> None:
    """The 4K bucket, unreadable at 756 (test above), is answered well above chance at 3780."""
    results = _run(tmp_path, {"resolution": 3780}, n=6)
    four_k = [r.scores["accuracy"] for r in results if r.mrr == "4K"]
    assert len(four_k) == 2 and sum(four_k) / len(four_k) > 0.25
    assert results[0].output.usage.visual_tokens == 270 * 152
