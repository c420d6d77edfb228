"""``llava.load``, as VILA's entry point: the conversation mode from the path, then the builder."""

from __future__ import annotations

import os
from typing import Any


def load(model_path: str, model_base: str | None = None, devices: Any = None, **kwargs: Any) -> Any:
    from llava.conversation import auto_set_conversation_mode
    from llava.model.builder import load_pretrained_model

    auto_set_conversation_mode(model_path)
    model_path = os.path.expanduser(model_path)
    if os.path.exists(os.path.join(model_path, "model")):
        model_path = os.path.join(model_path, "model")
    name = model_path.strip("/").split("/")[-1]
    return load_pretrained_model(model_path, name, model_base, **kwargs)[1]
