"""What a run prints: Lightning's banners and known harmless warnings filtered, in one place.

:func:`configure_output` runs first thing in ``cli.main`` (before torch or Lightning is imported,
so the ``pkg_resources`` deprecation warning of lightning_fabric's import is filtered too);
:func:`quiet_lightning` runs right after Lightning is imported (its package ``__init__`` sets its
loggers to INFO). ``--verbose`` keeps everything. Training prints one line per validation (see
:mod:`neuralkg_distil.callbacks.progress`); a progress bar only when stdout is a terminal, unless
``--enable_progress_bar`` says otherwise.
"""
from __future__ import annotations

import argparse
import logging
import sys
import warnings
from typing import AbstractSet, Optional, Sequence

_verbose = False

# (category, message regex): warnings every run gets, none of them actionable.
HARMLESS_WARNINGS = (
    (UserWarning, r"pkg_resources is deprecated"),  # lightning_fabric's import, setuptools >= 67
    (DeprecationWarning, r"Deprecated call to `pkg_resources\.declare_namespace"),
    (UserWarning, r".*'pin_memory' argument is set as true but no accelerator is found"),  # NeuralKG's data module on a CPU
    (Warning, r"The number of training batches \(\d+\) is smaller than the logging interval"),  # we log per epoch
    (Warning, r"The dataloader, \w+, does not have many workers"),  # --num_workers 0 is our default advice
    (Warning, r".*`training_epoch_end` .* deprecated"),
    (UserWarning, r"Checkpoint directory .* exists and is not empty"),  # run folders are managed by run_folder.py
    (UserWarning, r"Experiment logs directory .* exists and is not empty"),  # --overwrite asked for it
    (Warning, r"GPU available but not used"),
    # DDP: evaluation metrics are computed over the whole split in every process (identical, see
    # evaluation/whole_split.py), so there is nothing to synchronise; the train loss shown is rank 0's
    (Warning, r"It is recommended to use `self\.log\('(Eval|Test|Train)\|.*sync_dist=True"),
)
LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning_fabric", "lightning")


def add_output_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    group = parser.add_argument_group("Output")
    group.add_argument("--verbose", default=False, action="store_true",
                       help="Keep Lightning's banners (GPU/TPU lines, seed, model summary) and its warnings.")
    return parser


def configure_output(argv: Sequence[str] = (), verbose: Optional[bool] = None) -> bool:
    """Filter the harmless warnings and remember whether Lightning may talk; returns verbose."""
    global _verbose
    _verbose = ("--verbose" in argv) if verbose is None else verbose
    if not _verbose:
        for category, message in HARMLESS_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=category)
    if any(name in sys.modules for name in LIGHTNING_LOGGERS):
        quiet_lightning()
    return _verbose


def quiet_lightning() -> None:
    """Lightning's INFO messages (banners, "Global seed set", model summary) off unless --verbose."""
    level = logging.INFO if _verbose else logging.WARNING
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(level)


def is_verbose() -> bool:
    return _verbose


def progress_bar(args: argparse.Namespace, explicit: AbstractSet[str]) -> bool:
    """--enable_progress_bar when given (flag or config file); otherwise only on a terminal."""
    if "enable_progress_bar" in explicit:
        return bool(args.enable_progress_bar)
    return bool(args.enable_progress_bar) and _isatty(sys.stdout)


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False
