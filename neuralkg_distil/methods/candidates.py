"""Teacher candidates: for every training query, the entities a frozen teacher ranks highest.

Random negatives are almost all entities both teacher and hard labels already call false, so
the teacher's soft labels on them carry little it knows (docs/results.md, round 3b: stage 1 with
25 random negatives tied no-DS). What a teacher knows beyond the training triples is how it
orders the *plausible* answers of a query. :class:`CandidateTable` finds, once before a stage,
the teacher's top-``k`` entities for every training query (``(h, r, ?)`` and ``(?, r, t)``),
streamed over entity blocks (no full score row is stored); a batch then looks up its rows'
candidates, both models score them, and a listwise KL term
(:func:`neuralkg_distil.methods.losses.listwise.listwise_kl`) teaches the student the teacher's order.

The table holds entity ids only: scores are always recomputed, so the same table serves stage 2,
where the teacher moves (its candidates are then those of the teacher at the stage's start).
"""
from __future__ import annotations

import time
from pathlib import Path
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import LongTensor, Tensor, nn

from neuralkg_distil.errors import ConfigError


@dataclass(frozen=True)
class _Side:
    """Sorted query keys of one corruption side and their candidates, row i for keys[i]."""

    keys: LongTensor  # (Q,)
    candidates: Tensor  # (Q, k) int32, best first


QUERY_SETS = ("train", "all")  # --kd_queries: the training queries, or every (entity, relation) pair


class CandidateTable:
    """The teacher's top-``k`` tails of every training ``(h, r)`` and heads of every ``(r, t)``.

    ``lookup(pos, mode)`` returns, for each triple of a batch, the candidates of its query
    (``tail-batch``: ``(h, r, ?)``; ``head-batch``: ``(?, r, t)``) and a mask that is true where a
    candidate is the triple's own answer (scored already as the positive). Other known answers
    of the query stay: a teacher that ranks them high is right, and the student should learn so.
    """

    def __init__(self, tails: _Side, heads: _Side, num_ent: int, num_rel: int, queries: str = "train") -> None:
        self.tails, self.heads = tails, heads
        self.num_ent, self.num_rel = num_ent, num_rel
        self.queries = queries

    @property
    def k(self) -> int:
        return int(self.tails.candidates.shape[1])

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        triples: Tensor,
        k: int,
        *,
        batch_size: int = 1024,
        queries: str = "train",
        progress: Optional[Callable[[str], None]] = None,
    ) -> "CandidateTable":
        """Score every entity for each distinct training query (``queries="train"``; ``triples``: the
        (N, 3) training triples) or for every (entity, relation) pair (``"all"``: the teacher's view of
        queries the training set never asks) with ``model`` (no gradient) and keep the ``k`` best."""
        from neuralkg_distil.evaluation.ranking import stream_queries
        from neuralkg_distil.kge.scoring import scorer_for

        num_ent, num_rel = int(model.args.num_ent), int(model.args.num_rel)
        if not 0 < k < num_ent:
            raise ConfigError(f"--teacher_topk must lie in 1..{num_ent - 1} (the entity count less one), got {k}")
        if queries not in QUERY_SETS:
            raise ConfigError(f"--kd_queries must be one of {', '.join(QUERY_SETS)}, got {queries!r}")
        triples = torch.as_tensor(triples, dtype=torch.long).reshape(-1, 3)
        scorer = scorer_for(model)
        device = next(model.parameters()).device
        started = time.time()
        was_training = model.training
        model.eval()
        sides = []
        try:
            with torch.no_grad():
                for tails, anchor_col in ((True, 0), (False, 2)):
                    if queries == "all":
                        keys = torch.arange(num_ent * num_rel)
                    else:
                        keys = torch.unique(triples[:, anchor_col] * num_rel + triples[:, 1])  # sorted
                    out = torch.empty((keys.numel(), k + 1), dtype=torch.int32)
                    for lo in range(0, keys.numel(), batch_size):
                        part = keys[lo : lo + batch_size].to(device)
                        _, ids, _ = stream_queries(scorer, tails, part // num_rel, part % num_rel, num_ent, k=k + 1)
                        out[lo : lo + part.numel()] = ids.to("cpu", torch.int32)
                    sides.append(_Side(keys, out))
        finally:
            model.train(was_training)
        if progress is not None:
            progress(f"teacher candidates: top {k} of {num_ent} entities for {sides[0].keys.numel()} (h, r) and "
                     f"{sides[1].keys.numel()} (r, t) {'training ' if queries == 'train' else ''}queries "
                     f"in {time.time() - started:.1f} s")
        return cls(sides[0], sides[1], num_ent, num_rel, queries)

    # ------------------------------------------------------------------------- cache
    def save(self, path: Path, signature: str) -> None:
        """Write the table (tensors and plain values only, read back with ``weights_only=True``)."""
        from neuralkg_distil.checkpoint.files import atomic_save

        atomic_save({"signature": signature, "num_ent": self.num_ent, "num_rel": self.num_rel, "queries": self.queries,
                     "tail_keys": self.tails.keys, "tail_candidates": self.tails.candidates,
                     "head_keys": self.heads.keys, "head_candidates": self.heads.candidates}, path)

    @classmethod
    def load(cls, path: Path, signature: str) -> Optional["CandidateTable"]:
        """The table cached at ``path`` if it was made with ``signature`` (else None: rebuild it)."""
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # missing, truncated or foreign: the cache is only an optimisation
            return None
        if not isinstance(data, dict) or data.get("signature") != signature:
            return None
        return cls(_Side(data["tail_keys"], data["tail_candidates"]), _Side(data["head_keys"], data["head_candidates"]),
                   int(data["num_ent"]), int(data["num_rel"]), str(data["queries"]))

    def sample_queries(self, n: int, mode: str, generator: Optional[torch.Generator] = None) -> LongTensor:
        """``n`` random queries of the table for one side, as (n, 3) triples whose missing entity is a
        placeholder (0): for the transfer term, which has no gold answer."""
        side = self.tails if mode == "tail-batch" else self.heads
        keys = side.keys[torch.randint(0, side.keys.numel(), (n,), generator=generator)]
        anchor, rel = keys // self.num_rel, keys % self.num_rel
        zero = torch.zeros_like(anchor)
        return torch.stack([anchor, rel, zero] if mode == "tail-batch" else [zero, rel, anchor], dim=1)

    def lookup(self, pos: LongTensor, mode: str, mask_answer: bool = True) -> tuple[LongTensor, Tensor]:
        """``(candidates, own)`` for a batch: (B, k+1) entity ids and a bool mask of the entries that
        are the row's own answer (with ``mask_answer``) or missing (a query not in the table gets all
        entries masked)."""
        if mode not in ("head-batch", "tail-batch"):
            raise ValueError(f"mode must be head-batch or tail-batch, got {mode!r}")
        tails = mode == "tail-batch"
        side = self.tails if tails else self.heads
        pos_cpu = pos.to("cpu")
        anchor, answer = (pos_cpu[:, 0], pos_cpu[:, 2]) if tails else (pos_cpu[:, 2], pos_cpu[:, 0])
        keys = anchor * self.num_rel + pos_cpu[:, 1]
        at = torch.searchsorted(side.keys, keys).clamp_(max=side.keys.numel() - 1)
        found = side.keys[at] == keys
        cand = side.candidates[at].long()
        own = (cand < 0) | ~found.unsqueeze(1)
        if mask_answer:
            own |= cand == answer.unsqueeze(1)
            own[:, -1] |= ~own[:, :-1].any(dim=1)  # k entries per row: the last goes where the answer is not among them
        cand = cand.clamp_min(0)
        return cand.to(pos.device), own.to(pos.device)
