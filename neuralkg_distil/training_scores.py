"""Scoring a training batch (positives and their negatives) for student and teacher alike.

Both models score exactly the same negatives: the batch carries them, never the scorer.
"""
from __future__ import annotations

from typing import Dict, Protocol

import torch
from torch import nn

from neuralkg_distil.losses.terms import Scores
from neuralkg_distil.scoring import scorer_for


class TrainScorer(Protocol):
    """Scores the positives and negatives of one training batch with one model."""

    def __call__(self, model: nn.Module, batch: Dict[str, torch.Tensor]) -> Scores: ...


def expand_shared(batch: Dict[str, torch.Tensor]) -> torch.Tensor:
    """(B, K) per-triple negatives from a batch whose chunks share their negatives."""
    candidates = batch["negative_sample"]
    rows = batch["positive_sample"].shape[0]
    size = -(-rows // candidates.shape[0])
    return candidates.repeat_interleave(size, dim=0)[:rows]


class NeuralKGTrainScorer:
    """NeuralKG's own forward: ``model(pos)`` and ``model(pos, neg, mode)``.

    With shared negatives the candidates are expanded per triple first: correct for any
    model, but it builds the B x K x d tensor that shared negatives exist to avoid.
    """

    def __call__(self, model: nn.Module, batch: Dict[str, torch.Tensor]) -> Scores:
        pos = batch["positive_sample"]
        neg = expand_shared(batch) if batch.get("neg_chunk_size") else batch["negative_sample"]
        return Scores.of(model(pos), model(pos, neg, batch["mode"]))


class FastTrainScorer(NeuralKGTrainScorer):
    """Shared negatives scored with one batched matrix product (or ``cdist``) per chunk.

    Models whose scorer has no shared path (TransH, RotatE, unknown models) and batches
    with per-triple negatives go through NeuralKG's forward, so results never change.
    """

    def __call__(self, model: nn.Module, batch: Dict[str, torch.Tensor]) -> Scores:
        if batch.get("neg_chunk_size"):
            score_shared = getattr(scorer_for(model), "score_shared", None)
            if score_shared is not None:
                pos = batch["positive_sample"]
                return Scores.of(model(pos), score_shared(pos, batch["negative_sample"], batch["mode"]))
        return super().__call__(model, batch)
