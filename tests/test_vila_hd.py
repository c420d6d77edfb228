"""``vila-hd`` where VILA's llava package is absent: its controls and its reading of PS3.

VILA itself is not installable here (it is not on PyPI). What can be checked without it is
checked on the real tiny PS3: the controls land on the model as VILA's scripts set them (and in
no environment variable), two backends keep their own, and the selection the PS3 tower hands
back through the backend's hooks is read exactly as the ``ps3`` backend reads it. What only the
real checkpoint on a GPU verifies is listed in the README.
"""

from __future__ import annotations

import os
import types
from pathlib import Path
from typing import Any

import pytest

from ps3_eval.errors import UsageError
from ps3_eval.models.vila_hd import CONTROL_ENV, VilaHdArgs, _Clock, apply_controls

if not os.environ.get("CI"):
    pytest.importorskip("ps3", reason="needs the ps3 extra (ps3-torch)")


@pytest.fixture(scope="module")
def ps3_model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from ps3 import PS3VisionModel

    from tests.tiny_models import tiny_ps3

    return PS3VisionModel.from_pretrained(tiny_ps3(tmp_path_factory.mktemp("ps3"))).eval()


def _vila_shaped(ps3_model: Any) -> Any:
    """An object with the attributes VILA's scripts set, around a real PS3 encoder."""
    import copy

    encoder = copy.deepcopy(ps3_model.vision_model)
    tower = types.SimpleNamespace(vision_tower=types.SimpleNamespace(vision_model=encoder))
    return types.SimpleNamespace(
        get_vision_tower=lambda: tower,
        tokenizer=types.SimpleNamespace(model_max_length=4096),
        config=types.SimpleNamespace(),
        llm=types.SimpleNamespace(config=types.SimpleNamespace()),
    )


def test_controls_are_set_on_each_model_and_never_in_the_environment(ps3_model: Any) -> None:
    before = {k: os.environ.get(k) for k in CONTROL_ENV}
    a, b = _vila_shaped(ps3_model), _vila_shaped(ps3_model)
    first = VilaHdArgs(model="m", num_token_look_close=20000, select_num_each_scale="10+30",
                       look_close_mode="after_prompt", smooth_selection_prob=True)  # fmt: skip
    apply_controls(a, first)
    apply_controls(b, VilaHdArgs(model="m", num_look_close=2, look_close_mode="after_image"))
    assert a.num_token_look_close == 20000 and not hasattr(a, "num_look_close")
    assert a.look_close_mode == "after_prompt" and a.smooth_selection_prob is True
    assert b.num_look_close == 2 and b.look_close_mode == "after_image"
    # each model's own PS3 takes its per-scale budget; the other keeps the checkpoint's
    assert a.get_vision_tower().vision_tower.vision_model.max_select_num_each_scale == [10, 30]
    assert b.get_vision_tower().vision_tower.vision_model.max_select_num_each_scale == [51, 204]
    # the context holds the high-res tokens (a quarter of the patches) and 1024 more
    assert a.tokenizer.model_max_length == 20000 // 4 + 1024 == a.llm.config.model_max_length
    assert b.tokenizer.model_max_length == 4096  # 2 x 2560 / 4 + 1024 = 2304 fits already
    assert {k: os.environ.get(k) for k in CONTROL_ENV} == before
    with pytest.raises(UsageError, match="gives 1 numbers; this PS3 has 2 high-res scales"):
        apply_controls(_vila_shaped(ps3_model), VilaHdArgs(model="m", select_num_each_scale="9"))


def test_selection_read_through_the_tower_hooks(ps3_model: Any, tmp_path: Path) -> None:
    import torch
    from PIL import Image

    from ps3_eval.models.ps3_encoder import read_selection

    class Tower(torch.nn.Module):
        """VILA's PS3 tower call: (images, prompt, num_look_close, num_token_look_close, smooth)
        -> (features, selection_maps, selection_probs)."""

        def __init__(self) -> None:
            super().__init__()
            self.ps3 = ps3_model

        def forward(self, images: Any, prompt: Any, nlc: Any, ntlc: Any, smooth: bool) -> Any:
            out = self.ps3(images, num_look_close=nlc, num_token_look_close=ntlc, prompt=prompt,
                           smooth_selection_prob=smooth)  # fmt: skip
            return out.last_hidden_state, out.selection_maps, out.selection_probs

    tower = Tower()
    clock = _Clock(lambda: None)
    tower.register_forward_pre_hook(clock.start)
    tower.register_forward_hook(clock.vision_done)
    x = torch.randn(1, 3, 1512, 1512)
    with torch.no_grad():
        tower(x, None, None, 300, False)
        direct = ps3_model(x, num_token_look_close=300)
    assert clock.vision > 0
    enc = ps3_model.vision_model
    image = Image.new("RGB", (3840, 2160))
    read = read_selection(
        clock.maps, [p[0].numpy() for p in clock.probs], image.size,
        int(enc.low_res_token_num), list(enc.ps3_scales), top_down=False,
    )  # fmt: skip
    expected = read_selection(
        direct.selection_maps, [p[0].numpy() for p in direct.selection_probs], image.size,
        int(enc.low_res_token_num), list(enc.ps3_scales), top_down=False,
    )  # fmt: skip
    assert read == expected
    selection, facts = read
    assert facts["selected_per_scale"] == [60, 240] and facts["llm_tokens"] == 75
    assert selection.selected_patches == 300 and selection.grid == (108, 108)
    assert selection.patch_px == pytest.approx(3840 / 108)
    assert selection.patch_px_y == pytest.approx(2160 / 108)


def test_without_vila_the_backend_says_how_to_install_it() -> None:
    from ps3_eval.models import build_model

    try:
        import llava  # noqa: F401
    except ImportError:
        with pytest.raises(UsageError, match="VILA's llava package, which is not on PyPI"):
            build_model("vila-hd", {"model": "Efficient-Large-Model/VILA-HD-4K"})
    else:  # pragma: no cover - a machine with VILA installed
        pytest.skip("VILA is installed here")
