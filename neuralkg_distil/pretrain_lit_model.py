"""PretrainLitModel: NeuralKG's KGELitModel with this package's sampler support and evaluator.

Same loss, optimizer and schedule as ``KGELitModel`` (teachers train as in NeuralKG; the optimizer
is PyTorch's fused implementation where there is one, equal up to float rounding), but training
batches are scored by :class:`FastTrainScorer` (equal to NeuralKG's forward, and may carry
shared negatives) and validation / test rank with the fast filtered evaluator (ties counted
realistically) instead of ``link_predict``.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch
from neuralkg.lit_model import KGELitModel

from neuralkg_distil.evaluation import RankingEvaluator
from neuralkg_distil.guards import check_finite
from neuralkg_distil.optim import build_optimizer
from neuralkg_distil.ranking_hooks import RankCollector
from neuralkg_distil.training_scores import FastTrainScorer


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
        pos, neg = scores.pos.unsqueeze(1), scores.neg
        if self.args.use_weight:
            loss = self.loss(pos, neg, batch["subsampling_weight"])
        else:
            loss = self.loss(pos, neg)
        check_finite(self, loss, {"model": torch.cat([scores.pos.reshape(-1), scores.neg.reshape(-1)])})
        self.log("Train|loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self) -> Dict[str, Any]:
        """NeuralKG's optimizer and schedule (``KGELitModel``), the optimizer fused where possible."""
        milestones = int(self.args.max_epochs / 2)
        optimizer = build_optimizer(self.optimizer_class, self.model.parameters(), self.args.lr)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[milestones], gamma=0.1)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def validation_step(self, batch: Dict[str, Any], batch_idx: int) -> None:
        self.collect_ranks("val", self.model, batch["positive_sample"])

    def validation_epoch_end(self, outputs: Any) -> None:
        self.log_dict({f"Eval|{k}": v for k, v in self.pop_metrics("val").items()}, prog_bar=True)

    def test_step(self, batch: Dict[str, Any], batch_idx: int) -> None:
        self.collect_ranks("test", self.model, batch["positive_sample"])

    def test_epoch_end(self, outputs: Any) -> None:
        self.log_dict({f"Test|{k}": v for k, v in self.pop_metrics("test").items()}, prog_bar=True)
