"""Tiny models built from configs with random weights (no download), saved to local folders.

``tiny_ps3`` registers a two-layer ViT with 14-pixel patches in timm and saves a PS3 checkpoint
(vision and text towers, PS3's tokenizer over a character-level tokenizer, image processor) in
the layout of the published ones, so the ``ps3`` backend loads it by path as it loads those.
"""

from __future__ import annotations

from pathlib import Path

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


def tiny_ps3(folder: Path, seed: int = 0) -> Path:
    """Save a tiny random PS3 (scales 378/756/1512) to ``folder``; returns it."""
    import torch
    from ps3 import PS3Config, PS3ImageProcessor, PS3Model, PS3Tokenizer

    register_tiny_vit()
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer_dir = char_tokenizer(folder / "char_tokenizer")
    config = PS3Config(
        vision_config=dict(
            model_name=TINY_VIT, hidden_size=WIDTH, pool="map", ps3_scales=list(SCALES),
            select_based_on_layer=[0, 1], max_select_num=256,
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
    PS3ImageProcessor(image_size=SCALES[-1]).save_pretrained(folder)
    return folder
