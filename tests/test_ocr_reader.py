"""The ocr-reader backend through the real pipeline, on real probe4k pixels."""

from pathlib import Path

import pytest

from ps3_eval import evaluate, load_run
from ps3_eval.errors import UsageError
from ps3_eval.models import build_model

pytest.importorskip("rapidocr_onnxruntime", reason="ocr-reader needs rapidocr-onnxruntime")


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
    s = evaluate("probe4k", "ocr-reader", model_args=args, task_args={"n": n},
                 output_dir=tmp_path / "runs")
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


def test_selective_reading_at_3780_reads_4k_details_with_fewer_patches(tmp_path: Path) -> None:
    results = _run(tmp_path, {"resolution": 3780, "select": 0.15}, n=3)
    full_grid = 270 * 152
    for r in results:
        sel = r.output.selection
        assert sel is not None and sel.mode == "top_down"
        assert sel.total_patches == full_grid
        assert sel.selected_patches == pytest.approx(0.15 * full_grid, abs=1)
        assert r.output.usage.visual_tokens < full_grid
        assert sel.recall is not None and 0.0 <= sel.recall <= 1.0
        assert set(r.output.timing.stages) == {"selection", "recognition"}
    four_k = [r for r in results if r.mrr == "4K"]
    assert four_k and four_k[0].output.selection.recall > 0.5  # type: ignore[union-attr]
    assert sum(r.scores["accuracy"] for r in results) >= 2
