"""VILA-HD's model (``LlavaTopDownLlamaModel``) for the tests: PS3 + a 2x2 projector + an LLM.

The steps follow VILA's ``llava_arch.py`` / ``llava_topdown_llama.py`` for one image in the
``mlp_downsample_2x2_fix`` layout (see ../../README.md for what is left out).
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections import defaultdict, deque
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    PretrainedConfig,
    PreTrainedModel,
)

IMAGE_TOKEN = "<image>"
SENTINEL = "<vila/sentinel>"


class LlavaTopDownLlamaConfig(PretrainedConfig):
    model_type = "llava_topdown_llama"


class MultimodalProjectorConfig(PretrainedConfig):
    model_type = "v2l_projector"

    def __init__(self, mm_projector_type: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mm_projector_type = mm_projector_type


def flat_square_2x2(x: torch.Tensor) -> torch.Tensor:
    """(n, w, h, c) -> (n, w/2, h/2, 4c): each 2x2 neighbourhood becomes one token (padded)."""
    n, w, h, c = x.size()
    if w % 2:
        x = torch.cat([x, x.new_zeros(n, 1, h, c)], dim=1)
        w += 1
    if h % 2:
        x = torch.cat([x, x.new_zeros(n, w, 1, c)], dim=2)
        h += 1
    x = x.contiguous().view(n, w, h // 2, c * 2).permute(0, 2, 1, 3).contiguous()
    return x.view(n, h // 2, w // 2, c * 4).permute(0, 2, 1, 3).contiguous()


class DownSample2x2(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = int(x.shape[1] ** 0.5)
        x = flat_square_2x2(x.reshape(x.shape[0], side, side, -1))
        return x.reshape(x.shape[0], -1, x.shape[-1])


class MultimodalProjector(PreTrainedModel):
    config_class = MultimodalProjectorConfig

    def __init__(self, mm_projector_cfg: MultimodalProjectorConfig, config: Any) -> None:
        super().__init__(mm_projector_cfg)
        assert mm_projector_cfg.mm_projector_type == "mlp_downsample_2x2_fix"
        self.downsample_rate = 2
        self.layers = nn.Sequential(
            DownSample2x2(),
            nn.LayerNorm(config.mm_hidden_size * 4),
            nn.Linear(config.mm_hidden_size * 4, config.hidden_size),
            nn.GELU(),
            nn.Linear(config.hidden_size, config.hidden_size),
        )
        if getattr(config, "ps3", False) and config.look_close_mode == "after_prompt":
            self.top_down_prompt_head = nn.Linear(config.hidden_size, config.mm_hidden_size)

    def forward(self, x: torch.Tensor, forward_top_down_prompt_head: bool = False) -> Any:
        if forward_top_down_prompt_head:
            return self.top_down_prompt_head(x)
        return self.layers(x)


class PS3VisionTower(nn.Module):
    """PS3 behind VILA's VisionTower: images cast to the tower's dtype, features handed back in
    the images' dtype, with PS3's selection maps and probabilities."""

    def __init__(self, path: str, config: Any) -> None:
        super().__init__()
        from ps3 import PS3ImageProcessor, PS3VisionModel

        self.vision_tower = PS3VisionModel.from_pretrained(
            path, torch_dtype=eval(config.model_dtype)
        )
        self.image_processor = PS3ImageProcessor.from_pretrained(path)
        self.vision_tower.vision_model.num_hidden_layers_to_return = 2
        self.select_layer = getattr(config, "mm_vision_select_layer", -2)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.vision_tower.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.vision_tower.parameters()).device

    def forward(
        self,
        images: torch.Tensor,
        top_down_prompts: Any = None,
        num_look_close: Any = 1,
        num_token_look_close: Any = None,
        smooth_selection_prob: bool = False,
        gt_selection_maps: Any = None,
        only_select_first_n_scale: Any = None,
    ) -> Any:
        outs = self.vision_tower(
            images.to(device=self.device, dtype=self.dtype),
            prompt=top_down_prompts,
            output_hidden_states=True,
            num_look_close=num_look_close,
            num_token_look_close=num_token_look_close,
            smooth_selection_prob=smooth_selection_prob,
        )
        features = outs.hidden_states[self.select_layer].to(images.dtype)
        return features, outs.selection_maps, outs.selection_probs


def _stop_tokens(tokenizer: Any) -> list[str]:
    """The eos token and what the chat template puts right after an assistant turn."""
    tokenizer.add_tokens([SENTINEL], special_tokens=True)
    sentinel = tokenizer.convert_tokens_to_ids(SENTINEL)
    turns = [{"role": "user", "content": "q"}, {"role": "assistant", "content": SENTINEL}] * 2
    ids = tokenizer(tokenizer.apply_chat_template(turns, tokenize=False)).input_ids
    stops = {tokenizer.eos_token}
    stops.update(tokenizer.decode(ids[k + 1]) for k in range(len(ids) - 1) if ids[k] == sentinel)
    return sorted(stops)


class LlavaTopDownLlamaModel(PreTrainedModel):
    config_class = LlavaTopDownLlamaConfig
    main_input_name = "input_embeds"

    def __init__(self, config: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(config)
        root = config.resume_path
        kwargs.pop("low_cpu_mem_usage", None)
        dtype = eval(config.model_dtype)
        self.llm = AutoModelForCausalLM.from_pretrained(
            os.path.join(root, "llm"), torch_dtype=dtype, low_cpu_mem_usage=True, **kwargs
        )
        tok = AutoTokenizer.from_pretrained(os.path.join(root, "llm"), padding_side="right")
        tok.stop_tokens = _stop_tokens(tok)
        tok.stop_token_ids = tok.convert_tokens_to_ids(tok.stop_tokens)
        tok.add_tokens([IMAGE_TOKEN], special_tokens=True)
        tok.media_token_ids = {"image": tok.convert_tokens_to_ids(IMAGE_TOKEN)}
        self.tokenizer = tok
        self.vision_tower = PS3VisionTower(os.path.join(root, "vision_tower"), config)
        self.mm_projector = MultimodalProjector.from_pretrained(
            os.path.join(root, "mm_projector"), config, torch_dtype=dtype
        )
        self.look_close_mode = getattr(config, "look_close_mode", None)
        self.num_look_close = getattr(config, "num_look_close", 1)
        self.num_token_look_close = getattr(config, "num_token_look_close", None)

    # -- VILA's accessors
    def get_llm(self) -> Any:
        return self.llm

    def get_vision_tower(self) -> Any:
        return self.vision_tower

    def get_mm_projector(self) -> Any:
        return self.mm_projector

    def resize_token_embeddings(self, size: int) -> Any:
        return self.llm.resize_token_embeddings(size)

    @property
    def default_generation_config(self) -> GenerationConfig:
        config = copy.deepcopy(self.generation_config or GenerationConfig())
        if config.max_length == GenerationConfig().max_length:
            config.max_length = self.tokenizer.model_max_length
        if config.pad_token_id is None:
            config.pad_token_id = self.tokenizer.pad_token_id or self.tokenizer.eos_token_id
        if config.bos_token_id is None:
            config.bos_token_id = self.tokenizer.bos_token_id or self.tokenizer.eos_token_id
        if config.eos_token_id is None:
            config.eos_token_id = self.tokenizer.stop_token_ids
        return config

    # -- PS3 features as the LLM gets them
    def encode_images_ps3(
        self,
        images: torch.Tensor,
        top_down_prompts: Any = None,
        smooth_selection_prob: bool = False,
        num_look_close: Any = None,
    ) -> tuple[list[torch.Tensor], Any, Any]:
        tower, projector = self.get_vision_tower(), self.get_mm_projector()
        if num_look_close is not None:
            budget = (num_look_close, None)
        elif self.num_token_look_close is not None:
            budget = (None, self.num_token_look_close)
        else:
            budget = (self.num_look_close, None)
        features, maps, probs = tower(images, top_down_prompts, *budget, smooth_selection_prob)
        n_low = tower.vision_tower.vision_model.low_res_token_num
        low = projector(torch.stack([f[:n_low] for f in features]))
        if num_look_close == 0:
            return list(low), maps, probs
        width = features[0].shape[-1]
        flat = torch.cat([m.flatten(1, 2) for m in maps], dim=1)
        high = features.new_zeros(len(features), flat.shape[1], width)
        for i in range(len(features)):
            high[i][flat[i].bool()] = features[i][n_low:]
        start, projected = 0, []
        for m in maps:
            size = m.shape[1] * m.shape[2]
            projected.append(projector(high[:, start : start + size]))
            start += size
        projected_all = torch.cat(projected, dim=1)
        whole_blocks = torch.cat(
            [
                F.interpolate(
                    m.unsqueeze(1), (math.ceil(m.shape[-2] / 2), math.ceil(m.shape[-1] / 2)),
                    mode="area",
                ).squeeze(1).flatten(1, 2)
                for m in maps
            ],
            dim=1,
        )  # fmt: skip
        kept = [x[b == 1] for x, b in zip(projected_all, whole_blocks, strict=True)]
        kept = [x if len(x) else low[i, :1] for i, x in enumerate(kept)]
        return [torch.cat([lo, hi]) for lo, hi in zip(low, kept, strict=True)], maps, probs

    def _embed(
        self,
        input_ids: torch.Tensor,
        media: dict[str, list[torch.Tensor]],
        top_down_prompts: Any = None,
        smooth_selection_prob: bool = False,
        num_look_close: Any = None,
    ) -> tuple[torch.Tensor, torch.Tensor, Any, Any]:
        embed = self.llm.model.embed_tokens
        images = torch.stack(media["image"])
        features, maps, probs = self.encode_images_ps3(
            images, top_down_prompts, smooth_selection_prob, num_look_close
        )
        newline = embed(torch.tensor(self.tokenizer("\n").input_ids, device=self.device))
        queue = deque(torch.cat([f, newline]) for f in features)
        image_id = self.tokenizer.media_token_ids["image"]
        text = embed(input_ids[0])
        pieces, pos = [], 0
        ids = input_ids[0].tolist()
        while pos < len(ids):
            if ids[pos] == image_id:
                pieces.append(queue.popleft())
                pos += 1
            else:
                end = pos
                while end < len(ids) and ids[end] != image_id:
                    end += 1
                pieces.append(text[pos:end])
                pos = end
        if queue:
            raise ValueError("Not all image embeddings are consumed!")
        inputs = torch.cat(pieces).unsqueeze(0)
        mask = torch.ones(inputs.shape[:2], dtype=torch.long, device=inputs.device)
        return inputs, mask, maps, probs

    def get_user_prompt_end_id_pos(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The position of the prompt's last token: just before the template's end-of-turn."""
        dummy = "Here is the prompt."
        text = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": dummy}], add_generation_prompt=True, tokenize=False
        )
        ending = self.tokenizer(text.split(dummy)[-1].strip()).input_ids
        ids = input_ids[0].tolist()
        end = len(ids) - 1
        for i in range(len(ids) - len(ending) + 1):
            if ids[i : i + len(ending)] == ending:
                end = min(end, i - 1)
        return torch.tensor([end], device=input_ids.device)

    def top_down_prompts(self, input_ids: torch.Tensor, media: Any, position: torch.Tensor) -> Any:
        """The LLM over the low-res tokens and the prompt up to ``position``; the prompt head
        turns the last hidden state there into PS3's prompt."""
        with torch.no_grad():
            inputs, _, _, _ = self._embed(input_ids, media, num_look_close=0)
            n_low = self.get_vision_tower().vision_tower.vision_model.low_res_token_num
            low_fed = math.ceil(int(n_low**0.5) / 2) ** 2
            images_before = (input_ids[0, : int(position[0]) + 1] == self.tokenizer.media_token_ids[
                "image"]).sum()  # fmt: skip
            position = position + (low_fed - 1 + 1) * images_before  # +1: the "\n" after it
            out = self.llm(inputs_embeds=inputs[:, : int(position[0]) + 1],
                           output_hidden_states=True)  # fmt: skip
        hidden = out.hidden_states[-1][0, int(position[0])]
        return self.get_mm_projector()(hidden.unsqueeze(0), forward_top_down_prompt_head=True)

    @torch.inference_mode()
    def generate(
        self,
        input_ids: torch.Tensor,
        media: Any,
        media_config: Any = None,
        **generation_kwargs: Any,
    ) -> Any:
        if self.look_close_mode == "after_prompt":
            prompts = self.top_down_prompts(
                input_ids, media, self.get_user_prompt_end_id_pos(input_ids)
            )
        elif self.look_close_mode == "after_image":
            prompts = None
        else:
            raise NotImplementedError
        smooth = bool(getattr(self, "smooth_selection_prob", False))
        inputs, mask, _, _ = self._embed(input_ids, media, prompts, smooth)
        return self.llm.generate(inputs_embeds=inputs, attention_mask=mask, **generation_kwargs)

    @torch.inference_mode()
    def generate_content(
        self, prompt: Any, generation_config: GenerationConfig | None = None, **_: Any
    ) -> str:
        images, text = [], ""
        for part in prompt if isinstance(prompt, list) else [prompt]:
            if isinstance(part, str):
                text += part.replace(IMAGE_TOKEN, "").strip() if IMAGE_TOKEN in part else part
            else:  # a PIL image
                images.append(part.convert("RGB"))
                text += IMAGE_TOKEN
        processor = self.get_vision_tower().image_processor
        pixels = torch.stack([processor(im)["pixel_values"][0] for im in images]).half()
        media: dict[str, list[torch.Tensor]] = defaultdict(list)
        media["image"] = list(pixels)
        chat = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": text.strip()}], add_generation_prompt=True, tokenize=False
        )
        input_ids = self.tokenizer(chat, return_tensors="pt").input_ids.to(self.device)
        generation_config = generation_config or self.default_generation_config
        out = self.generate(input_ids, media, generation_config=generation_config)
        return str(self.tokenizer.decode(out[0], skip_special_tokens=True).strip())


class LlavaLlamaModel(LlavaTopDownLlamaModel):
    """Checkpoints without top-down selection load through the same steps here."""


AutoConfig.register("llava_topdown_llama", LlavaTopDownLlamaConfig)
AutoConfig.register("v2l_projector", MultimodalProjectorConfig)


def save_config(folder: str, **values: Any) -> None:
    """Write a VILA-HD ``config.json`` (used by the tests' checkpoint writer)."""
    with open(os.path.join(folder, "config.json"), "w") as fh:
        json.dump({"model_type": "llava_topdown_llama", **values}, fh, indent=1)
