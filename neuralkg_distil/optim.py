"""The optimizer of a training run: NeuralKG's ``--optim_name`` class, fused where PyTorch has it.

PyTorch's default (``foreach``) Adam on the CPU makes several passes over every parameter; for a
64-dim ComplEx / RotatE on WN18RR (40,943 x 128 entity floats) one step costs ~20 ms, about as
much as the rest of the training step. The fused implementation (``fused=True``, CPU since
PyTorch 2.4) computes the same update in one pass (~3 ms), equal up to float rounding.
"""
from __future__ import annotations

from typing import Iterable

import torch

# Optimizers fused here (their constructors take ``fused``; on CPU tensors since PyTorch 2.4).
FUSABLE = ("Adam", "AdamW")


def _fusable(params: list, device_types: tuple[str, ...] = ("cpu", "cuda")) -> bool:
    tensors = [p for group in params for p in (group["params"] if isinstance(group, dict) else [group])]
    return bool(tensors) and all(
        p.is_floating_point() and p.device.type in device_types and p.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64)
        for p in tensors
    )


def build_optimizer(optimizer_class: type, params: Iterable, lr: float, fused: bool | None = None) -> torch.optim.Optimizer:
    """``optimizer_class(params, lr=lr)``, with ``fused=True`` when ``fused`` is not False and the
    class and parameters support it (falls back to the default implementation otherwise)."""
    params = list(params)
    if fused is not False and optimizer_class.__name__ in FUSABLE and _fusable(params):
        try:
            return optimizer_class(params, lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):  # this PyTorch / device cannot fuse it
            pass
    return optimizer_class(params, lr=lr)
