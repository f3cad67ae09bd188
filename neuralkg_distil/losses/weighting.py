"""How much each element trusts its soft label: a fixed weight or DualDE's learnable sigmoids."""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor, nn

from neuralkg_distil.errors import ConfigError
from neuralkg_distil.losses.terms import Scores

WEIGHTINGS = ("fixed", "adaptive")


class LearnableSigmoid(nn.Module):
    """g(x) = 1 / (1 + exp(-a (x + b))), with a = 1 and b = 0 at the start."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.ones(1))
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.a * (x + self.b))


class FixedWeighting(nn.Module):
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


class AdaptiveWeighting(nn.Module):
    """DualDE's soft-label evaluation, read on the label model's scores.

    A positive the label model scores high has a trustworthy soft label (weight g_pos(f));
    a negative it scores high is its mistake (weight 1 - g_neg(f)).
    """

    def __init__(self) -> None:
        super().__init__()
        self.pos_gate = LearnableSigmoid()
        self.neg_gate = LearnableSigmoid()

    def forward(self, label: Scores) -> Tuple[Tensor, Tensor]:
        label = label.detach()  # only the gates learn from these weights, never the label model
        return self.pos_gate(label.pos), 1.0 - self.neg_gate(label.neg)


def make_weighting(kind: str, weight: float) -> nn.Module:
    """Build the weighting strategy named by ``--soft_weighting``."""
    if kind == "fixed":
        return FixedWeighting(weight)
    if kind == "adaptive":
        return AdaptiveWeighting()
    raise ConfigError(f"--soft_weighting must be one of {', '.join(WEIGHTINGS)}, got {kind!r}")
