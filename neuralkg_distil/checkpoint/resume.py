"""What Lightning 1.9 leaves out of a checkpoint, so a resumed run does what the uninterrupted one would.

Lightning restores weights, optimizer, schedule and loop counters, but not the global
generators that shuffle the batches and draw the negatives, nor the sampler's head/tail
alternation, nor a pending early stop. :class:`ResumeStateCallback` saves those in every
checkpoint and, after a resume, puts the generators back at the start of the first epoch: the
point at which they were saved in the uninterrupted run (checkpoints are written at the end of
an epoch, and nothing draws between then and the next epoch's start). It also lets a resumed
run take a new ``--lr`` (say, after a NaN), which Lightning would silently replace with the
checkpoint's.
"""
from __future__ import annotations

import random
from typing import Any, Dict, List, Optional

import numpy as np
import pytorch_lightning as pl
import torch

from neuralkg_distil.errors import warn

CHECKPOINT_KEY = "neuralkg_distil_resume"

# Flags a resumed run may change without a word: more epochs, a new learning rate (applied, see
# below), other paths, devices, workers or display.
FREE_FLAGS = frozenset({
    "resume", "overwrite", "max_epochs", "lr", "num_workers", "enable_progress_bar", "enable_model_summary",
    "accelerator", "devices", "gpus", "gpu", "use_wandb", "output_dir", "run_dir", "data_path", "student_ckpt",
    "teacher_ckpt", "checkpoint_dir", "default_root_dir", "log_every_n_steps", "eval_bs",
})


def changed_flags(saved: Dict[str, Any], current: Dict[str, Any]) -> List[str]:
    """``--name old -> new`` for every flag (outside :data:`FREE_FLAGS`) that differs."""
    return [
        f"--{name} {saved[name]} -> {current.get(name)}"
        for name in sorted(saved)
        if name not in FREE_FLAGS and name in current and saved[name] != current[name]
    ]


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


def rescale_learning_rate(trainer: pl.Trainer, factor: float) -> None:
    """Multiply the learning rate of every parameter group that derives from ``--lr`` (not the
    calibrated gates' own ``--gate_lr``), and the base its schedule decays from, by ``factor``."""
    from neuralkg_distil.training.optim import LR_FOLLOWS_FLAG

    for optimizer in trainer.optimizers:
        follows = [group.get(LR_FOLLOWS_FLAG, True) for group in optimizer.param_groups]
        for group, rescale in zip(optimizer.param_groups, follows):
            if rescale:
                group["lr"] *= factor
                if "initial_lr" in group:
                    group["initial_lr"] *= factor
        for config in trainer.lr_scheduler_configs:
            scheduler = config.scheduler
            if getattr(scheduler, "optimizer", None) is optimizer and hasattr(scheduler, "base_lrs"):
                scheduler.base_lrs = [lr * factor if rescale else lr for lr, rescale in zip(scheduler.base_lrs, follows)]


class ResumeStateCallback(pl.Callback):
    """Keep the generators, the sampler's alternation flag, a pending early stop and ``--lr`` in
    every checkpoint; restore them (or apply a changed ``--lr``) when training resumes."""

    def __init__(
        self, sampler: Optional[object] = None, lr: Optional[float] = None, flags: Optional[Dict[str, Any]] = None
    ) -> None:
        self.sampler = sampler
        self.lr = lr
        self.flags = dict(flags or {})
        self._pending: Optional[Dict[str, Any]] = None

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: Dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = {
            "rng": capture_rng_state(self.sampler),
            "should_stop": bool(trainer.should_stop),
            "lr": self.lr,
            "flags": self.flags,
        }

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: Dict[str, Any]) -> None:
        # Applied later: model building and the sanity check would consume draws before training resumes.
        self._pending = checkpoint.get(CHECKPOINT_KEY)
        changed = changed_flags((self._pending or {}).get("flags") or {}, self.flags)
        if changed:
            warn(f"resuming with flags other than the interrupted run's ({', '.join(changed)}): "
                 "the result will differ from an uninterrupted run")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pending is None:
            return
        saved_lr = self._pending.get("lr")
        if self.lr and saved_lr and self.lr != saved_lr:  # after Lightning restored the optimizer
            rescale_learning_rate(trainer, self.lr / saved_lr)
            print(f"resuming with --lr {self.lr} (the interrupted run had {saved_lr})")
        if self._pending.get("should_stop"):
            trainer.should_stop = True  # early stopping had fired: the resumed run must not train on

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pending is not None:
            restore_rng_state(self._pending["rng"], self.sampler)
            self._pending = None
