"""The shared shape of every distillation loss: per-element hard and soft terms, then a weighted sum.

Each loss turns (learner scores, label scores) into an :class:`ElementTerms`: one hard and one soft
value per positive (B,) and per negative (B, K), plus how the K negatives of a row are averaged
(uniform, or the detached self-adversarial softmax). A weighting strategy supplies the soft weight
w of every element (hard weight 1 - w), and :func:`combine` reduces it all to one number:

    L = 1/2 * [ mean_b (w_b s_b + (1 - w_b) h_b) + mean_b sum_j q_bj (w_bj s_bj + (1 - w_bj) h_bj) ]

With a fixed w = alpha this is exactly alpha * L_soft + (1 - alpha) * L_hard, where each L is the
mean of its positive part and its negative part (NeuralKG's convention in Adv_Loss).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor


@dataclass(frozen=True)
class Scores:
    """One model's scores on a batch: positives (B,) and their negatives (B, K)."""

    pos: Tensor
    neg: Tensor

    @classmethod
    def of(cls, pos: Tensor, neg: Tensor) -> "Scores":
        """Accept NeuralKG's shapes (pos (B, 1), neg (B, K)) or flat ones."""
        pos = pos.reshape(-1)
        return cls(pos, neg.reshape(pos.shape[0], -1))

    def detach(self) -> "Scores":
        return Scores(self.pos.detach(), self.neg.detach())

    def clone(self) -> "Scores":
        """A normal copy (also of inference-mode tensors, which autograd may not save)."""
        return Scores(self.pos.clone(), self.neg.clone())


@dataclass(frozen=True)
class ElementTerms:
    """Per-element loss terms of one learner (student or teacher) against its soft labels."""

    soft_pos: Tensor  # (B,)
    soft_neg: Tensor  # (B, K)
    hard_pos: Tensor  # (B,)
    hard_neg: Tensor  # (B, K)
    neg_weights: Tensor  # (B, K), rows sum to 1, no gradient


def weighted_mean(values: Tensor, sample_weight: Optional[Tensor]) -> Tensor:
    """Mean over the batch, or NeuralKG's subsampling-weighted mean when weights are given."""
    if sample_weight is None:
        return values.mean()
    sample_weight = sample_weight.reshape(-1).to(values.dtype)
    return (sample_weight * values).sum() / sample_weight.sum()


def uniform_neg_weights(neg: Tensor) -> Tensor:
    return torch.full_like(neg, 1.0 / neg.shape[1]).detach()


def adversarial_neg_weights(neg: Tensor, temperature: float) -> Tensor:
    """Self-adversarial weights (Sun et al., RotatE): softmax of the learner's own negative scores."""
    return torch.softmax(neg.detach() * temperature, dim=1)


def combine(
    terms: ElementTerms,
    w_pos: Tensor,
    w_neg: Tensor,
    sample_weight: Optional[Tensor] = None,
) -> Tensor:
    """Reduce element terms with soft weights ``w_pos`` (B,) and ``w_neg`` (B, K) to a scalar."""
    pos_part = w_pos * terms.soft_pos + (1.0 - w_pos) * terms.hard_pos
    neg_part = (terms.neg_weights * (w_neg * terms.soft_neg + (1.0 - w_neg) * terms.hard_neg)).sum(dim=1)
    return 0.5 * (weighted_mean(pos_part, sample_weight) + weighted_mean(neg_part, sample_weight))
