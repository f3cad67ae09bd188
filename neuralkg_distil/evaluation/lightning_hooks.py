"""Validation / test hooks shared by the lit models: collect filtered ranks per batch, log metrics."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from neuralkg_distil.errors import ConfigError
from neuralkg_distil.evaluation.ranking import RankingEvaluator


class RankCollector:
    """Mixin for a LightningModule: ranks batches with a :class:`RankingEvaluator`.

    The evaluator is injected, or built in ``setup`` from the data module's NeuralKG sampler
    (its filter holds every known triple). Ranks are kept per key ("val", "student", ...) until
    the epoch ends.
    """

    evaluator: Optional[RankingEvaluator]
    hits: Sequence[int]

    def setup(self, stage: Optional[str] = None) -> None:
        if self.evaluator is None:
            sampler = getattr(getattr(self.trainer, "datamodule", None), "train_sampler", None)
            if sampler is None:
                raise ConfigError(f"{type(self).__name__} needs a NeuralKG data module with a train_sampler")
            self.evaluator = RankingEvaluator.for_sampler(sampler, hits=tuple(self.hits))

    def collect_ranks(self, key: str, model: nn.Module, triples: torch.Tensor) -> None:
        ranks: Dict[str, List[torch.Tensor]] = self.__dict__.setdefault("_ranks", {})
        ranks.setdefault(key, []).append(self.evaluator.ranks(model, triples).cpu())

    def pop_metrics(self, key: str) -> Dict[str, float]:
        """Metrics over the ranks collected under ``key`` (empty when none were), then forget them."""
        ranks = self.__dict__.setdefault("_ranks", {}).pop(key, [])
        return RankingEvaluator.metrics(torch.cat(ranks), tuple(self.hits)) if ranks else {}
