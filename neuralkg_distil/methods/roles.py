"""Assemble the student and teacher of a distillation stage from the flags and the checkpoints.

Stage 1: the teacher comes from ``--teacher_ckpt``, the student is new.
Stage 2: student, teacher and the student's learnable loss weights come from the stage-1
checkpoint (``--student_ckpt``, default ``<run_dir>/stage1/best.ckpt``); with
``--student_init random`` (the papers' -S1 ablation) the student is new and the teacher comes
from ``--teacher_ckpt``.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional

import torch
from torch import nn

from neuralkg_distil.checkpoint.files import read_checkpoint
from neuralkg_distil.errors import CheckpointError, ConfigError
from neuralkg_distil.kge.spec import ModelSpec, build_model
from neuralkg_distil.run.folder import default_run_dir
from neuralkg_distil.checkpoint.rebuild import load_model


def stage_of(args: argparse.Namespace) -> int:
    """Stage 2 when ``--stage2`` (the reference flag) or ``--stage 2`` is given, else 1."""
    if getattr(args, "stage2", False):
        return 2
    stage = getattr(args, "stage", None) or 1
    if stage not in (1, 2):
        raise ConfigError(f"--stage must be 1 or 2, got {stage}")
    return int(stage)


def stage1_checkpoint(args: argparse.Namespace) -> Path:
    """Where stage 2 starts from: ``--student_ckpt`` or the run folder's best stage-1 checkpoint."""
    if getattr(args, "student_ckpt", None):
        return Path(args.student_ckpt)
    return default_run_dir(args, distil=True) / "stage1" / "best.ckpt"


@dataclass
class StageModels:
    """The models of one distillation stage, their specs, and loss state to restore."""

    stage: int
    student: nn.Module
    teacher: nn.Module
    student_spec: ModelSpec
    teacher_spec: ModelSpec
    loss_state: Dict[str, torch.Tensor] = field(default_factory=dict)
    source: Optional[str] = None


def build_stage_models(
    args: argparse.Namespace,
    num_ent: int,
    num_rel: int,
    dataset_checksum: Optional[str] = None,
    student: Optional[nn.Module] = None,
) -> StageModels:
    """Load or build what the stage needs; one-line errors for missing or mismatched checkpoints."""
    stage = stage_of(args)
    teacher_model = getattr(args, "teacher_model", None) or args.model_name
    student_spec = ModelSpec.from_args(args, num_ent, num_rel)
    from_scratch = getattr(args, "student_init", "stage1") == "random"
    if stage == 1 or from_scratch:
        if not getattr(args, "teacher_ckpt", None):
            what = "distillation" if stage == 1 else "stage 2 with --student_init random"
            raise ConfigError(f"{what} needs a teacher: pass --teacher_ckpt PATH (a pretrained checkpoint)")
        teacher, teacher_spec = load_model(
            args.teacher_ckpt,
            model_name=teacher_model,
            num_ent=num_ent,
            num_rel=num_rel,
            dim=getattr(args, "teacher_dim", None),
            dataset_checksum=dataset_checksum,
            base_args=args,
        )
        if student is None:
            student = build_model(student_spec, args)
        return StageModels(stage, student, teacher, student_spec, teacher_spec, source=str(args.teacher_ckpt))

    path = stage1_checkpoint(args)
    if not path.is_file():
        raise CheckpointError(
            f"stage 2 needs a stage-1 checkpoint: none at {path} (run stage 1 first or pass --student_ckpt)"
        )
    common = dict(num_ent=num_ent, num_rel=num_rel, dataset_checksum=dataset_checksum, base_args=args)
    student, student_spec = load_model(
        path, model_name=args.model_name, dim=args.emb_dim, prefix="model.", what="stage-1 checkpoint", **common
    )
    teacher, teacher_spec = load_model(
        path,
        model_name=teacher_model,
        dim=getattr(args, "teacher_dim", None),
        prefix="teacher.",
        what="stage-1 checkpoint",
        **common,
    )
    checkpoint = read_checkpoint(path, "stage-1 checkpoint")
    state = checkpoint.get("state_dict", {})
    # Only the student's gates carry over: the teacher's mirror gates start fresh in stage 2.
    loss_state = {
        k[len("loss.") :]: v for k, v in state.items() if k.startswith("loss.student_weighting.")
    }
    return StageModels(2, student, teacher, student_spec, teacher_spec, loss_state=loss_state, source=os.fspath(path))
