"""The common frame of DistilE and DualDE: student terms, and in stage 2 the teacher's mirror terms."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from typing import Any, Dict, Optional, Tuple

from torch import Tensor, nn

from neuralkg_distil.errors import ConfigError
from neuralkg_distil.kge.adapter import MARGIN_MINUS_SUM, SUM, adapter_for
from neuralkg_distil.methods.losses.families import MARGIN, family_of
from neuralkg_distil.methods.losses.listwise import CANDIDATE_LOSSES
from neuralkg_distil.methods.losses.schedule import SoftWeightSchedule
from neuralkg_distil.methods.losses.structure import structure_distance
from neuralkg_distil.methods.losses.terms import ElementTerms, Scores, combine, weighted_mean
from neuralkg_distil.methods.losses.weighting import make_weighting


SOFT_LABEL_SCALES = ("none", "dim")


@dataclass
class LossSettings:
    """Everything a distillation loss needs; read once from NeuralKG-style args, never written back."""

    model_name: str = "TransE"
    distil_family: Optional[str] = None  # None / "auto": chosen from model_name
    alpha: float = 0.5  # student's soft weight (fixed weighting)
    beta: float = 0.5  # teacher's soft weight in stage 2 (fixed weighting)
    soft_weighting: Optional[str] = None  # None: the loss's own default
    rank_margin: float = 1.0  # gamma of the margin ranking loss
    adv_temp: float = 1.0
    negative_adversarial_sampling: bool = True
    structure_weight: float = 0.0
    soft_distance: Optional[str] = None  # DualDE: "smoothl1" (the paper's) or "bce"
    distil_adversarial: bool = False  # DistilE, CE family: self-adversarial weights on the negatives
    kd_weight: float = 1.0  # weight of the listwise term over the teacher's candidates (--teacher_topk)
    kd_temperature: float = 1.0
    kd_loss: str = "kl"  # how the candidates' soft labels are matched: listwise "kl" or pointwise "bce"
    kd_transfer_weight: float = 1.0  # weight of the same term on random queries of the table (--kd_transfer_queries)
    soft_weight_schedule: str = "constant"  # how the soft weights grow over the epochs (losses/schedule.py)
    soft_weight_warmup: int = 0
    soft_weight_power: float = 2.0
    soft_label_scale: str = "none"  # "dim": the label model's distances expressed at the learner's dimension

    @classmethod
    def from_args(cls, args: Optional[argparse.Namespace], **overrides: Any) -> "LossSettings":
        values: Dict[str, Any] = {}
        for f in fields(cls):
            if args is not None and getattr(args, f.name, None) is not None:
                values[f.name] = getattr(args, f.name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        for name in ("alpha", "beta"):
            value = getattr(settings, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"--{name} must lie in [0, 1], got {value}")
        if settings.soft_distance not in (None, "smoothl1", "bce"):
            raise ConfigError(f"--soft_distance must be smoothl1 or bce, got {settings.soft_distance!r}")
        if settings.structure_weight < 0:
            raise ConfigError(f"--structure_weight must be >= 0, got {settings.structure_weight}")
        for name in ("kd_weight", "kd_transfer_weight"):
            if getattr(settings, name) < 0:
                raise ConfigError(f"--{name} must be >= 0, got {getattr(settings, name)}")
        if settings.kd_loss not in CANDIDATE_LOSSES:
            raise ConfigError(f"--kd_loss must be one of {', '.join(CANDIDATE_LOSSES)}, got {settings.kd_loss!r}")
        if settings.kd_temperature <= 0:
            raise ConfigError(f"--kd_temperature must be > 0, got {settings.kd_temperature}")
        SoftWeightSchedule(settings.soft_weight_schedule, settings.soft_weight_warmup, settings.soft_weight_power)
        if settings.soft_label_scale not in SOFT_LABEL_SCALES:
            raise ConfigError(f"--soft_label_scale must be one of {', '.join(SOFT_LABEL_SCALES)}, got {settings.soft_label_scale!r}")
        return settings


@dataclass(frozen=True)
class EntityPairs:
    """Head and tail entity vectors of the positive triples, for the structure term."""

    head: Tensor
    tail: Tensor

    def clone(self) -> "EntityPairs":
        return EntityPairs(self.head.clone(), self.tail.clone())


class DistillationLoss(nn.Module):
    """Base class: subclasses define :meth:`element_terms`; this class weighs and mirrors them.

    Call with student and teacher :class:`Scores` on the same positives and negatives. Stage 1
    returns the student's loss; stage 2 adds the teacher's mirror loss, in which the student's
    scores are the soft labels. Soft labels are always detached, so each model only learns
    from its own terms. Constructible as ``cls(args, model)`` like NeuralKG's losses; ``model``
    is accepted for that signature and ignored.
    """

    default_weighting = "fixed"
    soft_weight_flag = "alpha"  # the flag of the student's soft weight (the results' alpha column)
    learns_with_models = False  # True: the loss's own parameters (MulDE's senior) train at --lr, not --gate_lr

    def __init__(self, args: Optional[argparse.Namespace] = None, model: Optional[nn.Module] = None, **overrides: Any):
        super().__init__()
        self.settings = LossSettings.from_args(args, **overrides)
        self.family = family_of(self.settings.model_name, self.settings.distil_family)
        kind = self.settings.soft_weighting or self.default_weighting
        self.weighting_kind = kind
        self.student_weighting = make_weighting(kind, self.settings.alpha)
        self.teacher_weighting = make_weighting(kind, self.settings.beta)
        self.mean_soft_weights: Dict[int, Tuple[Tensor, Tensor]] = {}
        s = self.settings
        self.schedule = SoftWeightSchedule(s.soft_weight_schedule, s.soft_weight_warmup, s.soft_weight_power)
        self.soft_scale = self.schedule.factor(0)  # the current epoch's factor (set_epoch)
        # (a, b) per side: the soft term sees a * label + b (set_models; identity until then)
        self.label_maps: Dict[str, Tuple[float, float]] = {}

    def set_models(self, student: Any, teacher: Any) -> None:
        """Tell the loss the two models' specs (``model_name``, ``emb_dim``, ``margin``), for
        ``--soft_label_scale dim``.

        Scores are sums over coordinates, so their scale grows with the dimension: a distance
        model scores ``gamma - d(h, r, t)`` with ``d`` summed over its coordinates (a 64-dim
        teacher's distances are about 64 / 16 times a 16-dim student's), a bilinear model a sum of
        per-coordinate products. Matching them raw makes the student inflate its embeddings. With
        ``dim`` the label model's scores are rescaled to the learner's dimension first:
        ``f' = gamma_L - (gamma_label - f) * d_L / d_label`` for distance models, ``f' = f * d_L /
        d_label`` for bilinear ones (a softmax / sigmoid temperature of d_label / d_L).
        """
        if self.settings.soft_label_scale != "dim":
            return
        forms = {spec.model_name: adapter_for(spec.model_name).score_form for spec in (student, teacher)}
        unknown = [name for name, form in forms.items() if form not in (MARGIN_MINUS_SUM, SUM)]
        if unknown:
            raise ConfigError(f"--soft_label_scale dim needs scores summed over coordinates; {unknown[0]}'s adapter "
                              "does not declare its score_form (use --soft_label_scale none)")
        if len(set(forms.values())) > 1:
            raise ConfigError("--soft_label_scale dim: the student and the teacher score differently "
                              f"({', '.join(f'{n}: {f}' for n, f in forms.items())}); use --soft_label_scale none")

        def offset(spec: Any) -> float:
            return float(spec.margin) if forms[spec.model_name] == MARGIN_MINUS_SUM else 0.0

        def mapping(learner: Any, label: Any) -> Tuple[float, float]:
            a = float(learner.emb_dim) / float(label.emb_dim)
            return a, offset(learner) - offset(label) * a

        self.label_maps = {"student": mapping(student, teacher), "teacher": mapping(teacher, student)}

    def set_epoch(self, epoch: int) -> float:
        """Apply the soft-weight schedule for ``epoch`` (called at each epoch's start); returns its factor."""
        self.soft_scale = self.schedule.factor(epoch)
        return self.soft_scale

    def element_terms(self, learner: Scores, label: Scores) -> ElementTerms:
        raise NotImplementedError

    def side_loss(
        self,
        learner: Scores,
        label: Scores,
        weighting: nn.Module,
        sample_weight: Optional[Tensor],
        learner_pairs: Optional[EntityPairs],
        label_pairs: Optional[EntityPairs],
        side: str = "student",
    ) -> Tensor:
        """One model's loss against the other's soft labels."""
        terms = self.element_terms(learner, _mapped(label.detach(), self.label_maps.get(side)))
        w_pos, w_neg = weighting(label)
        if self.soft_scale != 1.0:
            w_pos, w_neg = w_pos * self.soft_scale, w_neg * self.soft_scale
        # kept as tensors (no device sync) for the per-epoch log of how much each side trusts its labels
        self.mean_soft_weights[id(weighting)] = (w_pos.detach().mean(), w_neg.detach().mean())
        loss = combine(terms, w_pos, w_neg, sample_weight, learner.neg_mask)
        gate_loss = weighting.aux_loss(label, label.neg_mask)
        if gate_loss is not None:  # trains only the weighting's own parameters (label is detached)
            loss = loss + gate_loss
        if self.settings.structure_weight > 0:
            if learner_pairs is None or label_pairs is None:
                raise ConfigError("--structure_weight > 0 needs the entity vectors of both models")
            structure = structure_distance(learner_pairs.head, learner_pairs.tail, label_pairs.head, label_pairs.tail)
            loss = loss + self.settings.structure_weight * weighted_mean(structure, sample_weight)
        return loss

    def forward(
        self,
        student: Scores,
        teacher: Scores,
        stage: int = 1,
        subsampling_weight: Optional[Tensor] = None,
        student_pairs: Optional[EntityPairs] = None,
        teacher_pairs: Optional[EntityPairs] = None,
        negative_mask: Optional[Tensor] = None,
    ) -> Tensor:
        """``negative_mask`` (B, K): negatives that are true triples (the batch's filter of shared
        negatives); they get weight 0 on both sides. Scores that already carry a mask keep it."""
        if stage not in (1, 2):
            raise ConfigError(f"stage must be 1 or 2, got {stage}")
        self.mean_soft_weights = {}
        student, teacher = student.with_mask(negative_mask), teacher.with_mask(negative_mask)
        loss = self.side_loss(student, teacher, self.student_weighting, subsampling_weight, student_pairs, teacher_pairs)
        if stage == 2:
            teacher_loss = self.side_loss(
                teacher, student, self.teacher_weighting, subsampling_weight, teacher_pairs, student_pairs, side="teacher"
            )
            loss = loss + teacher_loss
        return loss

    def listwise_loss(
        self, learner: Tensor, label: Tensor, mask: Optional[Tensor] = None, sample_weight: Optional[Tensor] = None,
        weight: Optional[float] = None,
    ) -> Tensor:
        """``kd_weight`` times the mean candidate term (``--kd_loss``: listwise KL or pointwise BCE) of the
        learner's (B, C) candidate scores against the label model's (detached): the term that carries the
        teacher's view of a query's plausible answers. The learner is the student: with
        ``--soft_label_scale dim`` the teacher's scores are on the student's scale here too."""
        mapping = self.label_maps.get("student")
        if mapping is not None:
            label = label * mapping[0] + mapping[1]
        kl = CANDIDATE_LOSSES[self.settings.kd_loss](learner, label, self.settings.kd_temperature, mask)
        weight = self.settings.kd_weight if weight is None else weight
        return self.soft_scale * weight * weighted_mean(kl, sample_weight)

    def soft_weight_log(self) -> Dict[str, Tensor]:
        """Mean soft weights of the last call, per side: ``{"student_pos": ..., "student_neg": ..., ...}``."""
        out: Dict[str, Tensor] = {}
        for side, weighting in (("student", self.student_weighting), ("teacher", self.teacher_weighting)):
            means = self.mean_soft_weights.get(id(weighting))
            if means is not None:
                out[f"{side}_pos"], out[f"{side}_neg"] = means
        return out

    def extra_repr(self) -> str:
        return f"family={self.family}, weighting={self.weighting_kind}"


def _mapped(label: Scores, mapping: Optional[Tuple[float, float]]) -> Scores:
    """``a * label + b`` (the label model's scores on the learner's scale), or the label itself."""
    if mapping is None:
        return label
    a, b = mapping
    return Scores(label.pos * a + b, label.neg * a + b, label.neg_mask)
