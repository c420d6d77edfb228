"""Run options that change what the model is shown: ``image_side`` and ``no_image``."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from PIL import Image
from typer.testing import CliRunner

from ps3_eval import evaluate
from ps3_eval.cli import app
from ps3_eval.errors import UsageError
from ps3_eval.models import Backend, register_model
from ps3_eval.models.base import ModelArgs
from ps3_eval.records import ModelOutput, Request, Selection
from tests.conftest import write_mc_dataset


class _SizeArgs(ModelArgs):
    encoded: bool = False


class _Sizes(Backend):
    """Answers with what it was shown: the number of images and each one's size."""

    name = "view-sizes"
    kind = "test-double"
    Args = _SizeArgs
    seen: ClassVar[list[tuple[int, int]]] = []

    def __init__(self, args: ModelArgs) -> None:
        super().__init__(args)
        assert isinstance(args, _SizeArgs)
        # An API-like backend takes encoded images; a local one takes pixels.
        self.decodes_pixels = not args.encoded  # type: ignore[misc]

    async def generate(self, request: Request) -> ModelOutput:
        sizes = []
        for part in request.images:
            if part.image is not None:
                sizes.append(part.image.size)
            else:
                assert part.data is not None
                sizes.append(Image.open(io.BytesIO(part.data)).size)
        type(self).seen.extend(sizes)
        selection = None
        if request.images:
            # Patches of 8 px over the image as shown; the top-left quarter selected.
            rows, cols = request.images[0].height // 8, request.images[0].width // 8
            mask = [[c < cols // 2 and r < rows // 2 for c in range(cols)] for r in range(rows)]
            selection = Selection(
                mode="top_down",
                selected_patches=sum(map(sum, mask)),
                total_patches=rows * cols,
                grid=(rows, cols),
                patch_px=8,
                mask_runs=Selection.encode_mask(mask),
            )
        return ModelOutput(text=f"{len(sizes)} images {sizes}", selection=selection)


@pytest.fixture(autouse=True)
def _register() -> None:
    register_model("view-sizes", _Sizes)
    _Sizes.seen = []


def _rows(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("encoded", [False, True])
def _with_boxes(card: Path, box: list[int]) -> Path:
    data = card.parent / "data.jsonl"
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    data.write_text("".join(json.dumps({**r, "box": box}) + "\n" for r in rows))
    card.write_text(card.read_text() + "  bbox: box\n")
    return card


@pytest.mark.parametrize("encoded", [False, True])
def test_image_side_shows_a_downsampled_image_and_records_the_source(
    tmp_path: Path, encoded: bool
) -> None:
    # A box in the stored image's top-left quarter, and one in its bottom-right.
    card = _with_boxes(write_mc_dataset(tmp_path / "d", n=3, size=(400, 200)), [8, 8, 120, 60])
    out = tmp_path / "runs"
    full = evaluate(str(card), "view-sizes", model_args={"encoded": encoded}, output_dir=out)
    assert _Sizes.seen == [(400, 200)] * 3
    _Sizes.seen = []
    small = evaluate(
        str(card), "view-sizes", model_args={"encoded": encoded}, output_dir=out, image_side=100
    )
    assert _Sizes.seen == [(100, 50)] * 3
    assert small.run_id != full.run_id  # a rung of the ladder is a run of its own
    assert small.spec.image_side == 100 and full.spec.image_side is None
    row = _rows(out / small.run_id)[0]
    assert row["output"]["image_sizes"] == [[100, 50]]
    # the record still names the image as stored, and patches are in its pixels
    assert (row["images"][0]["width"], row["images"][0]["height"]) == (400, 200)
    assert row["output"]["selection"]["patch_px"] == 32
    assert row["output"]["selection"]["recall"] == 1.0
    far = _with_boxes(write_mc_dataset(tmp_path / "e", n=1, size=(400, 200)), [300, 150, 390, 190])
    s = evaluate(str(far), "view-sizes", model_args={"encoded": encoded}, output_dir=out,
                 image_side=100)  # fmt: skip
    assert _rows(out / s.run_id)[0]["output"]["selection"]["recall"] == 0.0
    # a side larger than the image never upsamples
    _Sizes.seen = []
    evaluate(str(card), "view-sizes", model_args={"encoded": encoded}, output_dir=out,
             image_side=1000)  # fmt: skip
    assert _Sizes.seen == [(400, 200)] * 3


def test_no_image_asks_with_the_prompt_only(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "d", n=2, size=(40, 20))
    out = tmp_path / "runs"
    s = evaluate(str(card), "view-sizes", output_dir=out, no_image=True)
    assert _Sizes.seen == []
    row = _rows(out / s.run_id)[0]
    assert row["prediction"] == "0 images []"
    assert row["images"][0]["path"].endswith("images/0.png")  # the record still names it
    assert s.spec.no_image is True


def test_earlier_identities_are_kept_and_bad_values_refused(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "d", n=2)
    out = tmp_path / "runs"
    s = evaluate(str(card), "view-sizes", output_dir=out)
    spec = json.loads((out / s.run_id / "spec.json").read_text())
    assert "image_side" in spec and spec["image_side"] is None
    # a spec written before the option existed has the same identity
    del spec["image_side"], spec["no_image"]
    from ps3_eval.records import RunSpec

    assert RunSpec.model_validate(spec).identity() == s.spec.identity()
    with pytest.raises(UsageError, match="image_side"):
        evaluate(str(card), "view-sizes", output_dir=out, image_side=4)
    with pytest.raises(UsageError, match="not both"):
        evaluate(str(card), "view-sizes", output_dir=out, image_side=100, no_image=True)


def test_cli_takes_image_side_and_no_image(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "d", n=2, size=(300, 300))
    out = tmp_path / "runs"
    runner = CliRunner()
    args = ["run", "-t", str(card), "-m", "view-sizes", "--output-dir", str(out), "-q", "--json"]
    res = runner.invoke(app, [*args, "--image-side", "150"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["spec"]["image_side"] == 150
    assert _Sizes.seen == [(150, 150)] * 2
    res = runner.invoke(app, [*args, "--no-image"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["spec"]["no_image"] is True
