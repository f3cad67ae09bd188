"""MulDE's loss (Wang et al., WWW 2021): a senior module merges several frozen teachers' scores on the
junior's top-K candidates into one soft label.

Per query (``(h, r, ?)`` or ``(?, r, t)``), over the junior's candidates C (docs/METHOD.md section 3):

* relation-specific scaling: ``s_i' = sigmoid(W[q, i]) * s_i(C)``, ``W`` a ``(2|R|, m)`` matrix
  initialised to 1 (row ``q`` = relation and corruption side), trained by the senior loss;
* contrastive attention: ``d_i = KL(softmax(z_C) || softmax(s_i'))``,
  ``a = softmax_i(-d_i / tau)``, ``tau = exp(min(floor(epoch / every), TAU_EXPONENT_CAP))``: early
  on the teachers that agree with the junior dominate, later all count alike; computed without
  gradient (it weighs, it is not trained);
* soft label ``s* = sum_i a_i s_i'``; senior loss ``BCE-with-logits(s*, y_C)``;
* junior: ``L_hard + lambda * T^2 * KL(softmax(s*/T) || softmax(z_C/T))`` (``s*`` detached).

``L_hard`` (``--mulde_hard_loss``): ``adv`` (default) is the loss a no-DS student of the recipe trains
with, NeuralKG's ``Adv_Loss`` without its N3 term: ``(-log sigma(f(pos)) - sum_j w_j log sigma(-f(neg_j))) / 2``,
``w`` self-adversarial under ``--negative_adversarial_sampling`` (temperature ``--adv_temp``), else
uniform. So MulDE differs from no-DS by its soft and senior terms only: with the release's ``bce``
(one BCE over [gold, N negatives] with labels [1, 0, ...], the positive weighing 1 / (N + 1)) a RotH-32
on UMLS ended at 0.847 test MRR with the soft weight at 0, against 0.899 for the same model trained
directly with ``Adv_Loss`` (docs/methods/MulDE.md), a gap in the hard loss, not in distillation.
"""
from __future__ import annotations

import argparse
import math
from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralkg_distil.errors import ConfigError
from neuralkg_distil.methods.losses.base import DistillationLoss
from neuralkg_distil.methods.losses.hard import logistic
from neuralkg_distil.methods.losses.listwise import listwise_kl
from neuralkg_distil.methods.losses.terms import Scores, adversarial_neg_weights, uniform_neg_weights, weighted_mean

# exp(20) ~ 4.9e8: the attention is uniform to float precision long before, and exp never overflows
TAU_EXPONENT_CAP = 20
HARD_LOSSES = ("adv", "bce")


def attention_temperature(epoch: int, every: int = 5, cap: int = TAU_EXPONENT_CAP) -> float:
    """``tau = exp(min(floor(epoch / every), cap))`` (the release's exp(epoch // 5), capped)."""
    return math.exp(min(int(epoch) // max(1, int(every)), cap))


def relation_scaling(weights: Tensor, index: Tensor, teacher_scores: Tensor) -> Tensor:
    """``sigmoid(W[index])`` per teacher times its scores: ``(m, B, K)`` -> ``(m, B, K)``."""
    return torch.sigmoid(weights[index]).T.unsqueeze(-1) * teacher_scores


def _kl_rows(p_logits: Tensor, q_logits: Tensor) -> Tensor:
    """``KL(softmax(p) || softmax(q))`` per row (last dimension), finite for any finite logits."""
    log_p, log_q = torch.log_softmax(p_logits, dim=-1), torch.log_softmax(q_logits, dim=-1)
    terms = log_p.exp() * (log_p - log_q)
    terms = torch.where(log_p.exp() > 0, terms, torch.zeros_like(terms))  # 0 * log 0 is 0, not NaN
    return torch.nan_to_num(terms, nan=0.0, posinf=torch.finfo(terms.dtype).max / 4).sum(-1)


def contrastive_attention(junior: Tensor, scaled: Tensor, tau: float) -> Tensor:
    """``a = softmax_i(-KL(softmax(z) || softmax(s_i')) / tau)``: ``(B, K)``, ``(m, B, K)`` -> ``(B, m)``,
    without gradient."""
    with torch.no_grad():
        d = _kl_rows(junior.detach().unsqueeze(0), scaled.detach())  # (m, B)
        d = torch.nan_to_num(d, nan=0.0, posinf=torch.finfo(d.dtype).max / 4).clamp_min(0)
        return torch.softmax(-d.T / tau, dim=-1)


class MulDE_Loss(DistillationLoss):  # noqa: N801 (NeuralKG's loss names)
    """The junior's hard loss (``forward``) and MulDE's senior and soft terms (:meth:`candidate_terms`)."""

    learns_with_models = True  # the senior's scaling learns at --lr with the junior (the release's one Adam)
    soft_weight_flag = "mulde_soft_weight"  # the weight the results' alpha column reports

    def __init__(self, args: Optional[argparse.Namespace] = None, model: Optional[nn.Module] = None, **overrides: Any):
        own = {k: overrides.pop(k) for k in list(overrides) if k.startswith("mulde_")}
        super().__init__(args, model, **overrides)

        def value(name: str, default: Any) -> Any:
            given = own.get(name, getattr(args, name, None))
            return default if given is None else given

        self.topk = int(value("mulde_topk", 500))
        self.soft_weight = float(value("mulde_soft_weight", 0.5))
        self.temperature = float(value("mulde_temperature", 1.0))
        self.tau_epochs = int(value("mulde_tau_epochs", 5))
        self.hard_loss = str(value("mulde_hard_loss", "adv"))
        if self.hard_loss not in HARD_LOSSES:
            raise ConfigError(f"--mulde_hard_loss must be one of {', '.join(HARD_LOSSES)}, got {self.hard_loss!r}")
        for flag, bad in (("mulde_topk", self.topk <= 0), ("mulde_soft_weight", self.soft_weight < 0),
                          ("mulde_temperature", self.temperature <= 0), ("mulde_tau_epochs", self.tau_epochs <= 0)):
            if bad:
                sign = ">= 0" if flag == "mulde_soft_weight" else "> 0"
                raise ConfigError(f"--{flag} must be {sign}, got {getattr(self, flag[len('mulde_'):])}")
        self.epoch = 0
        self.scaling: Optional[nn.Parameter] = None  # (2 |R|, m), sized by build_senior

    def build_senior(self, num_rel: int, num_teachers: int) -> None:
        """The relation-specific scaling ``W`` (one row per relation and side), all ones."""
        self.scaling = nn.Parameter(torch.ones(2 * num_rel, num_teachers))

    def set_epoch(self, epoch: int) -> float:
        self.epoch = int(epoch)
        return super().set_epoch(epoch)

    @property
    def tau(self) -> float:
        return attention_temperature(self.epoch, self.tau_epochs)

    def forward(self, student: Scores, teacher: Optional[Scores] = None, stage: int = 1,
                subsampling_weight: Optional[Tensor] = None, *unused: Any, negative_mask: Optional[Tensor] = None,
                **ignored: Any) -> Tensor:
        """The junior's hard loss (``--mulde_hard_loss``); masked negatives (true triples among shared
        ones) weigh 0. The teacher's scores are not used here."""
        mask = None if negative_mask is None else negative_mask.reshape(student.neg.shape).to(torch.bool)
        if self.hard_loss == "adv":
            return self._adversarial(student, mask, subsampling_weight)
        logits = torch.cat([student.pos.reshape(-1, 1), student.neg], dim=1)
        labels = torch.zeros_like(logits)
        labels[:, 0] = 1
        keep = torch.ones_like(logits)
        if mask is not None:
            keep[:, 1:] = (~mask).to(logits.dtype)
        terms = F.binary_cross_entropy_with_logits(logits, labels, reduction="none") * keep
        rows = terms.sum(1) / keep.sum(1)
        return weighted_mean(rows, subsampling_weight)

    def _adversarial(self, student: Scores, mask: Optional[Tensor], subsampling_weight: Optional[Tensor]) -> Tensor:
        """NeuralKG's Adv_Loss (without regularisation): the positive's and the weighted negatives'
        logistic terms, averaged."""
        pos_terms, neg_terms = logistic(student.pos.reshape(-1), student.neg)
        s = self.settings
        if s.negative_adversarial_sampling:
            weights = adversarial_neg_weights(student.neg, s.adv_temp, mask)
        else:
            weights = uniform_neg_weights(student.neg, mask)
        rows = (pos_terms + (weights * neg_terms).sum(1)) / 2
        return weighted_mean(rows, subsampling_weight)

    def candidate_terms(self, junior: Tensor, teachers: Tensor, labels: Tensor, index: Tensor) -> Dict[str, Tensor]:
        """``senior`` (trains W) and ``soft`` (trains the junior) over the candidates, plus the mean
        ``attention`` per teacher: ``junior`` (B, K) with gradient, ``teachers`` (m, B, K) detached,
        ``labels`` (B, K) 0/1, ``index`` (B,) rows of W."""
        if self.scaling is None:
            raise ConfigError("MulDE_Loss has no senior yet: build_senior(num_rel, num_teachers) first")
        scaled = relation_scaling(self.scaling, index, teachers.detach())
        attention = contrastive_attention(junior, scaled, self.tau)  # (B, m)
        senior = (attention.T.unsqueeze(-1) * scaled).sum(0)  # s*: (B, K)
        senior_loss = F.binary_cross_entropy_with_logits(senior, labels.to(senior.dtype))
        soft = listwise_kl(junior, senior.detach(), self.temperature).mean()
        return {"senior": senior_loss, "soft": self.soft_scale * self.soft_weight * soft,
                "attention": attention.mean(0)}

    def extra_repr(self) -> str:
        return f"topk={self.topk}, soft_weight={self.soft_weight}, temperature={self.temperature}, hard={self.hard_loss}"
