"""The final evaluation of a run, through Lightning's test loop: every role of the training system
ranked on the validation and test triples by the injected evaluator.

One evaluation path for every training system (ours and NeuralKG's ``KGELitModel``): the run
builder hands the trained models to :class:`LinkPredictionTest` and calls ``trainer.test``, so the
numbers of a teacher and of its students always come from the same filtered ranking.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader

from neuralkg_distil.evaluation.ranking import RankingEvaluator

SPLITS = ("valid", "test")


def triple_loader(triples: Sequence[Any], batch_size: int) -> DataLoader:
    """Batches of ``{"positive_sample": (B, 3)}`` in order, the evaluator's own batch size (so its
    batches, and every rank, are those of one ``evaluator.evaluate`` call)."""
    from neuralkg_distil.evaluation.whole_split import whole_split_sampler

    data = torch.as_tensor(triples, dtype=torch.long).reshape(-1, 3)
    # the whole split in every process of a DDP run (Lightning would shard and pad it): see whole_split
    return DataLoader(data, batch_size=batch_size, sampler=whole_split_sampler(data),
                      collate_fn=lambda rows: {"positive_sample": torch.stack(rows)})


class LinkPredictionTest(pl.LightningModule):
    """Ranks each model of ``models`` (role -> module) on each test dataloader (valid, then test)."""

    def __init__(self, models: Mapping[str, nn.Module], evaluator: RankingEvaluator, hits: Sequence[int]) -> None:
        super().__init__()
        self.roles = tuple(models)
        # Plain attributes, not submodules: the test must not re-own (or re-count) the models' parameters.
        self.__dict__["_models"] = dict(models)
        self.evaluator = evaluator
        self.hits = tuple(hits)
        self.results: Dict[str, Dict[str, Dict[str, float]]] = {}
        self._ranks: Dict[tuple, List[torch.Tensor]] = {}

    def on_test_start(self) -> None:
        for model in self._models.values():
            model.to(self.device).eval()

    def test_step(self, batch: Dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        split = SPLITS[dataloader_idx]
        for role, model in self._models.items():
            ranks = self.evaluator.ranks(model, batch["positive_sample"].to(self.device)).cpu()
            self._ranks.setdefault((role, split), []).append(ranks)

    def test_epoch_end(self, outputs: Any) -> None:
        logged: Dict[str, float] = {}
        for (role, split), ranks in self._ranks.items():
            metrics = RankingEvaluator.metrics(torch.cat(ranks), self.hits)
            self.results.setdefault(role, {})[split] = metrics
            if split == "test":
                logged.update({f"Test|{'' if role == self.roles[0] else role + '_'}{k}": v for k, v in metrics.items()})
        self._ranks = {}
        self.log_dict(logged)
