"""PretrainLitModel: NeuralKG's KGELitModel with this package's sampler support and evaluator.

Same loss, optimizer and schedule as ``KGELitModel`` (teachers train exactly as in NeuralKG),
but training batches may carry shared negatives and validation / test rank with the fast
filtered evaluator (ties counted realistically) instead of ``link_predict``.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch
from neuralkg.lit_model import KGELitModel

from neuralkg_distil.evaluation.ranking import RankingEvaluator
from neuralkg_distil.callbacks.guards import check_finite
from neuralkg_distil.training.optim import build_optimization, model_group
from neuralkg_distil.evaluation.lightning_hooks import RankCollector
from neuralkg_distil.training.batch_scores import FastTrainScorer


def exclude_masked(neg: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    """Negative scores (B, K) with the masked ones (known true triples) replaced by -inf.

    NeuralKG scores "higher = more plausible", and every one of its negative-sampling losses
    (Adv_Loss, Margin_Loss, Softplus_Loss, SimplE_Loss) treats a score of -inf as a perfectly
    separated negative: its term is exactly 0 and no gradient reaches the model through it; in
    Adv_Loss's self-adversarial softmax it gets weight 0 and the others are renormalised, exactly
    as if it had not been drawn. (Losses that average over K instead keep the 1 / K of the others.)
    This keeps NeuralKG's loss code, regularisation included, as it is. A row whose candidates
    are all masked keeps them (a softmax over nothing is NaN); with 256 candidates that does not
    happen outside tiny test graphs.
    """
    if mask is None:
        return neg
    mask = mask.to(device=neg.device, dtype=torch.bool).reshape(neg.shape)
    mask = mask & ~mask.all(dim=1, keepdim=True)
    return neg.masked_fill(mask, float("-inf"))


class PretrainLitModel(RankCollector, KGELitModel):
    """Train one KGE model on hard labels (a teacher, or a no-DS baseline student)."""

    checks_finite = True  # training_step checks loss and scores (guards.check_finite)

    def __init__(self, model: torch.nn.Module, args: Any) -> None:
        super().__init__(model, args)
        self.train_scorer = FastTrainScorer()
        self.evaluator: Optional[RankingEvaluator] = None
        self.hits = tuple(args.calc_hits)

    def training_step(self, batch: Dict[str, Any], batch_idx: int) -> torch.Tensor:
        scores = self.train_scorer(self.model, batch)
        pos, neg = scores.pos.unsqueeze(1), exclude_masked(scores.neg, batch.get("negative_mask"))
        if self.args.use_weight:
            loss = self.loss(pos, neg, batch["subsampling_weight"])
        else:
            loss = self.loss(pos, neg)
        check_finite(self, loss, {"model": torch.cat([scores.pos.reshape(-1), scores.neg.reshape(-1)])})
        self.log("Train|loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self) -> Dict[str, Any]:
        # NeuralKG's schedule by default; --lr_ref_dim and --lr_decay plateau when asked for.
        return build_optimization(self.args, [model_group(self.args, self.model)])

    def validation_step(self, batch: Dict[str, Any], batch_idx: int) -> None:
        self.collect_ranks("val", self.model, batch["positive_sample"])

    def validation_epoch_end(self, outputs: Any) -> None:
        self.log_dict({f"Eval|{k}": v for k, v in self.pop_metrics("val").items()}, prog_bar=True)

