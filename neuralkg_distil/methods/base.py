"""What a distillation method is: its roles, its phases, its loss, and what it adds to a run.

A method is a small strategy object, registered by name (:mod:`neuralkg_distil.methods.registry`).
The run builder and the training system ask it, and never branch on its name:

* ``roles``: the models of a run, by the name they carry in the training system and in the
  checkpoint (``model.*`` is the student, NeuralKG's own prefix; ``teacher.*`` the teacher);
* ``phases``: what each role does in each stage (the teacher is frozen in stage 1 and learns
  with the student in stage 2: a :class:`~neuralkg_distil.methods.teacher_policy.TeacherPolicy`);
* ``build_loss``: the loss over the roles' scores;
* ``build_candidates``: an optional candidate selector (the teacher's top-k per query);
* ``on_train_epoch_start``: a hook that sees the epoch (a soft weight that grows);
* ``max_teachers``, ``prepare`` and ``training_loss``: a method that takes several teachers (MulDE)
  says so, sizes its loss from the training system, and may compute a step's loss itself;
* ``arms``: the experiment-grid methods it provides (``DS``, ``-S1``, ``-S2``, ``IterDE``) and
  the jobs each needs.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, Mapping, Optional, Sequence, Tuple

from torch import nn

from neuralkg_distil.errors import ConfigError, warn
from neuralkg_distil.methods.losses.base import DistillationLoss
from neuralkg_distil.methods.teacher_policy import CoTrainedTeacher, FrozenTeacher, TeacherPolicy

# An experiment-grid arm: given a cell's job planner, the jobs it needs ("result" fills the cell).
Arm = Callable[[Any], Dict[str, Any]]


@dataclass(frozen=True)
class Role:
    """One model of a run: ``name`` is its attribute on the training system and its checkpoint prefix."""

    name: str
    kind: str  # "student" or "teacher"


@dataclass(frozen=True)
class Phase:
    """One training stage: what the teacher does in it."""

    name: str
    stage: int
    teacher: Callable[[argparse.Namespace], TeacherPolicy]


def _frozen(args: argparse.Namespace) -> TeacherPolicy:
    return FrozenTeacher(bf16=bool(getattr(args, "teacher_bf16", False)))


def _co_trained(args: argparse.Namespace) -> TeacherPolicy:
    return CoTrainedTeacher()


STUDENT = Role("model", "student")
TEACHER = Role("teacher", "teacher")
TWO_STAGES: Mapping[int, Phase] = {1: Phase("stage1", 1, _frozen), 2: Phase("stage2", 2, _co_trained)}
STAGE1_ONLY: Mapping[int, Phase] = {1: TWO_STAGES[1]}  # teachers frozen throughout (MulDE)


def _ds(plan: Any) -> Dict[str, Any]:
    stage1 = plan.stage1()
    return {"result": plan.stage2(stage1), "stage1": stage1, "teacher": plan.teacher}


def _without_stage2(plan: Any) -> Dict[str, Any]:
    return {"result": plan.stage1(), "teacher": plan.teacher}


def _without_stage1(plan: Any) -> Dict[str, Any]:
    # -S1 is a whole training in stage 2 (teacher unfrozen from the start): stage 1's budget and rate.
    return {"result": plan.stage2_from_scratch(), "teacher": plan.teacher}


# flags every distillation method takes: the stage, its models, the candidate and schedule terms
STAGE_FLAGS: Tuple[str, ...] = (
    "teacher_ckpt", "teacher_dim", "teacher_model", "stage", "student_ckpt", "student_init", "soft_weighting",
    "alpha", "beta", "teacher_topk", "kd_weight", "kd_loss", "kd_queries", "kd_temperature", "kd_transfer_queries",
    "kd_transfer_weight", "soft_weight_schedule", "soft_weight_warmup", "soft_weight_power", "soft_label_scale",
    "teacher_bf16",
)

TWO_STAGE_ARMS: Mapping[str, Arm] = {"DS": _ds, "-S1": _without_stage1, "-S2": _without_stage2}


class DistillationMethod:
    """A teacher distilled into a student over DistilE's two stages; subclasses pick the loss."""

    name: ClassVar[str] = ""
    loss_class: ClassVar[Optional[type]] = None
    summary: ClassVar[str] = ""
    roles: ClassVar[Tuple[Role, ...]] = (STUDENT, TEACHER)
    phases: ClassVar[Mapping[int, Phase]] = TWO_STAGES
    arms: ClassVar[Mapping[str, Arm]] = TWO_STAGE_ARMS
    # the flags that belong to this method (its docs page lists them, with STAGE_FLAGS)
    flags: ClassVar[Tuple[str, ...]] = ()
    subcommand: ClassVar[Optional[str]] = None  # a sub-command of its own (its flags go on the docs page too)

    max_teachers: ClassVar[Optional[int]] = 1  # None: any number (--teacher_ckpt a,b,...)

    def check_teachers(self, count: int) -> None:
        """A one-line error when ``--teacher_ckpt`` lists more teachers than the method takes."""
        if self.max_teachers is not None and count > self.max_teachers:
            raise ConfigError(f"--teacher_ckpt lists {count} checkpoints; {self.name} takes {self.max_teachers} teacher"
                              f"{'' if self.max_teachers == 1 else 's'} (MulDE_Loss takes several)")

    def prepare(self, system: Any) -> None:
        """Set the method's state up from the built training system (its teachers, the relation count)."""

    def training_loss(self, system: Any, batch: Dict[str, Any]) -> Optional[Tuple[Any, Dict[str, Any]]]:
        """``(loss, scores to check for finiteness)`` of one training step when the method computes it
        itself, or None: the system's own step (the loss over the batch's student and teacher scores)."""
        return None

    def phase(self, stage: int) -> Phase:
        """The phase of ``stage``; a one-line error for a stage the method does not have."""
        if stage not in self.phases:
            raise ConfigError(f"{self.name} has stages {', '.join(map(str, self.phases))}, not {stage}")
        return self.phases[stage]

    def teacher_policy(self, stage: int, args: argparse.Namespace) -> TeacherPolicy:
        """What the teacher does in ``stage``."""
        return self.phase(stage).teacher(args)

    def build_loss(self, args: argparse.Namespace) -> DistillationLoss:
        """The loss over the student's and the teacher's scores."""
        if self.loss_class is None:
            raise ConfigError(f"method {self.name} has no loss of its own; pass --loss_name DistilE_Loss or DualDE_Loss")
        return self.loss_class(args)

    def build_candidates(self, args: argparse.Namespace, teacher: nn.Module, train_triples: Sequence[Any]) -> Any:
        """The teacher's top-k table for the candidate term (``--teacher_topk``), or None when off.

        A frozen teacher's table is the same for every student, so it is cached beside its checkpoint.
        """
        k = int(getattr(args, "teacher_topk", 0) or 0)
        if k <= 0:
            return None
        from neuralkg_distil.methods.candidates import CandidateTable

        queries = getattr(args, "kd_queries", "train") or "train"
        cache, signature = _candidate_cache(args, teacher, k, queries)
        table = CandidateTable.load(cache, signature) if cache is not None else None
        if table is not None:
            print(f"teacher candidates: top {k} read from {cache}")
            return table
        table = CandidateTable.from_model(teacher, train_triples, k, queries=queries, progress=print)
        if cache is not None:
            try:
                table.save(cache, signature)
            except OSError as exc:  # a read-only teacher folder: the table is only rebuilt next time
                warn(f"could not cache the teacher candidates at {cache}: {exc}")
        return table

    def on_train_epoch_start(self, loss: DistillationLoss, epoch: int) -> Dict[str, float]:
        """Apply the soft-weight schedule for ``epoch``; returns what to log (nothing when constant)."""
        scale = loss.set_epoch(epoch)
        return {} if loss.schedule.kind == "constant" else {"soft_weight_scale": scale}

    def checkpoint_entry(self, loss: DistillationLoss) -> Dict[str, Any]:
        """What a checkpoint records of the method and its loss."""
        return {"method": self.name, "loss": {"name": type(loss).__name__, "weighting": loss.weighting_kind,
                                              "family": loss.family}}


def _candidate_cache(args: argparse.Namespace, teacher: nn.Module, k: int, queries: str) -> Tuple[Optional[Path], Optional[str]]:
    """Where a teacher checkpoint's top-k table is cached, and the signature that must match."""
    if not getattr(args, "teacher_ckpt", None):
        return None, None
    source = Path(str(args.teacher_ckpt).split(",")[0])
    stat = source.stat()
    cache = source.with_name(f"{source.name}.top{k}-{queries}.candidates")
    signature = f"{stat.st_size}-{stat.st_mtime_ns}-{k}-{queries}-{teacher.args.num_ent}-{teacher.args.num_rel}"
    return cache, signature
