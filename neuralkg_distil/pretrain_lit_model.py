"""PretrainLitModel: NeuralKG's KGELitModel with this package's sampler support and evaluator.

Same loss, optimizer and schedule as ``KGELitModel`` (teachers train exactly as in NeuralKG),
but training batches may carry shared negatives and validation / test rank with the fast
filtered evaluator (ties counted realistically) instead of ``link_predict``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch
from neuralkg.lit_model import KGELitModel

from neuralkg_distil.evaluation import FilterIndex, RankingEvaluator
from neuralkg_distil.training_scores import FastTrainScorer


class PretrainLitModel(KGELitModel):
    """Train one KGE model on hard labels (a teacher, or a no-DS baseline student)."""

    def __init__(self, model: torch.nn.Module, args: Any) -> None:
        super().__init__(model, args)
        self.train_scorer = FastTrainScorer()
        self.evaluator: Optional[RankingEvaluator] = None
        self._ranks: List[torch.Tensor] = []

    def training_step(self, batch: Dict[str, Any], batch_idx: int) -> torch.Tensor:
        scores = self.train_scorer(self.model, batch)
        pos, neg = scores.pos.unsqueeze(1), scores.neg
        if self.args.use_weight:
            loss = self.loss(pos, neg, batch["subsampling_weight"])
        else:
            loss = self.loss(pos, neg)
        self.log("Train|loss", loss, on_step=False, on_epoch=True)
        return loss

    def setup(self, stage: Optional[str] = None) -> None:
        if self.evaluator is None:
            sampler = self.trainer.datamodule.train_sampler
            triples = torch.tensor(sorted(sampler.get_all_true_triples()), dtype=torch.long)
            index = FilterIndex.from_triples(triples, len(sampler.ent2id), len(sampler.rel2id))
            self.evaluator = RankingEvaluator(index, hits=tuple(self.args.calc_hits))

    def _step(self, batch: Dict[str, Any]) -> None:
        self._ranks.append(self.evaluator.ranks(self.model, batch["positive_sample"]).cpu())

    def _epoch_end(self, prefix: str) -> None:
        ranks, self._ranks = self._ranks, []
        if ranks:
            metrics = RankingEvaluator.metrics(torch.cat(ranks), tuple(self.args.calc_hits))
            self.log_dict({f"{prefix}|{k}": v for k, v in metrics.items()}, prog_bar=True)

    def validation_step(self, batch: Dict[str, Any], batch_idx: int) -> None:
        self._step(batch)

    def validation_epoch_end(self, outputs: Any) -> None:
        self._epoch_end("Eval")

    def test_step(self, batch: Dict[str, Any], batch_idx: int) -> None:
        self._step(batch)

    def test_epoch_end(self, outputs: Any) -> None:
        self._epoch_end("Test")
