"""``load_pretrained_model`` for multimodal checkpoints, as VILA's builder loads them."""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoConfig


def load_pretrained_model(
    model_path: str,
    model_name: str,
    model_base: str | None = None,
    load_8bit: bool = False,
    load_4bit: bool = False,
    device_map: Any = "auto",
    device: str = "cuda",
    **kwargs: Any,
) -> tuple[Any, Any, Any, int]:
    from llava.model import LlavaLlamaModel, LlavaTopDownLlamaModel

    if device == "cuda" and not torch.cuda.is_available():
        device = "cpu"  # the stand-in's one deviation here: the tests have no GPU
    kwargs = {"device_map": device_map, **kwargs}
    if device != "cuda":
        kwargs["device_map"] = {"": device}
    kwargs["torch_dtype"] = torch.float16
    config = AutoConfig.from_pretrained(model_path)
    config.resume_path = model_path
    prepare_config_for_eval(config, kwargs)
    cls = LlavaTopDownLlamaModel if "topdown" in config.model_type.lower() else LlavaLlamaModel
    model = cls(config=config, low_cpu_mem_usage=True, **kwargs)
    tokenizer = model.tokenizer
    model.eval()
    model.resize_token_embeddings(len(tokenizer))
    vision_tower = model.get_vision_tower()
    vision_tower.to(device=device, dtype=torch.float16)
    model.get_mm_projector().to(device=device, dtype=torch.float16)
    return tokenizer, model, vision_tower.image_processor, 2048


def prepare_config_for_eval(config: Any, kwargs: dict[str, Any]) -> None:
    if getattr(config, "vision_tower_cfg", None) is None:
        config.vision_tower_cfg = config.mm_vision_tower
    config.model_dtype = kwargs.pop("torch_dtype").__str__()
