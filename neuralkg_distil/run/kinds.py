"""The two kinds of training a run can be: a pretraining (one model on hard labels) or a
distillation stage (a student and its teacher, through a registered method).

Each kind checks its own flags, names its stage folder, builds its training system and adds the
callbacks only it needs; the builder asks the kind and never branches on it.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from neuralkg_distil.errors import ConfigError, warn


@dataclass
class System:
    """A built training system: the Lightning module, the specs of its roles, what its checkpoints record."""

    lit: Any
    specs: Dict[str, Any]  # role ("model", "teacher") -> ModelSpec
    config: Optional[Dict[str, Any]] = None  # for NeuralKG's lit models, which do not write it themselves
    method: Any = None


class TrainingKind:
    """What differs between a pretraining and a distillation stage."""

    name = ""
    distils = False

    def accepts(self, litmodel_class: type) -> bool:
        raise NotImplementedError

    def check_flags(self, args: argparse.Namespace, litmodel_class: type) -> None:
        """One-line errors for flags this kind cannot use."""
        from neuralkg_distil.kge.spec import model_class

        model_class(args.model_name)

    def stage(self, args: argparse.Namespace) -> Optional[int]:
        return None

    def stage_dir_name(self, stage: Optional[int]) -> str:
        return "pretrain"

    def build_system(self, settings: Any, data: Any) -> System:
        raise NotImplementedError

    def callbacks(self, settings: Any, data: Any, system: System, checkpoint: Any, early_stop: Any) -> List[Any]:
        """Callbacks only this kind needs."""
        return []


class Pretraining(TrainingKind):
    """One KGE model on hard labels: a teacher, or a no-DS student (NeuralKG's KGELitModel or ours)."""

    name = "pretrain"

    def accepts(self, litmodel_class: type) -> bool:
        return True  # every lit model that is not a distillation system

    def check_flags(self, args: argparse.Namespace, litmodel_class: type) -> None:
        from neuralkg_distil.methods.losses import DistillationLoss
        from neuralkg_distil.run.checks import resolve
        from neuralkg_distil.training.pretrain_system import PretrainLitModel

        super().check_flags(args, litmodel_class)
        loss_class = resolve("loss", args.loss_name, "--loss_name")
        if isinstance(loss_class, type) and issubclass(loss_class, DistillationLoss):
            raise ConfigError(f"--loss_name {args.loss_name} is a distillation loss; a pretraining ({args.litmodel_name}) "
                              "needs a NeuralKG loss such as Adv_Loss (or pass --teacher_ckpt to distil)")
        if args.neg_chunk_size and not issubclass(litmodel_class, PretrainLitModel):
            raise ConfigError(f"--neg_chunk_size needs --litmodel_name PretrainLitModel or KGDistillLitModel, not {args.litmodel_name}")

    def build_system(self, settings: Any, data: Any) -> System:
        from neuralkg_distil.kge.spec import ModelSpec, build_model, model_args

        args = settings.args
        spec = ModelSpec.from_args(args, data.num_ent, data.num_rel)
        margs = data.model_args(args)
        model = build_model(spec, margs)
        lit = settings.litmodel_class(model, model_args(spec, margs))
        config = {"kind": "pretrain", "models": {"model": spec.to_dict()}, "dataset_checksum": data.checksum,
                  "data_path": os.path.abspath(args.data_path)}
        if getattr(args, "init_ckpt", None) and settings.resume_checkpoint is None:
            _start_from(lit, args.init_ckpt)
        return System(lit, {"model": spec}, config)

    def callbacks(self, settings: Any, data: Any, system: System, checkpoint: Any, early_stop: Any) -> List[Any]:
        from neuralkg_distil.callbacks.stage_start import RunConfigCallback

        return [RunConfigCallback(system.config)]


def _start_from(lit: Any, path: str) -> None:
    """Pretraining from another run's weights (``--init_ckpt``), e.g. a low-rate fine-tuning phase."""
    from neuralkg_distil.checkpoint.files import check_fits, read_checkpoint

    start = read_checkpoint(path, "--init_ckpt checkpoint")
    check_fits(lit, start, path, "--init_ckpt checkpoint", prefixes=("model.",))
    lit.load_state_dict({k: v for k, v in start["state_dict"].items() if k.startswith("model.")}, strict=False)


class Distillation(TrainingKind):
    """A distillation stage: the method of ``--loss_name`` with its roles, phases and candidates."""

    name = "distil"
    distils = True

    def accepts(self, litmodel_class: type) -> bool:
        from neuralkg_distil.training.distill_system import KGDistillLitModel

        return issubclass(litmodel_class, KGDistillLitModel)

    def check_flags(self, args: argparse.Namespace, litmodel_class: type) -> None:
        from neuralkg_distil.kge.spec import model_class

        super().check_flags(args, litmodel_class)
        for name in str(getattr(args, "teacher_model", None) or "").split(","):
            if name.strip():
                model_class(name.strip())
        if getattr(args, "init_ckpt", None):
            raise ConfigError("--init_ckpt starts a pretraining from saved weights; distillation takes --student_ckpt")

    def stage(self, args: argparse.Namespace) -> Optional[int]:
        from neuralkg_distil.methods.roles import stage_of

        return stage_of(args)

    def stage_dir_name(self, stage: Optional[int]) -> str:
        return f"stage{stage}"

    def build_system(self, settings: Any, data: Any) -> System:
        from neuralkg_distil.methods.registry import resolve_method
        from neuralkg_distil.methods.roles import build_stage_models

        args = settings.args
        margs = data.model_args(args)
        method = resolve_method(getattr(args, "loss_name", None))
        models = build_stage_models(margs, data.num_ent, data.num_rel, data.checksum)
        method.check_teachers(len(models.teacher_specs))
        candidates = method.build_candidates(args, models.teacher, data.sampler.train_triples)
        lit = settings.litmodel_class(models.student, margs, models, dataset_checksum=data.checksum,
                                      candidates=candidates, method=method)
        if models.student_spec.emb_dim >= models.teacher_spec.emb_dim:
            warn(f"student dimension {models.student_spec.emb_dim} (--emb_dim) is not smaller than the "
                 f"teacher's {models.teacher_spec.emb_dim}: nothing is compressed")
        return System(lit, {"model": models.student_spec, **models.teacher_specs}, method=method)

    def callbacks(self, settings: Any, data: Any, system: System, checkpoint: Any, early_stop: Any) -> List[Any]:
        if settings.stage != 2 or settings.test_only:
            return []
        import torch

        from neuralkg_distil.callbacks.stage_start import KeepStartingPoint

        return [KeepStartingPoint(data.evaluator(settings.args), torch.tensor(data.sampler.valid_triples, dtype=torch.long),
                                  checkpoint, early_stop)]


# Asked in order: the first kind that accepts the lit model class.
KINDS: List[TrainingKind] = [Distillation(), Pretraining()]


def kind_of(litmodel_class: type) -> TrainingKind:
    """The kind of training ``litmodel_class`` runs."""
    return next(kind for kind in KINDS if kind.accepts(litmodel_class))
