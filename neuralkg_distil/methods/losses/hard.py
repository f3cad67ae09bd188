"""Hard-label (ground-truth) terms, per element: positives (B,) and negatives (B, K)."""
from __future__ import annotations

from typing import Tuple

import torch.nn.functional as F
from torch import Tensor


def margin_ranking(pos: Tensor, neg: Tensor, margin: float) -> Tuple[Tensor, Tensor]:
    """[margin - f(pos) + f(neg_j)]_+ for every pair.

    A pair involves a positive and a negative, so its value is charged to both: the negative
    element gets its own pair, the positive the mean over its K pairs. Under a fixed weighting
    this makes the combined hard loss exactly the mean pairwise margin loss.
    """
    pairs = F.relu(margin - pos.unsqueeze(1) + neg)
    return pairs.mean(dim=1), pairs


def logistic(pos: Tensor, neg: Tensor) -> Tuple[Tensor, Tensor]:
    """Binary cross-entropy on sigma(f): -log sigma(f(pos)) and -log sigma(-f(neg)).

    Also the element terms of the self-adversarial loss, whose negative weights are applied
    by :func:`neuralkg_distil.methods.losses.terms.combine`.
    """
    return F.softplus(-pos), F.softplus(neg)
