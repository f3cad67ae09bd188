"""Scoring a training batch (positives and their negatives) for student and teacher alike.

Both models score exactly the same negatives: the batch carries them, never the scorer.
"""
from __future__ import annotations

from typing import Dict, Protocol

import torch
from torch import nn

from neuralkg_distil.methods.losses.terms import Scores
from neuralkg_distil.kge.scoring import train_scorer_for


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
    """NeuralKG's scores, computed faster: one embedding lookup per table per batch, per-triple
    negatives by batched products / broadcasts, shared negatives without expanding them.

    Covers TransE, TransH, RotatE, DistMult, ComplEx and SimplE (see
    :meth:`neuralkg_distil.kge.scoring._BaseScorer.score_batch`), with either batch layout; any
    other model (or a subclass overriding its scoring) goes through NeuralKG's forward.
    """

    def __call__(self, model: nn.Module, batch: Dict[str, torch.Tensor]) -> Scores:
        scorer = train_scorer_for(model)
        if scorer is None:
            return super().__call__(model, batch)
        shared = bool(batch.get("neg_chunk_size"))
        pos, neg = scorer.score_batch(batch["positive_sample"], batch["negative_sample"], batch["mode"], shared=shared)
        return Scores.of(pos, neg)
