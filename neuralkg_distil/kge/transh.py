"""TransH (Wang et al., 2014): TransE on a relation-specific hyperplane; its fast scorer and adapter."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import LongTensor, Tensor

from neuralkg_distil.kge.adapter import KgeAdapter, MARGIN, MARGIN_MINUS_SUM, register_adapter
from neuralkg_distil.kge.scoring import QueryForm, _l1, _lookup, _rows
from neuralkg_distil.kge.transe import TransEScorer

__all__ = ["TransHScorer", "TransHAdapter"]


def _hyperplane(emb: Tensor, w: Tensor) -> Tensor:
    """NeuralKG TransH's ``_transfer``: ``e - (e . w) w`` (``w`` already normalised if asked)."""
    return emb - torch.sum(emb * w, -1, True) * w



class TransHScorer(TransEScorer):
    """TransH: L1 distance on the relation's hyperplane.

    The projection depends on the relation, so queries are grouped by
    relation and the entity table is projected once per distinct relation in
    the batch.  With ``norm_flag`` NeuralKG L2-normalises the projected
    entities and the translation vector (after normalising the hyperplane
    normal), which is reproduced here.
    """

    def _train_scores(self, h, r, t, negatives, head, layout):
        m = self.model
        eh, et, cand = _lookup(m.ent_emb.weight, h, t, negatives)
        w = _rows(m.norm_vector.weight, r)
        if m.norm_flag:
            w = F.normalize(w, p=2, dim=-1)
        d = self._norm(_rows(m.rel_emb.weight, r))
        hp, tp = self._norm(_hyperplane(eh, w)), self._norm(_hyperplane(et, w))
        margin = self._margin()
        pos = margin - _l1(hp + d, tp)
        query = tp - d if head else hp + d
        # Candidates are projected on each triple's own hyperplane: (B, K, d) even when shared.
        wq, q = layout.queries(w).unsqueeze(-2), layout.queries(query).unsqueeze(-2)
        cand = self._norm(_hyperplane(layout.candidates(cand), wq))
        return pos, margin - layout.finish(_l1(q, cand))

    def _norm(self, x: Tensor) -> Tensor:
        return F.normalize(x, 2, -1) if self.model.norm_flag else x

    def _normal(self, r: Tensor) -> Tensor:
        w = self.model.norm_vector.weight[r]
        return F.normalize(w, p=2, dim=-1) if self.model.norm_flag else w

    def _project(self, emb: Tensor, w: Tensor) -> Tensor:
        proj = emb - torch.sum(emb * w, -1, True) * w
        return F.normalize(proj, 2, -1) if self.model.norm_flag else proj

    def _translation(self, r: Tensor) -> Tensor:
        d = self.model.rel_emb.weight[r]
        return F.normalize(d, 2, -1) if self.model.norm_flag else d

    def _queries(self, anchor: Tensor, r: Tensor, tail_side: bool) -> tuple[Tensor, Tensor]:
        """The queries on each relation's hyperplane, and the hyperplanes' normals."""
        w = self._normal(r)
        anchor_p = self._project(self.model.ent_emb.weight[anchor], w)
        d = self._translation(r)
        # tail: |h' + d - e'|; head: |e' + (d - t')| = |e' - (t' - d)|
        return (anchor_p + d if tail_side else anchor_p - d), w

    def _score(self, anchor: Tensor, r: Tensor, tail_side: bool, entities: "slice | Tensor | None" = None) -> Tensor:
        table = self._candidates(self.model.ent_emb.weight, entities)
        queries, _ = self._queries(anchor, r, tail_side)
        out = torch.empty(anchor.shape[0], table.shape[0], dtype=queries.dtype, device=queries.device)
        uniq, inverse = torch.unique(r, return_inverse=True)
        for k, rel in enumerate(uniq.tolist()):
            rows = (inverse == k).nonzero(as_tuple=True)[0]
            projected = self._project(table, self._normal(r.new_tensor([rel])))
            out[rows] = self._dist(queries[rows], projected)
        return self._margin_minus(out)

    def query_form(self, tails: bool, anchor: LongTensor, rel: LongTensor) -> QueryForm | None:
        """``margin - |q - e_perp|_1`` on each query's hyperplane; without ``norm_flag`` only
        (its normalised projections are left to the torch path)."""
        if self.model.norm_flag or not self._form_ok():
            return None
        queries, w = self._queries(self._ids(anchor), self._ids(rel), tails)
        return QueryForm("l1_hyperplane", queries, self._columns("ent_emb"), w, -1.0, self._margin())

    def score_tails(self, h: LongTensor, r: LongTensor, entities: "slice | Tensor | None" = None) -> Tensor:
        """Scores of ``(h_b, r_b, e)`` for all ``e`` (or the ``entities`` given)."""
        return self._score(self._ids(h), self._ids(r), True, entities)

    def score_heads(self, r: LongTensor, t: LongTensor, entities: "slice | Tensor | None" = None) -> Tensor:
        """Scores of ``(e, r_b, t_b)`` for all ``e`` (or the ``entities`` given)."""
        return self._score(self._ids(t), self._ids(r), False, entities)



class TransHAdapter(KgeAdapter):
    """TransH: TransE's tables plus the hyperplane normals, which N3 has never covered."""

    name = "TransH"
    scorer = TransHScorer
    tables = {"ent_emb": 1, "rel_emb": 1, "norm_vector": 1}
    unregularised = ("norm_vector",)
    loss_family = MARGIN
    score_form = MARGIN_MINUS_SUM  # --soft_label_scale dim: how the score grows with the dimension
    paper_negatives = 5


register_adapter(TransHAdapter())
