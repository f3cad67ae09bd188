"""MulDE (Wang et al., WWW 2021): several low-dimensional frozen teachers, merged per query by a
senior module into the soft label of a junior (the student); ``--loss_name MulDE_Loss`` with
``--teacher_ckpt a.ckpt,b.ckpt,...``. The loss and its parts: :mod:`neuralkg_distil.methods.losses.mulde`.

Each training step, for every row of the batch (docs/METHOD.md section 3):

1. the junior scores every entity for the row's query with its fast all-entity scorer, without
   gradient, and keeps its top ``--mulde_topk`` (C); ``y_C`` marks the gold answer among them;
2. the junior (with gradient) and every teacher (frozen, batched through the fast training scorers)
   score C;
3. the senior scales and attends (its scaling ``W`` learns on ``y_C``), and the junior learns from
   its hard loss plus the KL to the senior's soft label.

Both directions instead of reciprocal relations. The release doubles the relations (``r^-1``) and
predicts tails only. Here every part of the stack (NeuralKG's models and samplers, the evaluator,
and teachers pretrained by NeuralKG on |R| relations, which have no ``r^-1`` to score) works with
|R| relations and both corruption sides, so MulDE does too: head-batch rows take the query
``(?, r, t)`` and their candidates come from the junior's all-entity head scores. The senior keeps
the release's ``2|R|`` rows of ``W``: row ``r`` for tail queries, ``|R| + r`` for head queries, which
is where the release's reciprocal relation ``r^-1`` would sit.

One stage: the teachers stay frozen throughout (``max_teachers`` is unbounded). The experiment grid's
``MulDE`` arm pretrains one teacher per model of ``arms: {MulDE: {teachers: [...]}}`` (default
:data:`DEFAULT_TEACHERS`) at the cell's teacher dimension, the same jobs as those models' ``teacher``
cells, and distils them into the cell's model at the student dimension.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch

from neuralkg_distil.errors import ConfigError
from neuralkg_distil.methods.base import STAGE1_ONLY, DistillationMethod
from neuralkg_distil.methods.losses.mulde import MulDE_Loss
from neuralkg_distil.methods.registry import register_method


def junior_candidates(model: torch.nn.Module, pos: torch.Tensor, mode: str, k: int) -> torch.Tensor:
    """The ``k`` entities ``model`` ranks highest for each row's query (``(B, k)``, best first), over all
    entities by its fast scorer without gradient (a RotH junior on the CPU: fused, no score matrix)."""
    from neuralkg_distil.kge.scoring import scorer_for

    scorer = scorer_for(model)
    with torch.no_grad():
        if mode == "head-batch":
            return scorer.topk_heads(pos[:, 1], pos[:, 2], k)[1]
        return scorer.topk_tails(pos[:, 0], pos[:, 1], k)[1]


# The four NeuralKG-side families: translational, bilinear, rotational and hyperbolic.
DEFAULT_TEACHERS: Tuple[str, ...] = ("TransE", "ComplEx", "RotatE", "RotH")
# The file's stage-1 flags (DistilE's alpha, schedules) stay and MulDE_Loss ignores them; the loss is forced.
ARM_LOSS = {"loss_name": "MulDE_Loss"}


def teacher_models(plan: Any) -> List[str]:
    """The models of the MulDE arm's teachers: ``arms.MulDE.teachers`` of the file, or the default."""
    models = plan.option("teachers", list(DEFAULT_TEACHERS))
    if not isinstance(models, (list, tuple)) or not models or not all(isinstance(m, str) and m for m in models):
        raise ConfigError(f"arms.MulDE.teachers must be a non-empty list of model names, got {models!r}")
    if len(set(models)) != len(models):
        raise ConfigError(f"arms.MulDE.teachers lists a model twice: {', '.join(models)}")
    return list(models)


def _arm(plan: Any) -> Dict[str, Any]:
    """One pretrained teacher per model (roles ``teacher``, ``teacher2``, ...), one stage-1 junior."""
    models = teacher_models(plan)
    teachers = {("teacher" if i == 0 else f"teacher{i + 1}"): plan.teacher_of(m) for i, m in enumerate(models)}
    junior = plan.distil(teachers, {**ARM_LOSS, "teacher_model": ",".join(models)})
    return {**teachers, "result": junior}


class MulDE(DistillationMethod):
    """Frozen teachers, a senior that merges them per query, a junior that learns from it; MulDE_Loss."""

    name = "MulDE"
    loss_class = MulDE_Loss
    summary = "several frozen teachers on the junior's top-K, merged by relation scaling and contrastive attention"
    phases = STAGE1_ONLY
    arms: Dict[str, Any] = {"MulDE": _arm}
    max_teachers = None
    flags = ("teacher_model", "mulde_topk", "mulde_soft_weight", "mulde_temperature", "mulde_tau_epochs", "mulde_hard_loss")

    def prepare(self, system: Any) -> None:
        """Size the senior (``2|R| x m``) and check ``--mulde_topk`` against the entity count."""
        num_ent, num_rel = int(system.student_spec.num_ent), int(system.student_spec.num_rel)
        if not 0 < system.loss.topk < num_ent:
            raise ConfigError(f"--mulde_topk must lie in 1..{num_ent - 1} (the entity count less one), got {system.loss.topk}")
        system.loss.build_senior(num_rel, len(system.teacher_specs))

    def training_loss(self, system: Any, batch: Dict[str, Any]) -> Optional[Tuple[torch.Tensor, Dict[str, torch.Tensor]]]:
        """Hard + senior + soft loss of one batch; the scores the finiteness guard checks."""
        pos, mode = batch["positive_sample"], batch["mode"]
        weight = batch.get("subsampling_weight") if system.use_weight else None
        student = system.train_scorer(system.model, batch)
        hard = system.loss(student, None, 1, weight, negative_mask=batch.get("negative_mask"))
        cand = junior_candidates(system.model, pos, mode, system.loss.topk)
        extra = {"positive_sample": pos, "negative_sample": cand, "mode": mode}
        junior = system.train_scorer(system.model, extra).neg
        with system.policy.scoring():
            scores = [system.train_scorer(teacher, extra).neg for teacher in system.teachers]
        teachers = torch.stack(scores).to(junior.dtype).clone()  # out of inference mode
        head = mode == "head-batch"
        answer = pos[:, 0] if head else pos[:, 2]
        index = pos[:, 1] + (int(system.student_spec.num_rel) if head else 0)
        terms = system.loss.candidate_terms(junior, teachers, (cand == answer.unsqueeze(1)).to(junior.dtype), index)
        if system._trainer is not None:  # noqa: SLF001 (Lightning's own attribute: log only inside a fit)
            system.log("Train|mulde_senior", terms["senior"].detach(), on_step=False, on_epoch=True)
            system.log("Train|mulde_soft", terms["soft"].detach(), on_step=False, on_epoch=True)
            for i, a in enumerate(terms["attention"].tolist()):
                system.log(f"Train|mulde_attention_{i + 1}", a, on_step=False, on_epoch=True)
        loss = hard + terms["senior"] + terms["soft"]
        return loss, {"student": torch.cat([student.pos.reshape(-1), student.neg.reshape(-1), junior.reshape(-1)]),
                      "teacher": teachers.reshape(-1)}

    def checkpoint_entry(self, loss: MulDE_Loss) -> Dict[str, Any]:
        """The base entry plus MulDE's settings."""
        entry = super().checkpoint_entry(loss)
        entry["mulde"] = {"topk": loss.topk, "soft_weight": loss.soft_weight, "temperature": loss.temperature,
                          "tau_epochs": loss.tau_epochs}
        return entry


register_method(MulDE())
