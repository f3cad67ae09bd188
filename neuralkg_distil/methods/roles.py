"""Assemble the student and teacher of a distillation stage from the flags and the checkpoints.

Stage 1: the teacher comes from ``--teacher_ckpt``, the student is new. ``--teacher_ckpt a,b,...``
gives several frozen teachers (MulDE), of any families and dimensions, each checked like a single
one; they carry the roles ``teacher``, ``teacher2``, ``teacher3``, ... (their checkpoint prefixes).
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
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from neuralkg_distil.checkpoint.files import config_of, read_checkpoint
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
    # teachers after the first (--teacher_ckpt a,b,...), roles teacher2, teacher3, ...
    extra_teachers: Tuple[nn.Module, ...] = ()
    extra_teacher_specs: Tuple[ModelSpec, ...] = ()

    @property
    def teachers(self) -> Dict[str, nn.Module]:
        """Every teacher by role, the first (``teacher``) first."""
        return dict(zip(teacher_roles(1 + len(self.extra_teachers)), (self.teacher, *self.extra_teachers)))

    @property
    def teacher_specs(self) -> Dict[str, ModelSpec]:
        """Every teacher's spec by role."""
        return dict(zip(teacher_roles(1 + len(self.extra_teachers)), (self.teacher_spec, *self.extra_teacher_specs)))


def teacher_roles(count: int) -> List[str]:
    """The roles of ``count`` teachers: ``teacher``, ``teacher2``, ``teacher3``, ..."""
    return ["teacher"] + [f"teacher{i}" for i in range(2, count + 1)]


def _split(value: Optional[str]) -> List[str]:
    return [part.strip() for part in str(value).split(",") if part.strip()] if value else []


def teacher_paths(args: argparse.Namespace) -> List[str]:
    """The checkpoints of ``--teacher_ckpt`` (one path, or several separated by commas)."""
    return _split(getattr(args, "teacher_ckpt", None))


def _teacher_names(args: argparse.Namespace, paths: List[str]) -> List[str]:
    """Each teacher's class: ``--teacher_model`` (one name for all, or one per checkpoint); without it
    ``--model_name`` for a single teacher (as always), and for several each checkpoint's recorded class."""
    names = _split(getattr(args, "teacher_model", None))
    if len(names) not in (0, 1, len(paths)):
        raise ConfigError(f"--teacher_model names {len(names)} classes for {len(paths)} --teacher_ckpt checkpoints; "
                          "give one for all or one per checkpoint")
    if names:
        return names * len(paths) if len(names) == 1 else names
    if len(paths) == 1:
        return [args.model_name]
    recorded = [((config_of(read_checkpoint(p, "teacher checkpoint")) or {}).get("models", {}).get("model") or {})
                .get("model_name") for p in paths]
    return [name or args.model_name for name in recorded]


def load_teachers(
    args: argparse.Namespace, num_ent: int, num_rel: int, dataset_checksum: Optional[str] = None
) -> Tuple[List[nn.Module], List[ModelSpec]]:
    """Every ``--teacher_ckpt`` checkpoint as a model and its spec, each checked against the run."""
    paths = teacher_paths(args)
    if not paths:
        raise ConfigError("distillation needs a teacher: pass --teacher_ckpt PATH (a pretrained checkpoint)")
    dim = getattr(args, "teacher_dim", None)
    if dim is not None and len(paths) > 1:
        raise ConfigError(f"--teacher_dim {dim} with {len(paths)} --teacher_ckpt checkpoints: leave it out "
                          "(each checkpoint's dimension is read from it)")
    models, specs = [], []
    for path, name in zip(paths, _teacher_names(args, paths)):
        model, spec = load_model(path, model_name=name, num_ent=num_ent, num_rel=num_rel, dim=dim,
                                 dataset_checksum=dataset_checksum, base_args=args)
        models.append(model)
        specs.append(spec)
    return models, specs


def build_stage_models(
    args: argparse.Namespace,
    num_ent: int,
    num_rel: int,
    dataset_checksum: Optional[str] = None,
    student: Optional[nn.Module] = None,
) -> StageModels:
    """Load or build what the stage needs; one-line errors for missing or mismatched checkpoints."""
    stage = stage_of(args)
    student_spec = ModelSpec.from_args(args, num_ent, num_rel)
    from_scratch = getattr(args, "student_init", "stage1") == "random"
    if stage == 1 or from_scratch:
        if not teacher_paths(args):
            what = "distillation" if stage == 1 else "stage 2 with --student_init random"
            raise ConfigError(f"{what} needs a teacher: pass --teacher_ckpt PATH (a pretrained checkpoint)")
        teachers, specs = load_teachers(args, num_ent, num_rel, dataset_checksum)
        if student is None:
            student = build_model(student_spec, args)
        return StageModels(stage, student, teachers[0], student_spec, specs[0], source=str(args.teacher_ckpt),
                           extra_teachers=tuple(teachers[1:]), extra_teacher_specs=tuple(specs[1:]))
    return _from_stage1(args, num_ent, num_rel, dataset_checksum)


def _from_stage1(args: argparse.Namespace, num_ent: int, num_rel: int, dataset_checksum: Optional[str]) -> StageModels:
    """Stage 2's student, teachers and the student's gates, from the stage-1 checkpoint."""
    teacher_model = getattr(args, "teacher_model", None) or args.model_name

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
    recorded = (config_of(checkpoint) or {}).get("models", {})
    extra = [load_model(path, model_name=recorded[role]["model_name"], prefix=f"{role}.", what="stage-1 checkpoint", **common)
             for role in teacher_roles(len(recorded))[1:] if role in recorded]
    # Only the student's gates carry over: the teacher's mirror gates start fresh in stage 2.
    loss_state = {
        k[len("loss.") :]: v for k, v in state.items() if k.startswith("loss.student_weighting.")
    }
    return StageModels(2, student, teacher, student_spec, teacher_spec, loss_state=loss_state, source=os.fspath(path),
                       extra_teachers=tuple(m for m, _ in extra), extra_teacher_specs=tuple(s for _, s in extra))
