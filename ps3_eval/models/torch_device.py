"""Where local torch backends run, and how they time work on a GPU honestly."""

from __future__ import annotations

import os


def pick_device(choice: str) -> str:
    """``auto``: this process's GPU (``cuda:LOCAL_RANK``, as torchrun sets it) if any, else cpu."""
    if choice != "auto":
        return choice
    import torch

    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return "cpu"


def synchronize(device: str) -> None:
    """Wait for the GPU's queued work, so a clock read next measures it (no-op on cpu)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)
