"""``vila-hd`` end to end on a tiny VILA-HD, through a stand-in of VILA's ``llava`` package.

VILA cannot be installed here (tests/vila_standin/README.md says why), so its loading and
``generate_content`` path are a test stand-in with VILA's module names and steps, around a real
tiny PS3 (ps3-torch) and a tiny Qwen2 built from configs. Checked: the dtypes through the whole
forward in float16 and bfloat16 and the buffers as loaded; VILA's default generation config and
its stop tokens; the token and stage accounting from the real prefill in both look-close modes;
the visual tokens VILA feeds against Table 1's #Token for every VILA-HD row's controls.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ps3_eval.errors import UsageError
from ps3_eval.models.vila_hd import CONTROL_ENV, VilaHdArgs, apply_controls, fed_visual_tokens
from ps3_eval.records import GenerationConfig, ImagePart, Message, Request, TextPart
from tests.tiny_models import STANDIN, tiny_ps3, tiny_vila_hd

if not os.environ.get("CI"):
    pytest.importorskip("ps3", reason="needs the ps3 extra (ps3-torch)")

PROMPT = "What is written on the sign?\nAnswer the question using a single word or phrase."
TINY_15K = {"max_select_num": 2560, "highres_selection_feature": False}
"""PS3 at 378/756/1512 with 2560 patches a pass, split 512+2048 by pixels as the 1.5K model."""


@pytest.fixture(scope="module")
def standin() -> Iterator[None]:
    sys.path.insert(0, str(STANDIN))
    yield
    sys.path.remove(str(STANDIN))


@pytest.fixture(scope="module")
def checkpoint(standin: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_vila_hd(tmp_path_factory.mktemp("vila") / "VILA-HD-tiny", ps3=TINY_15K)


@pytest.fixture(scope="module")
def fp16(checkpoint: Path) -> Any:
    from ps3_eval.models import build_model

    return build_model("vila-hd", {"model": str(checkpoint), "num_look_close": 1})


def _request(max_tokens: int = 4) -> Request:
    from PIL import Image

    image = Image.new("RGB", (3840, 2160), (200, 40, 90))
    part = ImagePart(image=image, width=3840, height=2160, digest="x")
    content = [part, TextPart(text=PROMPT)]
    return Request(
        sample_id="s",
        messages=[Message(role="user", content=content)],
        generation=GenerationConfig(max_tokens=max_tokens),
    )


def _ask(backend: Any, max_tokens: int = 4) -> Any:
    return asyncio.run(backend.generate(_request(max_tokens)))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_every_part_runs_in_the_loaded_dtype(checkpoint: Path, fp16: Any, dtype: str) -> None:
    import torch

    from ps3_eval.models import build_model

    backend = fp16 if dtype == "float16" else build_model(
        "vila-hd", {"model": str(checkpoint), "num_look_close": 1, "dtype": dtype}
    )  # fmt: skip
    want = getattr(torch, dtype)
    model = backend.model
    tower, projector = model.get_vision_tower(), model.get_mm_projector()
    assert {p.dtype for p in model.llm.parameters()} == {want}
    assert {p.dtype for p in tower.parameters()} == {want}
    assert {p.dtype for p in projector.parameters()} == {want}
    # loaded through from_pretrained(torch_dtype=...): the rotary frequencies keep float32
    assert model.llm.model.rotary_emb.inv_freq.dtype == torch.float32
    seen: list[tuple[str, Any]] = []
    hooks = [
        tower.register_forward_hook(lambda m, i, o: seen.append(("tower", o[0].dtype))),
        projector.register_forward_pre_hook(lambda m, i: seen.append(("projector", i[0].dtype))),
        model.llm.register_forward_pre_hook(  # the passes over embeddings (not decode steps)
            lambda m, a, k: (
                seen.append(("llm", k["inputs_embeds"].dtype))
                if k.get("inputs_embeds") is not None
                else None
            ),
            with_kwargs=True,
        ),
    ]
    try:
        out = _ask(backend, max_tokens=2)
    finally:
        for h in hooks:
            h.remove()
    assert out.text is not None and out.extra["dtype"] == dtype
    assert {name for name, _ in seen} == {"tower", "projector", "llm"}
    assert {d for _, d in seen} == {want}  # features, projector inputs, LLM inputs alike


def test_decoding_uses_vilas_config_and_stops_at_its_stop_tokens(fp16: Any) -> None:
    import torch

    model, tok = fp16.model, fp16.model.tokenizer
    config = fp16.generation_config(_request(max_tokens=7))
    stop = tok.convert_tokens_to_ids("<|im_end|>")
    assert config.eos_token_id == tok.stop_token_ids and stop in config.eos_token_id
    assert config.max_new_tokens == 7 and config.do_sample is False
    assert config.pad_token_id == tok.pad_token_id

    _ask(fp16, max_tokens=3)
    first = fp16.clock.generated[0].tolist()
    assert len(first) == 3 and stop not in first
    # make the chat template's end-of-turn the greedy third token: swap its output row with
    # the one that won there (the input embeddings, so the first two steps, stay as they were)
    third = first[2]
    if third in first[:2]:
        pytest.skip("the tiny model repeats itself; the swap would change earlier steps")
    head = model.llm.lm_head.weight
    with torch.no_grad():
        head[[stop, third]] = head[[third, stop]]
    try:
        out = _ask(fp16, max_tokens=7)
    finally:
        with torch.no_grad():
            head[[stop, third]] = head[[third, stop]]
    assert fp16.clock.generated[0].tolist()[:3] == [*first[:2], stop]
    assert out.usage.output_tokens == 2  # the stop token ends the answer and is not counted
    assert out.extra["decode_steps"] == 2  # prefill, then two steps: token 2 and the stop
    assert out.text == tok.decode(first[:2], skip_special_tokens=True).strip()


@pytest.mark.parametrize("mode", ["after_prompt", "after_image"])
def test_tokens_and_stages_come_from_the_real_prefill(fp16: Any, mode: str) -> None:
    fp16.model.look_close_mode = mode
    try:
        out = _ask(fp16, max_tokens=4)
    finally:
        fp16.model.look_close_mode = "after_prompt"
    tok = fp16.model.tokenizer
    chat = tok.apply_chat_template(
        [{"role": "user", "content": "<image>" + PROMPT}], add_generation_prompt=True,
        tokenize=False,
    )  # fmt: skip
    text_tokens = len(tok(chat).input_ids) - 1  # the image token is replaced by its features
    usage, timing = out.usage, out.timing
    # one pass of 512 + 2048 patches: at most 128 + 512 wholly selected 2x2 blocks after the
    # 196 low-res tokens (float16 ties between low-res cells can split a few blocks)
    assert usage.visual_tokens == fed_visual_tokens(fp16.clock.maps, 729)
    assert 196 < usage.visual_tokens <= 196 + 2560 // 4
    # and that is what VILA fed: the prefill is the prompt's text, the image's tokens and "\n"
    assert usage.input_tokens == text_tokens + usage.visual_tokens + 1
    assert fp16.clock.prefill_tokens == usage.input_tokens
    assert usage.output_tokens == 4 and out.extra["decode_steps"] == 3
    top_down = mode == "after_prompt"
    assert out.extra["top_down_passes"] == int(top_down)
    assert len(fp16.clock.vision) == 1 + int(top_down)  # the top-down pass looks at low res
    assert (timing.stages["top_down"] > 0) is top_down
    assert timing.stages["prefill"] > 0 and timing.stages["decode"] > 0
    assert timing.llm == pytest.approx(sum(timing.stages.values()))
    assert timing.vision_encoder is not None and timing.ttft is not None
    before_first_token = (
        timing.vision_encoder + timing.stages["top_down"] + timing.stages["prefill"]
    )
    assert before_first_token <= timing.ttft < timing.latency
    assert out.selection is not None
    assert out.selection.mode == ("top_down" if top_down else "bottom_up")
    assert out.selection.selected_patches == 2560


def test_the_encoder_study_measures_vila_hds_own_selection(
    checkpoint: Path, tmp_path: Path
) -> None:
    from ps3_eval.encoder_study import encoder_study

    study = encoder_study(
        "probe4k", {"model": str(checkpoint)}, [2560], modes=["after_prompt", "after_image"],
        task_args={"n": 2}, output_dir=tmp_path / "runs", out=tmp_path / "study",
        backend="vila-hd",
    )  # fmt: skip
    # Table 7's top-down selection is VILA-HD's: its LLM's last hidden state through the
    # projector's prompt head, not PS3's own text tower; the study says which one it measured
    assert [r.selector for r in study.rows] == [
        "VILA-HD LLM + top_down_prompt_head",
        "PS3 saliency, inside VILA-HD",
    ]
    for r in study.rows:
        assert r.n == 2 and r.errors == 0 and r.selected == 2560
        assert r.recall is not None and 0 <= r.recall <= 1
        assert r.tokens is not None and 196 < r.tokens <= 196 + 640
    assert "VILA-HD LLM + top_down_prompt_head" in study.markdown.read_text()


def _selection_maps(encoder: Any, pixels: Any, num_look_close: Any, num_token: Any) -> Any:
    """The maps PS3's forward makes for these controls, by its own selection functions (its
    loop, without encoding the selected patches: the count depends on the maps alone)."""
    import torch

    with torch.no_grad():
        probs = encoder(pixels, num_look_close=0, output_hidden_states=True).selection_probs
    per_pass = sum(encoder.max_select_num_each_scale)
    if num_token is not None:
        passes, last = math.ceil(num_token / per_pass), num_token % per_pass or per_pass
    else:
        passes, last = num_look_close, None
    first = num_token if num_token is not None and num_token <= per_pass else None
    maps = encoder.get_selection_maps(probs, num_select_token=first)
    for k in range(passes - 1):
        n = last if num_token is not None and k == passes - 2 else None
        new = encoder.get_selection_maps(probs, old_selection_maps=maps, num_select_token=n)
        maps = encoder.update_selection_maps(maps, new)
    return maps


def test_visual_tokens_are_table1s_token_count_for_every_vila_hd_row(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    import torch
    from ps3 import PS3VisionModel

    from ps3_eval.recipes import paper_recipes

    # the 4K PS3 (378/756/1512/3780) with 2560 patches a pass in whole low-res cells
    # (80 + 480 + 2000): every selected patch is in a wholly selected 2x2 block, as the paper's
    # count assumes; perf/gpu_check.py measures the real 4K checkpoint's own split
    tiny = {
        1512: tiny_ps3(tmp_path_factory.mktemp("ps3-15k"), **TINY_15K),
        3780: tiny_ps3(
            tmp_path_factory.mktemp("ps3-4k"), scales=[378, 756, 1512, 3780],
            max_select_num=2560, max_select_num_each_scale=[80, 480, 2000],
            highres_selection_feature=False,
        ),
    }  # fmt: skip
    recipes = paper_recipes("table1")
    assert len(recipes) == 6
    torch.manual_seed(0)
    for recipe in recipes:
        res = recipe.row.values["res"]
        encoder = PS3VisionModel.from_pretrained(tiny[res]).eval().vision_model
        args = recipe.args
        pixels = torch.randn(1, 3, res, res)
        maps = _selection_maps(
            encoder, pixels, args.get("num_look_close"), args.get("num_token_look_close")
        )
        n_selected = sum(int(m.sum()) for m in maps)
        total = sum(m[0].numel() for m in maps)
        assert round(n_selected / total, 2) == recipe.row.values["select"]
        fed = fed_visual_tokens(maps, int(encoder.low_res_token_num))
        assert fed == recipe.row.values["tokens"], recipe.row
        # two images in one request are fed, and counted, each with its own tokens
        both = [m.repeat(2, 1, 1) for m in maps]
        assert fed_visual_tokens(both, int(encoder.low_res_token_num)) == 2 * fed


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


def test_controls_are_set_on_each_model_and_never_in_the_environment(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from ps3 import PS3VisionModel

    ps3_model = PS3VisionModel.from_pretrained(tiny_ps3(tmp_path_factory.mktemp("ps3")))
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


def test_without_vila_the_backend_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from ps3_eval.models import build_model

    monkeypatch.setitem(sys.modules, "llava", None)  # as where VILA is not installed
    with pytest.raises(UsageError, match="VILA's llava package, which is not on PyPI"):
        build_model("vila-hd", {"model": "nvidia/VILA-HD-8B-PS3-4K-SigLIP"})
