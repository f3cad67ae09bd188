"""Random-number state in checkpoints, so a resumed run draws what the uninterrupted run would.

Lightning 1.9 restores weights, optimizer, schedule and loop counters from a checkpoint, but
not the global generators that shuffle the batches and draw the negatives, nor the sampler's
head/tail alternation. :class:`RngStateCallback` saves those in every checkpoint and, after a
resume, puts them back at the start of the first epoch: the same point at which they were
saved in the uninterrupted run (nothing draws between a checkpoint and the next epoch).
"""
from __future__ import annotations

import random
from typing import Any, Dict, Optional

import numpy as np
import pytorch_lightning as pl
import torch


def capture_rng_state(sampler: Optional[object] = None) -> Dict[str, Any]:
    """The state of Python's, NumPy's and torch's global generators, as tensors and numbers only
    (so ``torch.load(weights_only=True)`` reads it)."""
    version, mt_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: Dict[str, Any] = {
        "python": {"version": version, "state": torch.tensor(mt_state, dtype=torch.int64), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    flag = getattr(sampler, "cross_sampling_flag", None)
    if flag is not None:
        state["cross_sampling_flag"] = int(flag)
    return state


def restore_rng_state(state: Dict[str, Any], sampler: Optional[object] = None) -> None:
    """Undo :func:`capture_rng_state`."""
    python = state["python"]
    random.setstate((python["version"], tuple(int(x) for x in python["state"].tolist()), python["gauss"]))
    numpy = state["numpy"]
    np.random.set_state((numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"],
                         numpy["has_gauss"], numpy["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "cross_sampling_flag" in state and hasattr(sampler, "cross_sampling_flag"):
        sampler.cross_sampling_flag = state["cross_sampling_flag"]


class RngStateCallback(pl.Callback):
    """Keep the generators (and the training sampler's alternation flag) in every checkpoint."""

    def __init__(self, sampler: Optional[object] = None) -> None:
        self.sampler = sampler
        self._pending: Optional[Dict[str, Any]] = None

    def state_dict(self) -> Dict[str, Any]:
        return capture_rng_state(self.sampler)

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        # Not now: model building and the sanity check would consume draws before training resumes.
        self._pending = state_dict

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pending is not None:
            restore_rng_state(self._pending, self.sampler)
            self._pending = None
