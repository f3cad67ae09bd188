"""Listwise soft labels: the teacher's distribution over a query's candidates, matched by KL.

Pointwise soft labels (DistilE's |f_T - f_S| or BCE on sigma(f_T)) compare each score with the
teacher's on its own; a listwise term compares the *order*: over the candidates of one query
(the positive, its negatives and the teacher's top-k, :mod:`neuralkg_distil.methods.candidates`),
KL(softmax(f_T / T) || softmax(f_S / T)) * T^2, the usual knowledge-distillation term (Hinton
et al.; MulDE's soft loss). It only asks the student to reproduce score *differences*, so a small
student need not reach the teacher's score scale.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from neuralkg_distil.errors import ConfigError


def listwise_kl(learner: Tensor, label: Tensor, temperature: float = 1.0, mask: Optional[Tensor] = None) -> Tensor:
    """Per-row KL(softmax(label / T) || softmax(learner / T)) * T^2: (B, C) logits -> (B,).

    ``mask`` (B, C) bool: candidates left out of both distributions (a row with every entry masked
    gives 0). ``label`` is detached.
    """
    if temperature <= 0:
        raise ConfigError(f"--kd_temperature must be > 0, got {temperature}")
    learner, label = learner / temperature, label.detach() / temperature
    if mask is not None:
        # a finite stand-in for -inf: softmax gives it exactly 0, and an all-masked row stays finite
        low = torch.finfo(learner.dtype).min / 4
        learner = learner.masked_fill(mask, low)
        label = label.masked_fill(mask, low)
    log_q = torch.log_softmax(learner, dim=1)
    log_p = torch.log_softmax(label, dim=1)
    p = log_p.exp()
    terms = p * (log_p - log_q)
    if mask is not None:
        terms = terms.masked_fill(mask, 0.0)
    return terms.sum(dim=1) * temperature**2


def candidate_bce(learner: Tensor, label: Tensor, temperature: float = 1.0, mask: Optional[Tensor] = None) -> Tensor:
    """Per-row mean of the pointwise soft-label BCE, -[p log sigma(f) + (1 - p) log(1 - sigma(f))] with
    p = sigma(f_label), over a query's unmasked candidates: (B, C) -> (B,). Unlike the KL, a candidate's
    soft label does not compete with the gold's: the teacher can call both likely. ``temperature`` is
    accepted for the same signature and not used."""
    import torch.nn.functional as F

    terms = F.binary_cross_entropy_with_logits(learner, torch.sigmoid(label.detach()), reduction="none")
    if mask is None:
        return terms.mean(dim=1)
    keep = (~mask).to(terms.dtype)
    return (terms * keep).sum(dim=1) / keep.sum(dim=1).clamp_min(1.0)


# --kd_loss choices: how the candidates' soft labels are matched
CANDIDATE_LOSSES = {"kl": listwise_kl, "bce": candidate_bce}
