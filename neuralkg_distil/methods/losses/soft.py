"""Soft-label terms: how far a learner's scores are from another model's (detached) scores."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def score_l1(learner: Tensor, label: Tensor) -> Tensor:
    """|f_label - f_learner| (DistilE, margin family: the label's raw scores are the soft labels)."""
    return (label.detach() - learner).abs()


def probability_bce(learner: Tensor, label: Tensor) -> Tensor:
    """-[p log sigma(f) + (1 - p) log(1 - sigma(f))] with p = sigma(f_label) (DistilE, CE family)."""
    return F.binary_cross_entropy_with_logits(learner, torch.sigmoid(label.detach()), reduction="none")


def sigmoid_smooth_l1(learner: Tensor, label: Tensor) -> Tensor:
    """SmoothL1(sigma(f_learner), sigma(f_label)) (DualDE's soft distance)."""
    return F.smooth_l1_loss(torch.sigmoid(learner), torch.sigmoid(label.detach()), reduction="none")


# --soft_distance choices of DualDE_Loss (DistilE picks its own by loss family).
SOFT_DISTANCES = {"smoothl1": sigmoid_smooth_l1, "bce": probability_bce}
