"""Hard-label losses for training one model on its own (a teacher, or the no-DS baseline), in
NeuralKG's loss convention ``loss(pos (B, 1), neg (B, K), subsampling_weight=None)``.

NeuralKG's ``Margin_Loss`` is a log-sigmoid loss despite its name; the DistilE paper trains TransE
and TransH with a margin ranking loss, so the no-DS baseline of that family needs this one to be
the same hard term DistilE_Loss uses.
"""
from __future__ import annotations

import argparse
from typing import Optional

from torch import Tensor, nn

from neuralkg_distil.methods.losses.hard import margin_ranking


class MarginRanking_Loss(nn.Module):  # noqa: N801 - NeuralKG's naming convention for losses
    """mean over pairs of [gamma - f(pos) + f(neg_j)]_+, gamma = ``--rank_margin``."""

    def __init__(self, args: argparse.Namespace, model: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.gamma = float(getattr(args, "rank_margin", 1.0))
        self.use_weight = bool(getattr(args, "use_weight", False))

    def forward(self, pos_score: Tensor, neg_score: Tensor, subsampling_weight: Optional[Tensor] = None) -> Tensor:
        pos = pos_score.reshape(-1)
        _, pairs = margin_ranking(pos, neg_score.reshape(pos.shape[0], -1), self.gamma)
        per_triple = pairs.mean(dim=1)
        if self.use_weight and subsampling_weight is not None:
            weight = subsampling_weight.reshape(-1).to(per_triple.dtype)
            return (weight * per_triple).sum() / weight.sum()
        return per_triple.mean()
