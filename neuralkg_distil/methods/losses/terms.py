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
    """One model's scores on a batch: positives (B,) and their negatives (B, K).

    ``neg_mask`` (B, K) bool, optional: negatives that are known true triples for their row
    (filtered shared negatives, the batch's ``negative_mask``); they get weight 0 in the loss.
    """

    pos: Tensor
    neg: Tensor
    neg_mask: Optional[Tensor] = None

    @classmethod
    def of(cls, pos: Tensor, neg: Tensor, neg_mask: Optional[Tensor] = None) -> "Scores":
        """Accept NeuralKG's shapes (pos (B, 1), neg (B, K)) or flat ones."""
        pos = pos.reshape(-1)
        return cls(pos, neg.reshape(pos.shape[0], -1), neg_mask)

    def detach(self) -> "Scores":
        return Scores(self.pos.detach(), self.neg.detach(), self.neg_mask)

    def clone(self) -> "Scores":
        """A normal copy (also of inference-mode tensors, which autograd may not save)."""
        return Scores(self.pos.clone(), self.neg.clone(), self.neg_mask)

    def with_mask(self, neg_mask: Optional[Tensor]) -> "Scores":
        """The same scores with ``neg_mask`` (None: unchanged)."""
        if neg_mask is None:
            return self
        return Scores(self.pos, self.neg, neg_mask.to(device=self.neg.device, dtype=torch.bool).reshape(self.neg.shape))


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


def uniform_neg_weights(neg: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """1 / K per negative; with ``mask``, 0 for masked ones and 1 / (unmasked count) for the rest
    (a row whose negatives are all masked gets all zeros)."""
    if mask is None:
        return torch.full_like(neg, 1.0 / neg.shape[1]).detach()
    keep = (~mask).to(neg.dtype)
    return (keep / keep.sum(dim=1, keepdim=True).clamp_min(1.0)).detach()


def adversarial_neg_weights(neg: Tensor, temperature: float, mask: Optional[Tensor] = None) -> Tensor:
    """Self-adversarial weights (Sun et al., RotatE): softmax of the learner's own negative scores,
    taken over the unmasked negatives only (masked ones: 0; an all-masked row: all zeros)."""
    logits = neg.detach() * temperature
    if mask is None:
        return torch.softmax(logits, dim=1)
    weights = torch.softmax(logits.masked_fill(mask, float("-inf")), dim=1)
    return torch.nan_to_num(weights, nan=0.0)  # all-masked rows: softmax of all -inf is NaN


def mask_neg_weights(neg_weights: Tensor, mask: Optional[Tensor]) -> Tensor:
    """Zero the masked negatives' weights and renormalise each row to its old sum (a no-op on
    weights already built with the mask)."""
    if mask is None:
        return neg_weights
    kept = neg_weights.masked_fill(mask, 0.0)
    total, left = neg_weights.sum(dim=1, keepdim=True), kept.sum(dim=1, keepdim=True)
    return torch.where(left > 0, kept * (total / left.clamp_min(torch.finfo(kept.dtype).tiny)), kept)


def combine(
    terms: ElementTerms,
    w_pos: Tensor,
    w_neg: Tensor,
    sample_weight: Optional[Tensor] = None,
    neg_mask: Optional[Tensor] = None,
) -> Tensor:
    """Reduce element terms with soft weights ``w_pos`` (B,) and ``w_neg`` (B, K) to a scalar.

    Negatives in ``neg_mask`` (B, K) contribute nothing (not even a NaN or inf of their own), and
    the row's negative weights are renormalised over the others.
    """
    pos_part = w_pos * terms.soft_pos + (1.0 - w_pos) * terms.hard_pos
    neg_terms = w_neg * terms.soft_neg + (1.0 - w_neg) * terms.hard_neg
    neg_weights = terms.neg_weights
    if neg_mask is not None:
        neg_weights = mask_neg_weights(neg_weights, neg_mask)
        neg_terms = neg_terms.masked_fill(neg_mask, 0.0)
    neg_part = (neg_weights * neg_terms).sum(dim=1)
    return 0.5 * (weighted_mean(pos_part, sample_weight) + weighted_mean(neg_part, sample_weight))
