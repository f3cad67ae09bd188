"""RotH (Chami et al., ACL 2020, "Low-Dimensional Hyperbolic Knowledge Graph Embeddings"): the model,
its fast all-entity scorer and its adapter.

The score of ``(h, r, t)`` on a Poincare ball of curvature ``-c_r`` (one learnable curvature per
relation, ``c_r = softplus(raw_r)``) is ``-d_c(q, exp0(e_t))^2 + b_h + b_t`` with the query
``q = Rot(theta_r) exp0(e_h) (+) exp0(r_r)``: a Givens rotation of the head (pairs of coordinates,
``(cos, sin)`` read from the normalised pairs of ``rel_rot``), then a Mobius addition of the
relation's translation, ``d_c`` the hyperbolic distance and ``b`` per-entity biases (the paper's
head and tail biases). Entities and translations are stored as tangent vectors at the origin and
mapped onto the ball by ``exp0`` with the relation's curvature.

Initialisation follows the paper, not NeuralKG: entities and translations ~ N(0, 1e-3), rotations
~ U(-1, 1), raw curvatures 1, biases 0. NeuralKG's uniform range +-(gamma + eps) / dim would put a
32-dim entity at norm ~1.4 in tangent space, where tanh has saturated: every point would start
at the ball's boundary, where the conformal factor makes gradients vanish. Near the origin the ball
is almost Euclidean and the model grows its hierarchy outwards.

Numerical safety: ``exp0`` stops at ``(1 - eps) / sqrt(c)`` (tanh rounds to 1 in float32 for
arguments above ~9), Mobius results are projected back inside the ball, ``artanh``'s argument is
clamped below 1, norms and denominators are bounded away from 0, and ``c`` from below; no NaN or
inf even for embeddings far outside the ball (tests/test_roth.py).

The class is registered as ``neuralkg.model.RotH`` (:mod:`neuralkg_distil.plugin.classes`), with
NeuralKG's calling conventions (``forward(triples, negs, mode)``, ``get_score(batch, mode)``).
"""
from __future__ import annotations

import argparse
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import LongTensor, Tensor, nn

from neuralkg_distil.errors import ConfigError
from neuralkg_distil.kge.adapter import CROSS_ENTROPY, KgeAdapter, register_adapter
from neuralkg_distil.kge.scoring import _BaseScorer, _lookup, _rows

__all__ = ["RotH", "RotHScorer", "RotHAdapter", "expmap0", "mobius_add", "hyperbolic_distance"]

MIN_NORM = 1e-15
BALL_EPS = 1e-5  # points stay within (1 - BALL_EPS) / sqrt(c) of the origin
MIN_CURVATURE = 1e-6
INIT_SCALE = 1e-3  # the paper's init_size


def curvature(raw: Tensor) -> Tensor:
    """``softplus(raw)``, bounded below so ``1 / sqrt(c)`` stays finite."""
    return F.softplus(raw).clamp_min(MIN_CURVATURE)


def _norm(x: Tensor) -> Tensor:
    return (x * x).sum(-1, keepdim=True).clamp_min(MIN_NORM**2).sqrt()


def _exp_gain(sqrt_c_norm: Tensor) -> Tensor:
    """``tanh(s) / s`` capped so the image stays strictly inside the ball."""
    return torch.tanh(sqrt_c_norm).clamp(max=1 - BALL_EPS) / sqrt_c_norm


def expmap0(v: Tensor, c: Tensor) -> Tensor:
    """The exponential map at the origin of the ball of curvature ``-c`` (``c`` broadcasts as ``(..., 1)``)."""
    return _exp_gain(c.sqrt() * _norm(v)) * v


def project(x: Tensor, c: Tensor) -> Tensor:
    """``x`` pulled back inside the ball where rounding put it on or past the boundary."""
    limit = (1 - BALL_EPS) / c.sqrt()
    norm = _norm(x)
    return torch.where(norm > limit, x / norm * limit, x)


def mobius_add(u: Tensor, v: Tensor, c: Tensor) -> Tensor:
    """``u (+)_c v`` (broadcasting over leading dimensions)."""
    uv = (u * v).sum(-1, keepdim=True)
    u2, v2 = (u * u).sum(-1, keepdim=True), (v * v).sum(-1, keepdim=True)
    num = (1 + 2 * c * uv + c * v2) * u + (1 - c * u2) * v
    return num / (1 + 2 * c * uv + c * c * u2 * v2).clamp_min(MIN_NORM)


def _distance_from_norm(norm: Tensor, c: Tensor) -> Tensor:
    sqrt_c = c.sqrt()
    return 2 / sqrt_c * torch.atanh((sqrt_c * norm).clamp(max=1 - BALL_EPS))


def hyperbolic_distance(x: Tensor, y: Tensor, c: Tensor) -> Tensor:
    """``d_c(x, y) = 2 / sqrt(c) * artanh(sqrt(c) |(-x) (+) y|)`` over the last dimension."""
    return _distance_from_norm(_norm(mobius_add(-x, y, c)), c).squeeze(-1)


def pairwise_distance(xy: Tensor, x2: Tensor, y2: Tensor, c: Tensor) -> Tensor:
    """:func:`hyperbolic_distance` from ``<x, y>``, ``|x|^2`` and ``|y|^2`` (broadcasting): with ``xy`` a
    matrix product, every query against every entity without a ``B x N x d`` tensor."""
    a = 1 - 2 * c * xy + c * y2
    b = 1 - c * x2
    den = (1 - 2 * c * xy + c * c * x2 * y2).clamp_min(MIN_NORM)
    num2 = (a * a * x2 - 2 * a * b * xy + b * b * y2) / (den * den)
    return _distance_from_norm(num2.clamp_min(MIN_NORM**2).sqrt(), c)


def givens(rot: Tensor, x: Tensor, inverse: bool = False) -> Tensor:
    """Rotate each coordinate pair of ``x`` by the angle of the matching (normalised) pair of ``rot``
    (by minus that angle with ``inverse``: the transpose, so ``<Rot x, v> = <x, Rot^-1 v>``)."""
    pairs = rot.unflatten(-1, (-1, 2))
    sq = (pairs * pairs).sum(-1, keepdim=True)
    # a zero pair is the angle 0 (not a map to 0): every rotation then keeps norms, which the dot-product
    # scores of the candidates rely on
    pairs = torch.where(sq > MIN_NORM**2, pairs / sq.clamp_min(MIN_NORM**2).sqrt(), torch.tensor([1.0, 0.0]).to(pairs))
    cos, sin = pairs[..., 0], pairs[..., 1]
    if inverse:
        sin = -sin
    xp = x.unflatten(-1, (-1, 2))
    x0, x1 = xp[..., 0], xp[..., 1]
    return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1).flatten(-2)


def roth_query(head: Tensor, trans: Tensor, rot: Tensor, c: Tensor) -> Tensor:
    """``Rot(theta_r) exp0(e_h) (+) exp0(r_r)``; rotating the tangent vector first is the same (rotations
    about the origin commute with exp0) and cheaper."""
    return project(mobius_add(expmap0(givens(rot, head), c), expmap0(trans, c), c), c)


def roth_score(head: Tensor, trans: Tensor, rot: Tensor, c: Tensor, tail: Tensor, b_h: Tensor, b_t: Tensor) -> Tensor:
    """``-d_c(q, exp0(e_t))^2 + b_h + b_t``, broadcasting (relation parts against entity parts)."""
    dist = hyperbolic_distance(roth_query(head, trans, rot, c), expmap0(tail, c), c)
    return b_h + b_t - dist * dist


class RotH(nn.Module):
    """RotH with NeuralKG's calling conventions; tables ``ent_emb`` (tangent vectors), ``rel_emb``
    (translations), ``rel_rot`` (rotation pairs), ``rel_c`` (raw curvature), ``ent_bh`` / ``ent_bt`` (biases)."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__()
        self.args = args
        dim = int(args.emb_dim)
        if dim % 2:
            raise ConfigError(f"RotH rotates pairs of coordinates: --emb_dim must be even, got {dim}")
        self.ent_emb = nn.Embedding(args.num_ent, dim)
        self.rel_emb = nn.Embedding(args.num_rel, dim)
        self.rel_rot = nn.Embedding(args.num_rel, dim)
        self.rel_c = nn.Embedding(args.num_rel, 1)
        self.ent_bh = nn.Embedding(args.num_ent, 1)
        self.ent_bt = nn.Embedding(args.num_ent, 1)
        self.init_emb()

    def init_emb(self) -> None:
        """The paper's initialisation (see the module docstring for why not NeuralKG's)."""
        with torch.no_grad():
            self.ent_emb.weight.normal_(0.0, INIT_SCALE)
            self.rel_emb.weight.normal_(0.0, INIT_SCALE)
            self.rel_rot.weight.uniform_(-1.0, 1.0)
            self.rel_c.weight.fill_(1.0)
            self.ent_bh.weight.zero_()
            self.ent_bt.weight.zero_()

    def _ids(self, triples: LongTensor, negs: Optional[LongTensor], mode: str) -> Tuple[Tensor, Tensor, Tensor]:
        """Head, relation and tail ids shaped to broadcast: ``(B, 1)`` or ``(B, K)`` / ``(1, num_ent)``."""
        h, r, t = triples[:, 0:1], triples[:, 1:2], triples[:, 2:3]
        every = torch.arange(self.args.num_ent, device=triples.device).unsqueeze(0)
        if mode in ("head-batch", "head_predict"):
            h = negs if negs is not None else every
        elif mode in ("tail-batch", "tail_predict"):
            t = negs if negs is not None else every
        return h, r, t

    def score_func(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        """Scores of broadcastable id tensors ``h``, ``r``, ``t``."""
        c = curvature(self.rel_c(r))
        return roth_score(self.ent_emb(h), self.rel_emb(r), self.rel_rot(r), c, self.ent_emb(t),
                          self.ent_bh(h).squeeze(-1), self.ent_bt(t).squeeze(-1))

    def forward(self, triples: LongTensor, negs: Optional[LongTensor] = None, mode: str = "single") -> Tensor:
        """Training scores: ``(B, 1)`` for the triples, ``(B, K)`` with ``negs`` in the ``mode`` slot."""
        return self.score_func(*self._ids(triples, negs, mode))

    def get_score(self, batch: dict, mode: str) -> Tensor:
        """``(B, num_ent)`` scores of every entity as the head (``head_predict``) or tail (``tail_predict``)."""
        return self.score_func(*self._ids(batch["positive_sample"], None, mode))


# Row blocks of the all-entity scorer on the CPU hold about this many scores: the dozen elementwise
# passes of the distance then run in cache (a WN18RR batch of 1024 rows at once: 42M scores per pass,
# ~6x slower). A GPU takes the whole batch in one launch per pass.
BLOCK_SCORES = 1 << 19


def _block_rows(num_candidates: int, device: torch.device) -> int:
    if device.type != "cpu":
        return 1 << 62
    return max(1, BLOCK_SCORES // max(1, num_candidates))


class RotHScorer(_BaseScorer):
    """RotH's fast path: all-entity distances from matrix products, one per distinct relation and
    block of rows, in row blocks of about :data:`BLOCK_SCORES` scores."""

    # a RotH-32 junior on 1024 x 500 candidates: forward and backward 1.9 s whole, 0.85 s in blocks
    blocks_with_grad = True

    def _relation(self, r: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        m = self.model
        return m.rel_emb.weight[r], m.rel_rot.weight[r], curvature(m.rel_c.weight[r])

    def score_tails(self, h: LongTensor, r: LongTensor, entities: "slice | Tensor | None" = None) -> Tensor:
        """Scores of ``(h_b, r_b, e)`` for all ``e`` (or the ``entities`` given).

        Rows are taken a relation at a time: exp0 of every entity depends on the row only through the
        relation's curvature, so its gain is computed once per relation (``1 x N``) instead of once
        per row (RotH-32 junior, WN18RR, 1,024 rows, one thread beside two trainings: 1.32 -> 0.87 s)."""
        h, r = self._ids(h), self._ids(r)
        m = self.model
        trans, rot, c = self._relation(r)
        q = roth_query(m.ent_emb.weight[h], trans, rot, c)  # (B, d), c (B, 1)
        ents = self._candidates(m.ent_emb.weight, entities)
        norms = _norm(ents).T  # (1, N)
        bias = self._candidates(m.ent_bt.weight, entities).T
        q2, b_h = (q * q).sum(-1, keepdim=True), m.ent_bh.weight[h]
        out = torch.empty(q.shape[0], ents.shape[0], dtype=q.dtype, device=q.device)
        step = _block_rows(ents.shape[0], ents.device)
        for rel in torch.unique(r).tolist():
            rel_rows = (r == rel).nonzero().squeeze(1)
            c_r = c[rel_rows[:1]]  # (1, 1): the relation's curvature, the same on each of its rows
            gain = _exp_gain(c_r.sqrt() * norms)  # (1, N)
            y2 = (gain * norms) ** 2
            for i in range(0, rel_rows.shape[0], step):
                rows = rel_rows[i:i + step]
                dist = pairwise_distance((q[rows] @ ents.T) * gain, q2[rows], y2, c_r)
                out[rows] = b_h[rows] + bias - dist * dist
        return out

    def score_heads(self, r: LongTensor, t: LongTensor, entities: "slice | Tensor | None" = None) -> Tensor:
        """Scores of ``(e, r_b, t_b)`` for all ``e`` (or the ``entities`` given), by :func:`_head_distance`
        from two matrix products with the entity table: no per-relation ``N x d`` queries (FB15k-237's 237
        relations would build 237 of them per batch). The relation enters each entity only through exp0's
        gain at its curvature, a ``1 x N`` row per relation."""
        r, t = self._ids(r), self._ids(t)
        m = self.model
        ents = self._candidates(m.ent_emb.weight, entities)
        e2 = (ents * ents).sum(-1).unsqueeze(0)  # (1, N)
        b_h = self._candidates(m.ent_bh.weight, entities).T
        trans, rot, c = self._relation(r)
        zv, wy, v2, y2, vy = _head_rows(trans, rot, c, expmap0(m.ent_emb.weight[t], c))
        both = torch.cat([zv, wy], dim=0)  # (2B, d)
        b_t = m.ent_bt.weight[t]
        out = torch.empty(r.shape[0], ents.shape[0], dtype=ents.dtype, device=ents.device)
        step = _block_rows(ents.shape[0], ents.device)
        for rel in torch.unique(r).tolist():
            rel_rows = (r == rel).nonzero().squeeze(1)
            c_r = c[rel_rows[:1]]
            gain = _gain_of(e2, c_r)  # (1, N)
            u2 = gain * gain * e2
            for i in range(0, rel_rows.shape[0], step):
                rows = rel_rows[i:i + step]
                ev, ey = (both[torch.cat([rows, rows + r.shape[0]])] @ ents.T).split(rows.shape[0])
                dist = _head_distance(gain * ev, gain * ey, u2, v2[rows], y2[rows], vy[rows], c_r)
                out[rows] = b_h + b_t[rows] - dist * dist
        return out

    def _fused(self, k: int) -> bool:
        from neuralkg_distil.kge import roth_topk

        return self._form_ok() and 0 < k < self.num_ent and roth_topk.available()

    def topk_tails(self, h: LongTensor, r: LongTensor, k: int) -> Tuple[Tensor, Tensor]:
        """The ``k`` best tails per row without a score matrix (:mod:`neuralkg_distil.kge.roth_topk`) on
        the CPU outside autograd; else the scores and ``topk``."""
        if not self._fused(k):
            return super().topk_tails(h, r, k)
        from neuralkg_distil.kge.roth_topk import SortedEntities, hyperbolic_topk

        h, r = self._ids(h), self._ids(r)
        m = self.model
        trans, rot, c = self._relation(r)
        q = roth_query(m.ent_emb.weight[h], trans, rot, c)
        ents = SortedEntities(m.ent_bt.weight, m.ent_emb.weight.shape[1])
        tangent = m.ent_emb.weight[ents.order]
        columns, norms = tangent.T.contiguous(), _norm(tangent).squeeze(-1)
        values = torch.empty(h.shape[0], k)
        ids = torch.empty(h.shape[0], k, dtype=torch.long)
        for rel in torch.unique(r).tolist():
            rows = (r == rel).nonzero().squeeze(1)
            c_r = c[rows[:1]]
            gain = _exp_gain(c_r.sqrt() * norms).squeeze(0)
            values[rows], ids[rows] = hyperbolic_topk(q[rows], columns, gain, (gain * norms) ** 2, float(c_r),
                                                      m.ent_bh.weight[h[rows]], ents, k, eps=BALL_EPS, min_norm=MIN_NORM)
        return values, ids

    def topk_heads(self, r: LongTensor, t: LongTensor, k: int) -> Tuple[Tensor, Tensor]:
        """The ``k`` best heads per row without a score matrix, every row in one kernel call whatever its
        relation (the scores of :meth:`score_heads`, from two dot products per entity); else the scores and
        ``topk``."""
        if not self._fused(k):
            return super().topk_heads(r, t, k)
        from neuralkg_distil.kge.roth_topk import SortedEntities, hyperbolic_topk_heads

        r, t = self._ids(r), self._ids(t)
        m = self.model
        ents = SortedEntities(m.ent_bh.weight, m.ent_emb.weight.shape[1])
        tangent = m.ent_emb.weight[ents.order]
        e2 = (tangent * tangent).sum(-1)
        trans, rot, c = self._relation(r)
        zv, wy, v2, y2, vy = _head_rows(trans, rot, c, expmap0(m.ent_emb.weight[t], c))
        rels, group_of_row = torch.unique(r, return_inverse=True)
        gains = _gain_of(e2.unsqueeze(0), curvature(m.rel_c.weight[rels]))  # (relations, N)
        return hyperbolic_topk_heads(zv, wy, tangent.T.contiguous(), e2, gains, group_of_row, c, v2, y2, vy,
                                     m.ent_bt.weight[t], ents, k, eps=BALL_EPS, min_norm=MIN_NORM)

    def _train_scores(self, h, r, t, negatives, head, layout):
        """The positives by :func:`roth_score`; the candidates from dot products (:func:`_tail_candidates`,
        :func:`_head_candidates`): one pass over the looked-up ``K x d`` rows instead of the dozen of the
        Mobius arithmetic, the rest on ``(B, K)`` scalars.

        Precision: in float32 a candidate's absolute error is of the order of the forward's at the same
        scale (a few 1e-4 at tangent norms near 1, tests/test_roth.py), but the expansion of
        ``|(-x) (+) y|^2`` cancels where ``y`` nearly equals ``x``: a near-duplicate's tiny distance carries
        that absolute error too (the all-entity scorer and the evaluation have the same limit)."""
        m = self.model
        eh, et, cand = _lookup(m.ent_emb.weight, h, t, negatives)
        bias_table = m.ent_bh if head else m.ent_bt
        cand_bias = _rows(bias_table.weight, negatives.reshape(-1)).view(negatives.shape)
        b_h, b_t = _rows(m.ent_bh.weight, h), _rows(m.ent_bt.weight, t)
        trans, rot = _rows(m.rel_emb.weight, r), _rows(m.rel_rot.weight, r)
        c = curvature(_rows(m.rel_c.weight, r))  # (B, 1)
        pos = roth_score(eh, trans, rot, c, et, b_h.squeeze(-1), b_t.squeeze(-1))
        e2 = layout.per_row((cand * cand).sum(-1))  # (B, K): |e|^2 of each row's candidates
        if head:
            dist = _head_candidates(layout, cand, e2, trans, rot, c, expmap0(et, c))
            neg = layout.per_row(cand_bias) + b_t - dist * dist
        else:
            dist = _tail_candidates(layout, cand, e2, roth_query(eh, trans, rot, c), c)
            neg = b_h + layout.per_row(cand_bias) - dist * dist
        return pos, neg


def _gain_of(e2: Tensor, c: Tensor) -> Tensor:
    """exp0's gain of vectors with squared norms ``e2`` at curvature ``c`` (broadcasting)."""
    return _exp_gain(c.sqrt() * e2.clamp_min(MIN_NORM**2).sqrt())


def _head_rows(trans: Tensor, rot: Tensor, c: Tensor, y: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """What a head query ``(?, r, t)`` contributes per row to :func:`_head_distance`: ``Rot^-1 v`` and
    ``Rot^-1 y`` (``v = exp0(trans)``, ``y`` the tail on the ball), to take dot products with the candidate
    heads, and ``|v|^2``, ``|y|^2``, ``<v, y>``."""
    v = expmap0(trans, c)
    return (givens(rot, v, inverse=True), givens(rot, y, inverse=True), (v * v).sum(-1, keepdim=True),
            (y * y).sum(-1, keepdim=True), (v * y).sum(-1, keepdim=True))


def _tail_candidates(layout, cand: Tensor, e2: Tensor, x: Tensor, c: Tensor) -> Tensor:
    """``d_c(x_b, exp0(e_k))`` for each row's query point ``x`` (``(B, d)``) and candidate tails: exp0 scales
    ``e`` by a gain of ``|e|`` alone, so ``<x, y>`` and ``|y|^2`` follow from ``<x, e>`` and ``|e|^2``."""
    gain = _gain_of(e2, c)
    return pairwise_distance(gain * layout.dot(x, cand), (x * x).sum(-1, keepdim=True), gain * gain * e2, c)


def _head_candidates(layout, cand: Tensor, e2: Tensor, trans: Tensor, rot: Tensor, c: Tensor, y: Tensor) -> Tensor:
    """``d_c(q_k, y_b)`` for candidate heads ``e_k`` (``q_k = proj(exp0(Rot e_k) (+) exp0(trans))``) and each
    row's tail point ``y``, by :func:`_head_distance` from two dot products with ``e``."""
    zv, wy, v2, y2, vy = _head_rows(trans, rot, c, y)
    gain = _gain_of(e2, c)
    return _head_distance(gain * layout.dot(zv, cand), gain * layout.dot(wy, cand), gain * gain * e2, v2, y2, vy, c)


def _head_distance(uv: Tensor, uy: Tensor, u2: Tensor, v2: Tensor, y2: Tensor, vy: Tensor, c: Tensor) -> Tensor:
    """``d_c(proj(u (+) v), y)`` from ``<u, v>``, ``<u, y>``, ``|u|^2``, ``|v|^2``, ``|y|^2`` and ``<v, y>``
    (broadcasting): ``u (+) v = (A u + B v) / D``, so its squared norm and its product with ``y`` follow from
    those six, and so does its distance to ``y`` (:func:`pairwise_distance`). With ``u = exp0(Rot e)``, a
    rotation keeps norms and moves to the other side of a dot product as its inverse: ``<u, v>`` and
    ``<u, y>`` are exp0's gain times ``<e, Rot^-1 v>`` and ``<e, Rot^-1 y>``."""
    a = 1 + 2 * c * uv + c * v2
    b = 1 - c * u2
    den = (1 + 2 * c * uv + c * c * u2 * v2).clamp_min(MIN_NORM)
    q2 = (a * a * u2 + 2 * a * b * uv + b * b * v2) / (den * den)
    qy = (a * uy + b * vy) / den
    # project(): a point rounded onto or past the boundary is scaled back to the limit
    limit = (1 - BALL_EPS) / c.sqrt()
    norm = q2.clamp_min(MIN_NORM**2).sqrt()
    scale = torch.where(norm > limit, limit / norm, torch.ones_like(norm))
    return pairwise_distance(scale * qy, scale * scale * q2, y2, c)


class RotHAdapter(KgeAdapter):
    """RotH: tangent-space tables of one column per dimension, plus one-column curvatures and biases."""

    name = "RotH"
    scorer = RotHScorer
    tables = {"ent_emb": 1, "rel_emb": 1, "rel_rot": 1, "rel_c": 1, "ent_bh": 1, "ent_bt": 1}
    fixed_width = ("rel_c", "ent_bh", "ent_bt")  # one column whatever the dimension
    # rotations are normalised (N3 would only shrink their raw pairs); curvatures and biases are scalars
    unregularised = ("rel_rot", "rel_c", "ent_bh", "ent_bt")
    loss_family = CROSS_ENTROPY
    paper_negatives = 50
    module_prefix = "neuralkg_distil."  # our class, registered in neuralkg.model

    def expected_width(self, table: str, dim: int) -> int:
        """Columns of ``table`` in a RotH of dimension ``dim``."""
        return 1 if table in self.fixed_width else self.tables[table] * dim


register_adapter(RotHAdapter())
