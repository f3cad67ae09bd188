"""Lightning callbacks for what a training run prints (imported by ``cli.train`` only).

- :class:`ValidationReport`: one line per validation (epoch, train loss, valid MRR, elapsed
  time) when there is no progress bar, and a one-line warning at the end of fit when the
  validation metrics did not move between the stage's first and last validation (a learning
  rate too small to change anything, a frozen model, ...).
- :class:`QuietProgressBar`: Lightning's bar without ``v_num`` (the log folder's name, which
  showed as ``v_num=rain`` for ``pretrain``).
"""
from __future__ import annotations

import math
import sys
import time
from typing import Any, Dict, List, Optional

import pytorch_lightning as pl
from pytorch_lightning.callbacks import TQDMProgressBar

from neuralkg_distil.errors import warn


def _floats(metrics: Dict[str, Any], prefix: str) -> Dict[str, float]:
    out = {}
    for key, value in metrics.items():
        if key.startswith(prefix):
            try:
                out[key] = float(value)
            except (TypeError, ValueError):
                continue
    return out


class ValidationReport(pl.Callback):
    """One line per validation, and a warning when a stage's validation metrics never moved."""

    def __init__(self, label: str, print_lines: bool = True, lr: Optional[float] = None) -> None:
        self.label = label
        self.print_lines = print_lines
        self.lr = lr
        self.started = time.time()
        self.history: List[Dict[str, Any]] = []
        self._pending: Optional[Dict[str, float]] = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.started = time.time()
        if self.print_lines:
            every = trainer.check_val_every_n_epoch
            print(f"{self.label}: up to {trainer.max_epochs} epochs, validating every {every}", flush=True)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._pending = _floats(trainer.callback_metrics, "Eval|")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pending is None:
            return
        metrics, self._pending = self._pending, None
        loss = _floats(trainer.callback_metrics, "Train|loss").get("Train|loss")
        epoch = trainer.current_epoch + 1
        self.history.append({"epoch": epoch, **metrics})
        if self.print_lines:
            mrr = metrics.get("Eval|mrr")
            parts = [f"epoch {epoch:>{len(str(trainer.max_epochs))}}/{trainer.max_epochs}",
                     f"train loss {loss:.4f}" if loss is not None and math.isfinite(loss) else "train loss -",
                     f"valid MRR {mrr:.4f}" if mrr is not None else "valid MRR -",
                     f"{time.time() - self.started:.1f} s"]
            print("  ".join(parts), flush=True)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        message = stale_message(self.history, self.label, self.lr)
        if message:
            warn(message)


def stale_message(history: List[Dict[str, Any]], label: str, lr: Optional[float] = None) -> Optional[str]:
    """A warning when the first and last validations of a run report the same metrics."""
    if len(history) < 2:
        return None
    first, last = history[0], history[-1]
    keys = [k for k in first if k.startswith("Eval|") and k in last]
    if not keys or any(not math.isclose(first[k], last[k], rel_tol=1e-9, abs_tol=1e-12) for k in keys):
        return None
    mrr = first.get("Eval|mrr")
    hint = f"--lr {lr:g} may be too small to move the model" if lr is not None else "the model may not be training"
    return (f"{label}: validation metrics did not change from epoch {first['epoch']} to {last['epoch']}"
            + (f" (valid MRR {mrr:.4f})" if mrr is not None else "") + f"; {hint}")


class QuietProgressBar(TQDMProgressBar):
    """Lightning's progress bar without ``v_num``."""

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items


def stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False
