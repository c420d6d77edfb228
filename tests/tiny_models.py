"""Tiny models built from configs with random weights (no download), saved to local folders.

``tiny_ps3`` registers a two-layer ViT with 14-pixel patches in timm and saves a PS3 checkpoint
(vision and text towers, PS3's tokenizer over a character-level tokenizer, image processor) in
the layout of the published ones, so the ``ps3`` backend loads it by path as it loads those.
``tiny_vila_hd`` saves a VILA-HD checkpoint in VILA's layout (``config.json``, ``llm/``,
``vision_tower/``, ``mm_projector/``) around a tiny PS3 and a tiny Qwen2, for the test stand-in
of VILA's ``llava`` package (``tests/vila_standin``, which must be importable as ``llava``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

STANDIN = Path(__file__).with_name("vila_standin")
"""Put this folder on ``sys.path`` to import the stand-in of VILA's ``llava`` package."""

TINY_VIT = "vit_tiny_ps3_eval_test"
SCALES = [378, 756, 1512]
WIDTH = 32


def register_tiny_vit() -> None:
    """Register the tiny ViT in timm (once per process)."""
    import timm
    from timm.models import register_model
    from timm.models.vision_transformer import _create_vision_transformer

    if TINY_VIT in timm.list_models(TINY_VIT):
        return

    def vit_tiny_ps3_eval_test(pretrained: bool = False, **kwargs: object) -> object:
        args = dict(patch_size=14, embed_dim=WIDTH, depth=2, num_heads=2, class_token=False,
                    global_pool="map", img_size=SCALES[0])  # fmt: skip
        return _create_vision_transformer(TINY_VIT, pretrained=pretrained, **{**args, **kwargs})

    vit_tiny_ps3_eval_test.__module__ = __name__
    register_model(vit_tiny_ps3_eval_test)


def char_tokenizer(folder: Path) -> Path:
    """A character-level fast tokenizer saved to ``folder``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>"]
    vocab = {t: i for i, t in enumerate(specials + [chr(c) for c in range(32, 127)] + ["\n"])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok.decoder = decoders.Fuse()
    PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    ).save_pretrained(folder)
    return folder


def tiny_ps3(
    folder: Path,
    seed: int = 0,
    *,
    scales: list[int] | None = None,
    max_select_num: int = 256,
    max_select_num_each_scale: list[int] | None = None,
    highres_selection_feature: bool = True,
) -> Path:
    """Save a tiny random PS3 (scales 378/756/1512 unless given) to ``folder``; returns it."""
    import torch
    from ps3 import PS3Config, PS3ImageProcessor, PS3Model, PS3Tokenizer

    register_tiny_vit()
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer_dir = char_tokenizer(folder / "char_tokenizer")
    config = PS3Config(
        vision_config=dict(
            model_name=TINY_VIT, hidden_size=WIDTH, pool="map", ps3_scales=list(scales or SCALES),
            select_based_on_layer=[0, 1], max_select_num=max_select_num,
            max_select_num_each_scale=max_select_num_each_scale,
            highres_selection_feature=highres_selection_feature,
            highres_selection_module_hidden_dim=16, highres_selection_module_out_dim=16,
            highres_selection_module_depth=2, highres_selection_module_kernel_size=28,
        ),
        text_config=dict(
            output_dim=WIDTH, prompt_proj_dim=WIDTH, context_length=16, vocab_size=100,
            width=WIDTH, heads=2, layers=2, hf_tokenizer_name=str(tokenizer_dir),
        ),
    )  # fmt: skip
    torch.manual_seed(seed)
    PS3Model(config).save_pretrained(folder)
    PS3Tokenizer(str(tokenizer_dir), context_length=16).save_pretrained(folder)
    PS3ImageProcessor(image_size=(scales or SCALES)[-1]).save_pretrained(folder)
    return folder


QWEN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""Qwen2's chat layout (VILA-HD's LLM is a Qwen2): the turn ends with <|im_end|>."""


def tiny_vila_hd(
    folder: Path,
    *,
    seed: int = 0,
    ps3: dict[str, Any] | None = None,
    look_close_mode: str = "after_prompt",
    num_look_close: int = 6,
    llm_width: int = 64,
) -> Path:
    """Save a tiny random VILA-HD (PS3 + 2x2 projector + Qwen2) in VILA's layout; returns it.

    ``ps3`` holds :func:`tiny_ps3`'s keyword arguments (its scales, per-pass budget, ...).
    """
    import torch
    from llava.model.topdown import MultimodalProjector, MultimodalProjectorConfig, save_config
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    tiny_ps3(folder / "vision_tower", seed, **(ps3 or {}))
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {t: i for i, t in enumerate(specials + [chr(c) for c in range(32, 127)] + ["\n"])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<|endoftext|>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
        additional_special_tokens=specials[1:], model_max_length=4096,
    )  # fmt: skip
    tokenizer.chat_template = QWEN_TEMPLATE
    tokenizer.save_pretrained(folder / "llm")
    torch.manual_seed(seed)
    llm = Qwen2Config(
        vocab_size=len(vocab), hidden_size=llm_width, intermediate_size=2 * llm_width,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=32768, tie_word_embeddings=False,
        eos_token_id=vocab["<|endoftext|>"], bos_token_id=None,
    )  # fmt: skip
    Qwen2ForCausalLM(llm).save_pretrained(folder / "llm")
    values = dict(
        architectures=["LlavaTopDownLlamaModel"], llm_cfg={}, vision_tower_cfg={},
        mm_projector_cfg={}, hidden_size=llm_width, mm_hidden_size=WIDTH, ps3=True,
        look_close_mode=look_close_mode, num_look_close=num_look_close,
        num_token_look_close=None, top_down_prompt_head_type="linear",
        mm_vision_select_layer=-2, mm_vision_select_feature="cls_patch",
        image_aspect_ratio="resize", model_max_length=4096,
    )  # fmt: skip
    projector_cfg = MultimodalProjectorConfig(mm_projector_type="mlp_downsample_2x2_fix")

    class _Config:  # what the projector reads of the model's config
        pass

    cfg: Any = _Config()
    for key, value in values.items():
        setattr(cfg, key, value)
    MultimodalProjector(projector_cfg, cfg).save_pretrained(folder / "mm_projector")
    save_config(str(folder), **values)
    return folder
