"""TransE (Bordes et al., 2013): ``margin - ||h + r - t||_1``; its fast scorer and adapter."""
from __future__ import annotations

import torch
from torch import LongTensor, Tensor

from neuralkg_distil.kge.adapter import KgeAdapter, MARGIN, MARGIN_MINUS_SUM, register_adapter
from neuralkg_distil.kge.scoring import QueryForm, _BaseScorer, _l1, _lookup, _rows

__all__ = ["TransEScorer", "TransEAdapter"]


def _l1_by_coordinate(queries: Tensor, table: Tensor, chunk: "int | None" = None) -> Tensor:
    """``||q_b - e||_1`` for every query row and table row, without autograd.

    Accumulates one coordinate at a time into a cache-sized (rows x entity block) tile: each
    step is one vectorised pass over the block. On the CPU this is about 2x faster than
    ``torch.cdist(p=1)`` (WN18RR, 512 queries x 40,943 entities x 64 dims, 1 thread: 0.59 s
    against 1.14 s) and gives the same float32 sums.
    """
    rows, dim = queries.shape
    columns = table.t().contiguous()  # (dim, num_ent): each coordinate's values side by side
    out = torch.empty(rows, table.shape[0], dtype=queries.dtype, device=queries.device)
    step = chunk or max(64, (1 << 18) // max(1, rows))
    for i in range(0, table.shape[0], step):
        tile = out[:, i : i + step]
        torch.sub(queries[:, 0:1], columns[0:1, i : i + step], out=tile).abs_()
        for d in range(1, dim):
            tile += (queries[:, d : d + 1] - columns[d : d + 1, i : i + step]).abs_()
    return out



class TransEScorer(_BaseScorer):
    """``margin - ||h + r - t||_1`` via ``torch.cdist(p=1)``."""

    def _dist(self, queries: Tensor, table: Tensor) -> Tensor:
        if queries.device.type == "cpu" and not (torch.is_grad_enabled() and (queries.requires_grad or table.requires_grad)):
            return _l1_by_coordinate(queries, table, self.chunk_size)
        if self.chunk_size is None:
            return torch.cdist(queries, table, p=1)
        return torch.cat(
            [torch.cdist(queries, table[i : i + self.chunk_size], p=1)
             for i in range(0, table.shape[0], self.chunk_size)],
            dim=1,
        )

    def _translated(self, tails: bool, anchor: Tensor, r: Tensor) -> Tensor:
        """``h + r`` (tails) or ``t - r`` (heads): ``|e + r - t| = |e - (t - r)|``."""
        m = self.model
        return m.ent_emb.weight[anchor] + m.rel_emb.weight[r] if tails else m.ent_emb.weight[anchor] - m.rel_emb.weight[r]

    def score_tails(self, h: LongTensor, r: LongTensor, entities: "slice | Tensor | None" = None) -> Tensor:
        """Scores of ``(h_b, r_b, e)`` for all ``e`` (or the ``entities`` given)."""
        queries = self._translated(True, self._ids(h), self._ids(r))
        return self._margin_minus(self._dist(queries, self._candidates(self.model.ent_emb.weight, entities)))

    def score_heads(self, r: LongTensor, t: LongTensor, entities: "slice | Tensor | None" = None) -> Tensor:
        """Scores of ``(e, r_b, t_b)`` for all ``e``."""
        queries = self._translated(False, self._ids(t), self._ids(r))
        return self._margin_minus(self._dist(queries, self._candidates(self.model.ent_emb.weight, entities)))

    def query_form(self, tails: bool, anchor: LongTensor, rel: LongTensor) -> QueryForm | None:
        """``margin - |q - e|_1`` with ``q = h + r`` (tails) or ``t - r`` (heads)."""
        if not self._form_ok():
            return None
        queries = self._translated(tails, self._ids(anchor), self._ids(rel))
        return QueryForm("l1", queries, self._columns("ent_emb"), None, -1.0, self._margin())

    def _train_scores(self, h, r, t, negatives, head, layout):
        m = self.model
        eh, et, cand = _lookup(m.ent_emb.weight, h, t, negatives)
        rel = _rows(m.rel_emb.weight, r)
        margin = self._margin()
        pos = margin - _l1(eh + rel, et)
        # head: |e + r - t| = |e - (t - r)|; tail: |h + r - e|
        query = et - rel if head else eh + rel
        if layout.shared:
            # cdist reduces on the fly: no C x S x K x d temporary for large shared K.
            return pos, margin - layout.finish(torch.cdist(layout.queries(query), cand, p=1))
        return pos, margin - _l1(query.unsqueeze(1), cand)



class TransEAdapter(KgeAdapter):
    """TransE: one entity and one relation table of ``dim`` columns; trained with a margin loss."""

    name = "TransE"
    scorer = TransEScorer
    tables = {"ent_emb": 1, "rel_emb": 1}
    loss_family = MARGIN
    score_form = MARGIN_MINUS_SUM  # --soft_label_scale dim: how the score grows with the dimension
    separable_coordinates = True  # a sum of per-coordinate terms: `neuralkg-distil inherit` can slice it
    paper_negatives = 5


register_adapter(TransEAdapter())
