"""The settings of one training, checked once before any data is read or any file written.

:class:`RunSettings` holds the parsed flags (never written to) and everything derived from them
that the builder needs: which kind of training this is, its stage, its folders, the checkpoint
to resume or to test, and how it reports progress.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from neuralkg_distil.errors import ConfigError, warn
from neuralkg_distil.run.checks import check_flags, flag_warnings, resolve
from neuralkg_distil.run.folder import default_run_dir, plan_stage_dir
from neuralkg_distil.run.kinds import TrainingKind, kind_of


@dataclass(frozen=True)
class RunSettings:
    """One training's flags and what follows from them."""

    args: argparse.Namespace
    kind: TrainingKind
    litmodel_class: type
    stage: Optional[int]
    run_dir: Path
    stage_dir: Path
    label: Optional[str] = None
    resume_from: Optional[Path] = None
    resume_checkpoint: Optional[Dict[str, Any]] = None
    test_checkpoint: Optional[Dict[str, Any]] = None

    @property
    def test_only(self) -> bool:
        return bool(self.args.test_only)

    @property
    def explicit(self) -> frozenset:
        """The flags given on the command line or in a config file."""
        return getattr(self.args, "_explicit", frozenset())

    @classmethod
    def from_args(cls, args: argparse.Namespace, label: Optional[str] = None) -> "RunSettings":
        """Check the flags and plan the run's folder (without touching it); one-line errors."""
        from neuralkg_distil.cli.parser import preset_note
        from neuralkg_distil.data.validate import validate_dataset

        check_flags(args)
        note = preset_note(args)
        if note:
            print(note)
        for line in validate_dataset(args.data_path).notes():
            warn(line)
        litmodel_class = resolve("lit_model", args.litmodel_name, "--litmodel_name")
        kind = kind_of(litmodel_class)
        kind.check_flags(args, litmodel_class)
        for line in flag_warnings(args, getattr(args, "_explicit", frozenset()), kind.distils):
            warn(line)
        stage = kind.stage(args)
        run_dir = default_run_dir(args, kind.distils)
        stage_dir = run_dir / kind.stage_dir_name(stage)
        return cls(args, kind, litmodel_class, stage, run_dir, stage_dir, label, **_checkpoints(args, stage_dir))


def _checkpoints(args: argparse.Namespace, stage_dir: Path) -> Dict[str, Any]:
    """The checkpoint to resume from and the one to test, read (safely) now: one that cannot be used
    must stop the run before its folder changes."""
    from neuralkg_distil.checkpoint.files import read_checkpoint

    resume = bool(getattr(args, "resume", False))
    if resume and args.test_only:
        raise ConfigError("--resume continues training; --test_only does not train: pick one")
    resume_from = plan_stage_dir(stage_dir, args.overwrite, resume, args.test_only)
    resume_checkpoint = read_checkpoint(resume_from, "checkpoint to resume") if resume_from is not None else None
    test_checkpoint = None
    if args.test_only:
        if not args.checkpoint_dir:
            raise ConfigError("--test_only needs --checkpoint_dir PATH (the checkpoint to test)")
        test_checkpoint = read_checkpoint(args.checkpoint_dir, "--checkpoint_dir checkpoint")
    return {"resume_from": resume_from, "resume_checkpoint": resume_checkpoint, "test_checkpoint": test_checkpoint}
