"""Teacher candidates: for every training query, the entities a frozen teacher ranks highest.

Random negatives are almost all entities both teacher and hard labels already call false, so
the teacher's soft labels on them carry little it knows (docs/results.md, round 3b: stage 1 with
25 random negatives tied no-DS). What a teacher knows beyond the training triples is how it
orders the *plausible* answers of a query. :class:`CandidateTable` finds, once before a stage,
the teacher's top-``k`` entities for every training query (``(h, r, ?)`` and ``(?, r, t)``),
streamed over entity blocks (no full score row is stored); a batch then looks up its rows'
candidates, both models score them, and a listwise KL term
(:func:`neuralkg_distil.losses.listwise.listwise_kl`) teaches the student the teacher's order.

The table holds entity ids only: scores are always recomputed, so the same table serves stage 2,
where the teacher moves (its candidates are then those of the teacher at the stage's start).
"""
from __future__ import annotations

import time
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


class CandidateTable:
    """The teacher's top-``k`` tails of every training ``(h, r)`` and heads of every ``(r, t)``.

    ``lookup(pos, mode)`` returns, for each triple of a batch, the candidates of its query
    (``tail-batch``: ``(h, r, ?)``; ``head-batch``: ``(?, r, t)``) and a mask that is true where a
    candidate is the triple's own answer (scored already as the positive). Other known answers
    of the query stay: a teacher that ranks them high is right, and the student should learn so.
    """

    def __init__(self, tails: _Side, heads: _Side, num_ent: int, num_rel: int) -> None:
        self.tails, self.heads = tails, heads
        self.num_ent, self.num_rel = num_ent, num_rel

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
        progress: Optional[Callable[[str], None]] = None,
    ) -> "CandidateTable":
        """Score every entity for each distinct training query with ``model`` (no gradient) and keep
        the ``k`` best. ``triples``: (N, 3) training triples (h, r, t)."""
        from neuralkg_distil.evaluation import stream_queries
        from neuralkg_distil.scoring import scorer_for

        num_ent, num_rel = int(model.args.num_ent), int(model.args.num_rel)
        if not 0 < k < num_ent:
            raise ConfigError(f"--teacher_topk must lie in 1..{num_ent - 1} (the entity count less one), got {k}")
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
                     f"{sides[1].keys.numel()} (r, t) training queries in {time.time() - started:.1f} s")
        return cls(sides[0], sides[1], num_ent, num_rel)

    def lookup(self, pos: LongTensor, mode: str) -> tuple[LongTensor, Tensor]:
        """``(candidates, own)`` for a batch: (B, k+1) entity ids and a bool mask of the entries that
        are the row's own answer or missing (a query not in the table gets all entries masked)."""
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
        own = (cand == answer.unsqueeze(1)) | (cand < 0) | ~found.unsqueeze(1)
        own[:, -1] |= ~own[:, :-1].any(dim=1)  # k entries per row: the last goes where the answer is not among them
        cand = cand.clamp_min(0)
        return cand.to(pos.device), own.to(pos.device)
