"""IterDE (Liu et al., AAAI 2023): a chain of halving students, each the next one's frozen teacher,
with a soft weight that grows over each link's epochs.

Each link is a stage-1 training of the loss the flags choose (DistilE_Loss or DualDE_Loss); what
IterDE adds is the chain (``neuralkg-distil iterate``, and the ``IterDE`` arm of the experiment
grid) and the growing soft weight when no schedule is given.
"""
from __future__ import annotations

from typing import Any, Dict, List

from neuralkg_distil.errors import ConfigError
from neuralkg_distil.methods.base import DistillationMethod, STUDENT, TEACHER
from neuralkg_distil.methods.registry import register_method

# The paper's dynamic adjustment when no schedule is given: (epoch / 50) ** 2.
DEFAULT_SCHEDULE = {"soft_weight_schedule": "power", "soft_weight_warmup": 50}


def chain_dims(teacher_dim: int, student_dim: int) -> List[int]:
    """The chain's students: the teacher's dimension halved while above the student's, then the
    student's (64 -> 8: [32, 16, 8]; 64 -> 24: [32, 24])."""
    if student_dim >= teacher_dim:
        raise ConfigError(f"IterDE needs a student smaller than its teacher, got {teacher_dim} -> {student_dim}")
    dims, dim = [], teacher_dim // 2
    while dim > student_dim:
        dims.append(dim)
        dim //= 2
    return dims + [student_dim]


def _chain(plan: Any) -> Dict[str, Any]:
    """Stage-1 links from the teacher's dimension down to the student's (``link1``, ``link2``, ...)."""
    jobs: Dict[str, Any] = {"teacher": plan.teacher}
    previous = plan.teacher
    for i, dim in enumerate(chain_dims(plan.teacher_dim, plan.student_dim), start=1):
        previous = plan.link(dim, previous, DEFAULT_SCHEDULE)
        jobs[f"link{i}"] = previous
    jobs["result"] = previous
    return jobs


class IterDE(DistillationMethod):
    """Stage-1 links only (the teacher of each link stays frozen); the loss comes from --loss_name."""

    name = "IterDE"
    loss_class = None
    summary = "a chain of halving students, each distilled from the one before, soft weight growing"
    flags = ("soft_weight_schedule", "soft_weight_warmup", "soft_weight_power")
    subcommand = "iterate"
    roles = (STUDENT, TEACHER)
    arms = {"IterDE": _chain}


register_method(IterDE())
