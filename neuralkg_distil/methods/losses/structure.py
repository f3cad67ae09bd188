"""DualDE's optional structure soft label: angle and length ratio of (head, tail) embeddings."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

_EPS = 1e-9


def structure_distance(learner_h: Tensor, learner_t: Tensor, label_h: Tensor, label_t: Tensor) -> Tensor:
    """SmoothL1 between cos(h, t) and between ||h|| / ||t|| of learner and label, per triple (B,).

    Works across dimensions (student 8, teacher 500): both quantities are scalars per triple.
    """
    cos_learner = F.cosine_similarity(learner_h, learner_t, dim=-1, eps=_EPS)
    cos_label = F.cosine_similarity(label_h, label_t, dim=-1, eps=_EPS).detach()
    ratio_learner = learner_h.norm(dim=-1) / (learner_t.norm(dim=-1) + _EPS)
    ratio_label = (label_h.norm(dim=-1) / (label_t.norm(dim=-1) + _EPS)).detach()
    return F.smooth_l1_loss(cos_learner, cos_label, reduction="none") + F.smooth_l1_loss(
        ratio_learner, ratio_label, reduction="none"
    )
