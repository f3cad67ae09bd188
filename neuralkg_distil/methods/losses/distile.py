"""DistilE: soft labels chosen by loss family, fixed alpha / beta weighting by default."""
from __future__ import annotations

from neuralkg_distil.methods.losses.base import DistillationLoss
from neuralkg_distil.methods.losses.families import MARGIN
from neuralkg_distil.methods.losses.hard import logistic, margin_ranking
from neuralkg_distil.methods.losses.soft import probability_bce, score_l1
from neuralkg_distil.methods.losses.terms import ElementTerms, Scores, adversarial_neg_weights, uniform_neg_weights


class DistilE_Loss(DistillationLoss):  # noqa: N801 - NeuralKG's naming convention for losses
    """Margin family: margin ranking + |f_T - f_S|; CE family: BCE + BCE on sigma(f_T)."""

    default_weighting = "fixed"

    def element_terms(self, learner: Scores, label: Scores) -> ElementTerms:
        neg_weights = uniform_neg_weights(learner.neg, learner.neg_mask)
        if self.family == MARGIN:
            hard_pos, hard_neg = margin_ranking(learner.pos, learner.neg, self.settings.rank_margin)
            soft = score_l1
        else:
            hard_pos, hard_neg = logistic(learner.pos, learner.neg)
            soft = probability_bce
            if self.settings.distil_adversarial:  # the same hard term as NeuralKG's Adv_Loss
                neg_weights = adversarial_neg_weights(learner.neg, self.settings.adv_temp, learner.neg_mask)
        return ElementTerms(
            soft_pos=soft(learner.pos, label.pos),
            soft_neg=soft(learner.neg, label.neg),
            hard_pos=hard_pos,
            hard_neg=hard_neg,
            neg_weights=neg_weights,
        )
