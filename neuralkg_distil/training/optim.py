"""Optimizers and learning-rate schedules shared by every lit model.

Two things NeuralKG's ``configure_optimizers`` gets wrong for small models are fixed here:

* **One learning rate for every dimension.** NeuralKG initialises embeddings in
  ``+-(margin + epsilon) / dim``, and Adam moves each coordinate by about ``lr`` per step, so an
  8-dim model moves 8x less, relative to its scale, than a 64-dim one. With ``--lr_ref_dim D``
  each model's parameters get ``lr * (D / dim) ** lr_dim_power`` (power 1 for the distance
  models, whose coordinates scale as 1 / dim; 0.5 for bilinear ones, whose scores are sums of
  dim products); ``--lr`` is then the rate of a D-dimensional model.
* **A decay that never fires.** NeuralKG divides the rate by 10 at ``max_epochs / 2``, which an
  early-stopped run never reaches. ``--lr_decay plateau`` multiplies it by ``--lr_decay_factor``
  after ``--lr_decay_patience`` validations without a better MRR (the DistilE paper's x0.96 / 5).
"""
from __future__ import annotations

import argparse
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import nn

from neuralkg_distil.errors import ConfigError

LR_DECAYS = ("halfway", "plateau", "none")
# Optimizers whose constructor takes ``fused`` (on CPU tensors since PyTorch 2.4). PyTorch's default
# (foreach) Adam makes several passes over every parameter on the CPU; for a 64-dim ComplEx on
# WN18RR one step cost ~20 ms, the fused one ~3 ms, with the same update up to float rounding.
FUSABLE = ("Adam", "AdamW")  # fused SGD / Adagrad on the CPU differ or fail in some PyTorch builds
MONITOR = "Eval|mrr"
# Parameter-group key: the group's rate derives from --lr (a resumed run with a new --lr rescales it);
# groups with their own rate (the calibrated gates' --gate_lr) set it False.
LR_FOLLOWS_FLAG = "follows_lr_flag"


def model_dim(model: nn.Module) -> Optional[int]:
    """The embedding dimension a NeuralKG model was built with (None if it does not say)."""
    args = getattr(model, "args", None)
    dim = getattr(args, "emb_dim", None)
    return int(dim) if dim else None


def scaled_lr(args: argparse.Namespace, dim: Optional[int]) -> float:
    """``--lr`` for a model of dimension ``dim``, after the ``--lr_ref_dim`` rule (if on)."""
    ref = int(getattr(args, "lr_ref_dim", 0) or 0)
    if not ref or not dim:
        return float(args.lr)
    power = float(getattr(args, "lr_dim_power", 1.0))
    return float(args.lr) * (ref / dim) ** power


def model_group(args: argparse.Namespace, model: nn.Module, params: Optional[Iterable[nn.Parameter]] = None) -> Dict[str, Any]:
    """One optimizer parameter group for ``model`` at its dimension's learning rate."""
    chosen = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    return {"params": chosen, "lr": scaled_lr(args, model_dim(model)), LR_FOLLOWS_FLAG: True}


def build_optimization(args: argparse.Namespace, groups: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Lightning's ``configure_optimizers`` answer: the optimizer over ``groups`` and its schedule."""
    optim_name = getattr(args, "optim_name", "Adam")
    optimizer_class = getattr(torch.optim, optim_name, None)
    if optimizer_class is None:
        raise ConfigError(f"unknown --optim_name {optim_name!r} (a class in torch.optim, e.g. Adam)")
    groups = [g for g in groups if g["params"]]
    optimizer = build_optimizer(optimizer_class, groups, float(args.lr))
    decay = getattr(args, "lr_decay", None) or "halfway"
    if decay == "none":
        return {"optimizer": optimizer}
    if decay == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=float(getattr(args, "lr_decay_factor", 0.96)),
            patience=int(getattr(args, "lr_decay_patience", 5)),
        )
        # Stepped after each validation only (every check_per_epoch epochs), so patience counts checks.
        return {"optimizer": optimizer, "lr_scheduler": {
            "scheduler": scheduler, "monitor": MONITOR, "interval": "epoch",
            "frequency": int(getattr(args, "check_per_epoch", 1) or 1), "strict": False,
        }}
    if decay == "halfway":  # NeuralKG's schedule: divide by 10 halfway through
        max_epochs = getattr(args, "max_epochs", None) or 1000
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[max(1, max_epochs // 2)], gamma=0.1)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}
    raise ConfigError(f"--lr_decay must be one of {', '.join(LR_DECAYS)}, got {decay!r}")


def _fusable(params: Sequence[Any]) -> bool:
    tensors = [p for group in params for p in (group["params"] if isinstance(group, dict) else [group])]
    return bool(tensors) and all(
        p.is_floating_point() and p.device.type in ("cpu", "cuda")
        and p.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64)
        for p in tensors
    )


def build_optimizer(optimizer_class: type, params: Iterable[Any], lr: float, fused: Optional[bool] = None) -> torch.optim.Optimizer:
    """``optimizer_class(params, lr=lr)`` (tensors or parameter groups), fused unless ``fused`` is
    False, where the class and the parameters allow it."""
    groups = list(params)
    if fused is not False and optimizer_class.__name__ in FUSABLE and _fusable(groups):
        try:
            return optimizer_class(groups, lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):  # this PyTorch / device cannot fuse it
            pass
    return optimizer_class(groups, lr=lr)


def current_lrs(optimizers: Sequence[torch.optim.Optimizer]) -> List[Tuple[int, float]]:
    """(group index, learning rate) of every parameter group, for logging."""
    return [(i, float(g["lr"])) for opt in optimizers for i, g in enumerate(opt.param_groups)]
