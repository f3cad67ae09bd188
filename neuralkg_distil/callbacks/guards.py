"""Stop training on a NaN or infinite loss or score before it reaches the weights or a checkpoint.

A non-finite value is caught before ``backward``, so the step that produced it never updates
the weights; a checkpoint whose weights are not finite is never written, so ``last.ckpt``
always holds the last good state and ``--resume`` continues from it.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import pytorch_lightning as pl
import torch

from neuralkg_distil.errors import DistilError


class NonFiniteError(DistilError):
    """A loss, score or weight became NaN or infinite; training stopped."""


def run_label(pl_module: pl.LightningModule) -> str:
    """``stage 1`` / ``stage 2`` for a distillation module, ``pretraining`` otherwise."""
    stage = getattr(pl_module, "stage", None)
    return f"stage {stage}" if stage else "pretraining"


def _last_good(trainer: Optional[pl.Trainer]) -> str:
    callback = getattr(trainer, "checkpoint_callback", None) if trainer is not None else None
    last = getattr(callback, "last_model_path", "") or ""
    if last:
        return f"the last good checkpoint is {last}: rerun with --resume and a lower --lr to continue from it"
    return "no checkpoint was written yet: lower --lr (or check --margin) and rerun with --overwrite"


def _first_value(loss: torch.Tensor) -> float:
    return loss.detach().float().cpu().reshape(-1)[0].item()


def non_finite_error(what: str, value: Any, pl_module: pl.LightningModule) -> NonFiniteError:
    """The error for a non-finite ``what``, naming the step, epoch and stage."""
    trainer = pl_module._trainer  # None outside a Trainer (e.g. a unit test calling training_step)
    step = trainer.global_step if trainer is not None else "?"
    epoch = trainer.current_epoch if trainer is not None else "?"
    return NonFiniteError(
        f"non-finite {what} ({value}) at step {step} (epoch {epoch}) of {run_label(pl_module)}; "
        f"training stopped before the update; {_last_good(trainer)}"
    )


def check_finite(pl_module: pl.LightningModule, loss: torch.Tensor, scores: Mapping[str, torch.Tensor]) -> None:
    """Raise :class:`NonFiniteError` if the loss or any of the named score tensors is NaN/Inf.

    One device sync per step: the flags are combined on the device before ``.item()``.
    """
    checks = [torch.isfinite(loss).all()] + [torch.isfinite(s).all() for s in scores.values()]
    if bool(torch.stack(checks).all()):
        return
    for name, tensor in scores.items():  # a bad score is the cause of a bad loss: name it first
        bad = ~torch.isfinite(tensor)
        if bad.any():
            raise non_finite_error(f"{name} scores", f"{int(bad.sum())} of {tensor.numel()} values", pl_module)
    raise non_finite_error("loss", _first_value(loss), pl_module)


class NonFiniteGuard(pl.Callback):
    """For any lit model (NeuralKG's ``KGELitModel`` too): check the loss before ``backward`` and
    the weights before a checkpoint is written.

    Lit models that call :func:`check_finite` themselves set ``checks_finite = True``; their loss
    is not checked a second time (each check is a device sync on the training hot path).
    """

    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor) -> None:
        if getattr(pl_module, "checks_finite", False):
            return
        if not bool(torch.isfinite(loss).all()):
            raise non_finite_error("loss", _first_value(loss), pl_module)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: Dict[str, Any]) -> None:
        for name, tensor in checkpoint.get("state_dict", {}).items():
            if torch.is_tensor(tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise non_finite_error(f"weights in {name}", "not saved", pl_module)
