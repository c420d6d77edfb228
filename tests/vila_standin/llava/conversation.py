"""Conversation templates: VILA-HD checkpoints use ``auto`` (the tokenizer's chat template)."""

from __future__ import annotations

import dataclasses
from enum import Enum, auto


class SeparatorStyle(Enum):
    AUTO = auto()
    TWO = auto()


@dataclasses.dataclass
class Conversation:
    system: str = ""
    roles: tuple[str, str] = ("user", "assistant")
    sep_style: SeparatorStyle = SeparatorStyle.AUTO

    def copy(self) -> Conversation:
        return dataclasses.replace(self)


conv_templates = {"auto": Conversation(), "vicuna_v1": Conversation(sep_style=SeparatorStyle.TWO)}
default_conversation = conv_templates["auto"]
CONVERSATION_MODE_MAPPING = {"vila-hd": "auto"}


def auto_set_conversation_mode(model_name_or_path: str) -> None:
    global default_conversation
    for key, mode in CONVERSATION_MODE_MAPPING.items():
        if key in model_name_or_path.lower():
            default_conversation = conv_templates[mode]
            return
