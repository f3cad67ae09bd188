"""How much each element trusts its soft label: a fixed weight, DualDE's published learnable sigmoids,
or the same sigmoids calibrated against the true labels.

A weighting maps the label model's (detached) scores to soft weights ``w`` (hard weight ``1 - w``)
and may add an auxiliary loss that trains its own parameters (:meth:`aux_loss`).
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralkg_distil.errors import ConfigError
from neuralkg_distil.methods.losses.terms import Scores

WEIGHTINGS = ("fixed", "adaptive", "calibrated")


class LearnableSigmoid(nn.Module):
    """g(x) = 1 / (1 + exp(-a (x + b))), with a = 1 and b = 0 at the start (DualDE's gate)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.ones(1))
        self.b = nn.Parameter(torch.zeros(1))

    def logits(self, x: Tensor) -> Tensor:
        return self.a * (x + self.b)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(x))


class PositiveSlopeSigmoid(nn.Module):
    """g(x) = sigmoid(a (x + b)) with a = softplus(raw) > 0, so a higher score always means more trust."""

    def __init__(self) -> None:
        super().__init__()
        self.raw_a = nn.Parameter(torch.full((1,), math.log(math.e - 1.0)))  # softplus(raw_a) = 1
        self.b = nn.Parameter(torch.zeros(1))

    @property
    def a(self) -> Tensor:
        return F.softplus(self.raw_a)

    def logits(self, x: Tensor) -> Tensor:
        return self.a * (x + self.b)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(x))


class _Weighting(nn.Module):
    """Base: ``forward(label) -> (w_pos (B,), w_neg (B, K))``; no auxiliary loss."""

    carries_over = True  # stage 2 starts the student's weighting from stage 1's state

    def aux_loss(self, label: Scores, neg_mask: Optional[Tensor] = None) -> Optional[Tensor]:
        """A loss that trains this weighting's own parameters (None: nothing to train)."""
        return None


class FixedWeighting(_Weighting):
    """Every element gets the same soft weight (DistilE's alpha or beta)."""

    def __init__(self, weight: float) -> None:
        super().__init__()
        if not 0.0 <= weight <= 1.0:
            raise ConfigError(f"soft weight must lie in [0, 1], got {weight}")
        self.weight = float(weight)

    def forward(self, label: Scores) -> Tuple[Tensor, Tensor]:
        return torch.full_like(label.pos, self.weight), torch.full_like(label.neg, self.weight)

    def extra_repr(self) -> str:
        return f"weight={self.weight}"


class AdaptiveWeighting(_Weighting):
    """DualDE's soft-label evaluation as published, read on the label model's scores.

    A positive the label model scores high has a trustworthy soft label (weight g_pos(f));
    a negative it scores high is its mistake (weight 1 - g_neg(f)). The gates learn from the
    loss they weigh, which is linear in w: they move weight onto whichever term is smaller and
    can switch distillation off (see ``docs/METHOD.md``); kept for comparison.
    """

    def __init__(self) -> None:
        super().__init__()
        self.pos_gate = LearnableSigmoid()
        self.neg_gate = LearnableSigmoid()

    def forward(self, label: Scores) -> Tuple[Tensor, Tensor]:
        label = label.detach()  # only the gates learn from these weights, never the label model
        return self.pos_gate(label.pos), 1.0 - self.neg_gate(label.neg)


class CalibratedWeighting(_Weighting):
    """DualDE's idea with a gate that measures soft-label quality instead of chasing the loss.

    One gate g(f) = sigmoid(a (f + b)), a > 0, is fitted to the truth: it estimates
    P(triple is true | label model's score f) by class-balanced logistic regression (Platt
    scaling) on the batch's positives (y = 1) and negatives (y = 0). A positive's soft weight is
    g(f(pos)), the label model's calibrated confidence in what the data says; a negative's is
    1 - g(f(neg)). Where the label model is right its soft label is trusted; where it is wrong
    (a true triple scored low, a corrupted one scored high) the hard label takes over. The weights
    reach the distillation loss detached, so that loss cannot move the gate, and the gate's own
    objective does not depend on the learner, so distillation cannot switch itself off.
    """

    carries_over = False  # stage 2 calibrates fresh gates: the label models change there

    def __init__(self) -> None:
        super().__init__()
        self.gate = PositiveSlopeSigmoid()

    def forward(self, label: Scores) -> Tuple[Tensor, Tensor]:
        with torch.no_grad():
            return self.gate(label.pos.detach()), 1.0 - self.gate(label.neg.detach())

    def aux_loss(self, label: Scores, neg_mask: Optional[Tensor] = None) -> Tensor:
        pos = F.softplus(-self.gate.logits(label.pos.detach())).mean()
        neg_terms = F.softplus(self.gate.logits(label.neg.detach()))
        if neg_mask is not None:  # true triples among the negatives are not evidence of y = 0
            keep = (~neg_mask).to(neg_terms.dtype)
            neg = (neg_terms * keep).sum() / keep.sum().clamp(min=1.0)
        else:
            neg = neg_terms.mean()
        return 0.5 * (pos + neg)


def make_weighting(kind: str, weight: float) -> nn.Module:
    """Build the weighting strategy named by ``--soft_weighting``."""
    if kind == "fixed":
        return FixedWeighting(weight)
    if kind == "adaptive":
        return AdaptiveWeighting()
    if kind == "calibrated":
        return CalibratedWeighting()
    raise ConfigError(f"--soft_weighting must be one of {', '.join(WEIGHTINGS)}, got {kind!r}")
