"""Scoring a training batch (positives and their negatives) for student and teacher alike."""
from __future__ import annotations

from typing import Dict, Protocol

import torch
from torch import nn

from neuralkg_distil.losses.terms import Scores


class TrainScorer(Protocol):
    """Scores the positives and negatives of one training batch with one model."""

    def __call__(self, model: nn.Module, batch: Dict[str, torch.Tensor]) -> Scores: ...


class NeuralKGTrainScorer:
    """NeuralKG's own forward: ``model(pos)`` and ``model(pos, neg, mode)`` (per-triple negatives)."""

    def __call__(self, model: nn.Module, batch: Dict[str, torch.Tensor]) -> Scores:
        pos = batch["positive_sample"]
        pos_score = model(pos)
        neg_score = model(pos, batch["negative_sample"], batch["mode"])
        return Scores.of(pos_score, neg_score)
