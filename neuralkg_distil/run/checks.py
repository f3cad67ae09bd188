"""Checks of the training flags: values no run can use, and names NeuralKG cannot resolve.

Both give one-line :class:`~neuralkg_distil.errors.ConfigError` messages naming the flag, before
any data is read or any file written.
"""
from __future__ import annotations

import argparse
import importlib
from typing import AbstractSet, Callable, List

from neuralkg_distil.errors import ConfigError, did_you_mean


def check_flags(args: argparse.Namespace) -> None:
    """One-line errors for flag values no run can use (before any data is read)."""
    from neuralkg_distil.methods.losses.base import LossSettings

    LossSettings.from_args(args)  # the loss's own checks (alpha/beta, kd_*, the schedule), once, before any data
    for name in ("num_neg", "eval_bs", "emb_dim", "check_per_epoch", "lr", "gate_lr", "lr_decay_factor"):
        if getattr(args, name, 1) <= 0:
            raise ConfigError(f"--{name} must be positive, got {getattr(args, name)}")
    if (getattr(args, "kd_transfer_queries", 0) or 0) > 0 and not (getattr(args, "teacher_topk", 0) or 0):
        raise ConfigError("--kd_transfer_queries needs --teacher_topk K (the candidate table it draws its queries from)")
    if args.teacher_dim is not None and args.teacher_dim <= 0:
        raise ConfigError(f"--teacher_dim must be positive, got {args.teacher_dim}")
    for name in ("neg_chunk_size", "num_workers", "early_stop_patience", "structure_weight", "train_bs", "num_batches",
                 "lr_ref_dim", "lr_decay_patience", "teacher_topk", "kd_transfer_queries"):
        value = getattr(args, name, 0) or 0
        if value < 0:
            raise ConfigError(f"--{name} must be >= 0, got {value}")
    if args.train_bs == 0 and args.num_batches == 0:
        raise ConfigError("--train_bs is 0: set the training batch size with --train_bs N (or --num_batches N)")
    if args.max_epochs is not None and args.max_epochs <= 0:
        raise ConfigError(f"--max_epochs must be positive, got {args.max_epochs}")
    if any(k <= 0 for k in args.calc_hits):
        raise ConfigError(f"--calc_hits must list positive cut-offs, got {args.calc_hits}")
    import torch

    optimizer = getattr(torch.optim, args.optim_name, None)
    if not (isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer)):
        valid = sorted(n for n, c in vars(torch.optim).items()
                       if isinstance(c, type) and issubclass(c, torch.optim.Optimizer) and c is not torch.optim.Optimizer)
        raise ConfigError(f"unknown --optim_name {args.optim_name!r}; valid: {', '.join(valid)}")


def _is_sampler(cls: type) -> bool:
    return cls.__name__.endswith("Sampler")


def _is_subclass_of(base: str) -> Callable[[type], bool]:
    def check(cls: type) -> bool:
        import pytorch_lightning as pl

        return issubclass(cls, getattr(pl, base))

    return check


# What each flag may name, for the list of valid names in an error (NeuralKG's namespaces also
# hold helpers such as KGData or ddict that are no answer to the flag).
_KINDS = {
    "--litmodel_name": _is_subclass_of("LightningModule"),
    "--data_class": _is_subclass_of("LightningDataModule"),
    "--train_sampler_class": _is_sampler,
    "--test_sampler_class": _is_sampler,
}


def resolve(namespace: str, name: str, flag: str) -> type:
    from neuralkg_distil.plugin.namespaces import available_names

    module = importlib.import_module(f"neuralkg.{namespace}")
    cls = getattr(module, name, None)
    if not isinstance(cls, type):
        fits = _KINDS.get(flag, lambda _: True)
        valid = [n for n in available_names(namespace) if fits(getattr(module, n))]
        raise ConfigError(f"unknown {flag} {name!r}; valid: {', '.join(valid)}{did_you_mean(name, valid)}")
    return cls


# Flags whose class names are matched case-insensitively (complex -> ComplEx), and their namespace.
CASE_INSENSITIVE = (("model_name", "model"), ("teacher_model", "model"), ("loss_name", "loss"))


def canonicalize_names(args: argparse.Namespace) -> argparse.Namespace:
    """Model and loss names in NeuralKG's spelling (``complex`` -> ``ComplEx``), in place.

    Done when the flags are parsed, so run folders, presets and results use the canonical name.
    A name that matches nothing is left as it is (the run's checks then list the valid ones).
    """
    from neuralkg_distil.plugin.namespaces import available_names

    for dest, namespace in CASE_INSENSITIVE:
        value = getattr(args, dest, None)
        if not isinstance(value, str) or not value:
            continue
        module = importlib.import_module(f"neuralkg.{namespace}")
        names = available_names(namespace)
        # --teacher_model may list one class per --teacher_ckpt checkpoint (MulDE: rotate,complex)
        setattr(args, dest, ",".join(_canonical(module, names, part.strip()) for part in value.split(",")))
    return args


def soft_weighting_of(args: argparse.Namespace) -> str:
    """The soft-label weighting a distillation run uses: ``--soft_weighting``, else its loss's default."""
    weighting = getattr(args, "soft_weighting", None)
    if weighting is None:
        loss = getattr(importlib.import_module("neuralkg.loss"), args.loss_name, None)
        weighting = getattr(loss, "default_weighting", "fixed")
    return weighting


def unused_weights(args: argparse.Namespace, distil: bool) -> List[str]:
    """Of alpha and beta, those this run ignores: both for a pretraining or learned gates
    (``adaptive``, ``calibrated``), beta (the co-trained teacher's weight) outside stage 2."""
    if not distil or soft_weighting_of(args) in ("adaptive", "calibrated"):
        return ["alpha", "beta"]
    stage2 = getattr(args, "stage2", False) or getattr(args, "stage", 1) == 2
    return [] if stage2 else ["beta"]


def _canonical(module: object, names: List[str], value: str) -> str:
    if isinstance(getattr(module, value, None), type):
        return value
    matches = [n for n in names if n.lower() == value.lower()]
    return matches[0] if len(matches) == 1 else value


def flag_warnings(args: argparse.Namespace, explicit: AbstractSet[str], distil: bool) -> List[str]:
    """One-line warnings for flags that are legal but will not do what they seem to."""
    notes = []
    max_epochs, every = getattr(args, "max_epochs", None), getattr(args, "check_per_epoch", 1)
    if not getattr(args, "test_only", False) and max_epochs is not None and every and max_epochs < every:
        notes.append(
            f"--max_epochs {max_epochs} is below --check_per_epoch {every}: the run never validates, so there is no "
            f"early stopping and no best.ckpt (the results use the last weights); lower --check_per_epoch"
        )
    if distil:
        weighting = soft_weighting_of(args)
        given = [f"--{n}" for n in ("alpha", "beta") if n in explicit]
        if weighting in ("adaptive", "calibrated") and given:
            notes.append(
                f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} not used: {args.loss_name} weighs the soft labels "
                f"with learned gates (--soft_weighting {weighting}); pass --soft_weighting fixed to use them"
            )
    return notes
