"""Early stopping that lets a learning-rate decay take effect (``--early_stop_after_decay``).

With NeuralKG's halfway decay, a student that learns fast (a distilled one) reaches its plateau
long before the decay and is stopped there, while a slower one (no-DS) trains on past the decay
and gains from it: the comparison then measures the schedule, not the method (round 6d: the
TransE-32 student stopped at epoch 95, the decay was at 125, no-DS gained 0.012 valid MRR after
it). With the flag, early stopping holds its stop while a scheduled decay is still ahead, and its
patience starts again after every decay (scheduled or on a plateau), so every run is given
``--early_stop_patience`` validations at each learning rate it reaches. Without the flag this is
Lightning's ``EarlyStopping``.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import pytorch_lightning as pl
import torch


def current_lr(trainer: pl.Trainer) -> Optional[float]:
    """The first parameter group's learning rate, or None without an optimizer."""
    optimizers = getattr(trainer, "optimizers", None) or []
    if not optimizers or not optimizers[0].param_groups:
        return None
    return float(optimizers[0].param_groups[0]["lr"])


def decay_ahead(trainer: pl.Trainer) -> bool:
    """Whether a scheduled (milestone) decay lies after the current epoch."""
    for config in getattr(trainer, "lr_scheduler_configs", None) or []:
        milestones = getattr(config.scheduler, "milestones", None)
        if milestones and any(int(m) > trainer.current_epoch for m in milestones):
            return True
    return False


class DecayAwareEarlyStopping(pl.callbacks.EarlyStopping):
    """``EarlyStopping`` that, with ``after_decay``, never stops before a scheduled decay and
    restarts its patience when the learning rate falls."""

    def __init__(self, *args: Any, after_decay: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.after_decay = after_decay
        self.last_lr: Optional[float] = None
        self._trainer: Optional[pl.Trainer] = None

    def _run_early_stopping_check(self, trainer: pl.Trainer) -> None:
        self._trainer = trainer
        super()._run_early_stopping_check(trainer)

    def _evaluate_stopping_criteria(self, current: torch.Tensor) -> Tuple[bool, Optional[str]]:
        trainer = self._trainer
        if not self.after_decay or trainer is None:
            return super()._evaluate_stopping_criteria(current)
        lr = current_lr(trainer)
        if lr is not None and self.last_lr is not None and lr < self.last_lr:
            self.wait_count = 0  # a new rate: give it the whole patience
        self.last_lr = lr
        should_stop, reason = super()._evaluate_stopping_criteria(current)
        if should_stop and self.wait_count >= self.patience and decay_ahead(trainer):
            return False, None  # the plateau may be the rate's, not the model's: wait for the decay
        return should_stop, reason

    def state_dict(self) -> Dict[str, Any]:
        return {**super().state_dict(), "last_lr": self.last_lr}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.last_lr = state_dict.get("last_lr")
