"""DualDE: SmoothL1 on sigmoids, self-adversarial hard term, per-triple weights from calibrated gates by default."""
from __future__ import annotations

from neuralkg_distil.methods.losses.base import DistillationLoss
from neuralkg_distil.methods.losses.hard import logistic
from neuralkg_distil.methods.losses.soft import SOFT_DISTANCES
from neuralkg_distil.methods.losses.terms import ElementTerms, Scores, adversarial_neg_weights, uniform_neg_weights


class DualDE_Loss(DistillationLoss):  # noqa: N801 - NeuralKG's naming convention for losses
    """Soft distance SmoothL1(sigma(f_S), sigma(f_T)); hard term -log sigma(f(pos)) - sum_j p_j log sigma(-f(neg_j)).

    ``--soft_distance bce`` swaps the soft distance for BCE against sigma(f_T): same minimum, but
    its gradient sigma(f_S) - sigma(f_T) does not vanish where the sigmoids saturate.

    The same detached self-adversarial weights p_j (from the learner's own negative scores)
    weigh the negatives' soft distances and soft weights.
    """

    default_weighting = "calibrated"

    def element_terms(self, learner: Scores, label: Scores) -> ElementTerms:
        hard_pos, hard_neg = logistic(learner.pos, learner.neg)
        if self.settings.negative_adversarial_sampling:
            neg_weights = adversarial_neg_weights(learner.neg, self.settings.adv_temp, learner.neg_mask)
        else:
            neg_weights = uniform_neg_weights(learner.neg, learner.neg_mask)
        soft = SOFT_DISTANCES[self.settings.soft_distance or "smoothl1"]
        return ElementTerms(
            soft_pos=soft(learner.pos, label.pos),
            soft_neg=soft(learner.neg, label.neg),
            hard_pos=hard_pos,
            hard_neg=hard_neg,
            neg_weights=neg_weights,
        )
