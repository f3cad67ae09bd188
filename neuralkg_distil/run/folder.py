"""A run's stage folder: what may be written there, what an earlier run left, where logs go.

An earlier run's checkpoints and results are never replaced without ``--overwrite``, and even
then only after every input of the new run has been checked (:func:`prepare_stage_dir` is the
one place that deletes).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Optional

from neuralkg_distil.errors import ConfigError

RESULTS_FILE = "results.json"


def plan_stage_dir(stage_dir: Path, overwrite: bool, resume: bool = False, test_only: bool = False) -> Optional[Path]:
    """Check the stage folder against --overwrite / --resume without touching it.

    Returns the interrupted run's ``last.ckpt`` to continue from with ``resume`` (None when the
    folder holds no run yet); a finished run (``results.json`` present) is not resumed, and an
    earlier run's outputs are kept unless ``overwrite``. A ``--test_only`` run writes only
    results, so only earlier results stand in its way.
    """
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite contradict each other: pick one")
    if resume:
        if (stage_dir / RESULTS_FILE).exists():
            raise ConfigError(f"{stage_dir} holds a finished run ({RESULTS_FILE}); nothing to resume (pass --overwrite to rerun)")
        last = stage_dir / "last.ckpt"
        return last if last.is_file() else None
    outputs = (RESULTS_FILE,) if test_only else (RESULTS_FILE, "best.ckpt", "last.ckpt")
    earlier = [stage_dir / name for name in outputs if (stage_dir / name).exists()]
    if earlier and not overwrite:
        raise ConfigError(f"{stage_dir} already holds an earlier run ({earlier[0].name}); pass --overwrite or another --run_dir")
    return None


def prepare_stage_dir(stage_dir: Path, overwrite: bool, keep_checkpoints: bool = False) -> None:
    """Create the stage folder; with ``overwrite``, clear the earlier run's checkpoints and results.

    Called only once every input has been checked, so a bad flag never costs an earlier run.
    ``keep_checkpoints`` (for ``--test_only``, which may be testing one of them) clears results only.
    """
    if overwrite and not keep_checkpoints:
        for path in stage_dir.glob("*.ckpt"):
            path.unlink()
        (stage_dir / RESULTS_FILE).unlink(missing_ok=True)
    stage_dir.mkdir(parents=True, exist_ok=True)


def log_version(run_dir: Path, stage_name: str, resuming: bool) -> str:
    """The CSV log folder: a resumed run logs beside the interrupted one instead of replacing it."""
    if not resuming:
        return stage_name
    number = 1
    while (run_dir / "logs" / f"{stage_name}-resume{number}").exists():
        number += 1
    return f"{stage_name}-resume{number}"


def default_run_dir(args: argparse.Namespace, distil: bool) -> Path:
    """``<output_dir>/<dataset folder>/<model>_<dim>[_distil]``, unless ``--run_dir`` is given.

    Under a wandb sweep agent each run gets its own sub-folder, so the runs never collide.
    """
    if getattr(args, "run_dir", None):
        return Path(args.run_dir)
    dataset = Path(args.data_path).name or args.dataset_name
    suffix = "_distil" if distil else ""
    run_dir = Path(getattr(args, "output_dir", None) or "output") / dataset / f"{args.model_name}_{args.emb_dim}{suffix}"
    sweep, run = os.environ.get("WANDB_SWEEP_ID"), os.environ.get("WANDB_RUN_ID")
    if getattr(args, "use_wandb", False) and sweep and run:
        run_dir = run_dir / f"sweep-{sweep}" / run
    return run_dir
