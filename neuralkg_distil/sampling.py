"""Vectorised training negatives: a drop-in for NeuralKG's UniSampler without its per-triple loop."""
from __future__ import annotations

import argparse
from typing import Any, Dict, List, Sequence, Tuple

import torch
from neuralkg.data import UniSampler

# Corrupted triples that are true training triples are redrawn; after this many rounds the
# few left (only possible for entities linked to nearly everything) are kept.
_FILTER_ROUNDS = 10


class TorchUniSampler(UniSampler):
    """Uniform negatives like NeuralKG's ``UniSampler`` (alternating head / tail batches, optional
    filtering of true training triples, subsampling weights), drawn for the whole batch at once.

    With ``--neg_chunk_size N`` (N > 0) every chunk of N triples shares one set of ``num_neg``
    corrupted entities (``negative_sample`` is then ``(ceil(B / N), num_neg)``), which models with
    a bilinear or L1 score turn into one batched matrix product; shared negatives are not
    filtered, since an entity can be a false negative for one triple of a chunk only.

    Registered as ``neuralkg.data.TorchUniSampler`` so ``--train_sampler_class`` finds it.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.num_ent = len(self.ent2id)
        self.num_rel = len(self.rel2id)
        self.filter = bool(getattr(args, "filter_flag", True))
        self.num_neg = int(args.num_neg)
        self.use_weight = bool(getattr(args, "use_weight", False))
        self.neg_chunk_size = int(getattr(args, "neg_chunk_size", 0) or 0)
        train = torch.tensor(self.train_triples, dtype=torch.long).reshape(-1, 3)
        self._train_keys = torch.unique(self._keys(train[:, 0], train[:, 1], train[:, 2]))

    def _keys(self, h: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (h * self.num_rel + r) * self.num_ent + t

    def _known(self, h: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # Binary search in the sorted unique keys: torch.isin would sort the training keys
        # again on every call (~5x slower for a 1024 x 25 batch on WN18RR).
        keys = self._keys(h, r, t)
        if self._train_keys.numel() == 0:
            return torch.zeros_like(keys, dtype=torch.bool)
        at = torch.searchsorted(self._train_keys, keys).clamp_(max=self._train_keys.numel() - 1)
        return self._train_keys[at] == keys

    def draw(self, pos: torch.Tensor, mode: str, num_neg: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, num_neg) entity ids replacing the head (``head-batch``) or tail of each triple."""
        neg = torch.randint(0, self.num_ent, (pos.shape[0], num_neg), generator=generator)
        if not self.filter:
            return neg
        h, r, t = (pos[:, i : i + 1].expand_as(neg) for i in range(3))
        for _ in range(_FILTER_ROUNDS):
            bad = self._known(neg, r, t) if mode == "head-batch" else self._known(h, r, neg)
            if not bad.any():
                break
            neg[bad] = torch.randint(0, self.num_ent, (int(bad.sum()),), generator=generator)
        return neg

    def subsampling_weights(self, data: Sequence[Tuple[int, int, int]]) -> torch.Tensor:
        """1 / sqrt(count(h, r) + count(t, r^-1)), NeuralKG's word2vec-style weights."""
        counts = [self.count[(h, r)] + self.count[(t, -r - 1)] for h, r, t in data]
        return torch.sqrt(1.0 / torch.tensor(counts, dtype=torch.float))

    def sampling(self, data: List[Tuple[int, int, int]]) -> Dict[str, Any]:
        self.cross_sampling_flag = 1 - self.cross_sampling_flag
        mode = "head-batch" if self.cross_sampling_flag == 0 else "tail-batch"
        pos = torch.tensor(data, dtype=torch.long).reshape(-1, 3)
        batch: Dict[str, Any] = {"mode": mode, "positive_sample": pos}
        if self.neg_chunk_size > 0:
            chunks = -(-pos.shape[0] // self.neg_chunk_size)
            batch["negative_sample"] = torch.randint(0, self.num_ent, (chunks, self.num_neg))
            batch["neg_chunk_size"] = self.neg_chunk_size
        else:
            batch["negative_sample"] = self.draw(pos, mode, self.num_neg)
        if self.use_weight:
            batch["subsampling_weight"] = self.subsampling_weights(data)
        return batch
