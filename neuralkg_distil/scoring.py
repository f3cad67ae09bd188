"""Fast all-entity scoring for NeuralKG's KGE models.

NeuralKG's ``model.get_score(batch, "tail_predict")`` broadcasts a
``(B, 1, dim)`` query against the ``(1, num_ent, dim)`` entity table, which
materialises a ``B x num_ent x dim`` tensor.  The scorers here compute the
same ``(B, num_ent)`` score matrices without that tensor:

* bilinear models (ComplEx, DistMult, SimplE) fold the relation into a query
  vector and use one matrix product with the entity table;
* TransE and TransH use ``torch.cdist(p=1)``, which reduces on the fly
  (TransH projects the entity table once per distinct relation in the batch);
* RotatE walks over bounded entity chunks.

Any other model gets :class:`GetScoreScorer`, which calls NeuralKG's own
``get_score`` (the slow path).

Scores follow the model's parameters (device and dtype) and are not detached,
so they are differentiable if grad mode is on; evaluation callers are expected
to wrap calls in ``torch.no_grad()``.  Every call returns a fresh tensor that
the caller may modify in place.
"""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import LongTensor, Tensor, nn

__all__ = [
    "Scorer",
    "scorer_for",
    "GetScoreScorer",
    "TransEScorer",
    "TransHScorer",
    "RotatEScorer",
    "DistMultScorer",
    "ComplExScorer",
    "SimplEScorer",
]

# Upper bound on the elements of one broadcast (rows x entity chunk x dim)
# intermediate in the chunked scorers.  On the CPU the loop is memory-bound and
# 2**20 values (4 MiB of float32) stay cache-resident, measured ~2x faster
# than 2**24; accelerators prefer fewer, larger kernels (2**24 is 64 MiB).
_MAX_CHUNK_ELEMENTS = {"cpu": 1 << 20}
_MAX_CHUNK_ELEMENTS_DEFAULT = 1 << 24

# NeuralKG's RotatE divides by embedding_range / pi with this literal; reuse
# it so phases agree bit for bit.
_PI = 3.14159265358979323846


@runtime_checkable
class Scorer(Protocol):
    """Scores every entity as the missing head or tail of a batch of queries."""

    def score_tails(self, h: LongTensor, r: LongTensor) -> Tensor:
        """``(B, num_ent)`` matrix of ``f(h_b, r_b, e)`` for every entity ``e``."""
        ...

    def score_heads(self, r: LongTensor, t: LongTensor) -> Tensor:
        """``(B, num_ent)`` matrix of ``f(e, r_b, t_b)`` for every entity ``e``."""
        ...


def _first_parameter(model: nn.Module) -> Tensor:
    try:
        return next(model.parameters())
    except StopIteration:
        raise ValueError(f"{type(model).__name__} has no parameters to score with") from None


class _BaseScorer:
    """Shared plumbing: device placement of index tensors and entity chunking."""

    def __init__(self, model: nn.Module, chunk_size: int | None = None) -> None:
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
        self.model = model
        self.chunk_size = chunk_size

    @property
    def device(self) -> torch.device:
        """Device of the model's parameters (where scores are computed)."""
        return _first_parameter(self.model).device

    @property
    def num_ent(self) -> int:
        """Number of candidate entities (columns of the score matrices)."""
        return int(self.model.args.num_ent)

    def _ids(self, ids: Tensor) -> Tensor:
        return torch.as_tensor(ids, dtype=torch.long, device=self.device).reshape(-1)

    def _entity_chunk(self, rows: int, width: int) -> int:
        if self.chunk_size is not None:
            return self.chunk_size
        budget = _MAX_CHUNK_ELEMENTS.get(self.device.type, _MAX_CHUNK_ELEMENTS_DEFAULT)
        return max(1, budget // max(1, rows * width))

    def _margin(self) -> float:
        # NeuralKG subtracts from margin.item(), a Python float.
        return self.model.margin.item()


class GetScoreScorer(_BaseScorer):
    """Fallback for models without a fast path: NeuralKG's ``get_score``.

    The entity that is being predicted is unknown to the query, so its column
    of ``positive_sample`` holds a placeholder 0; models whose ``get_score``
    reads that column (or needs batch keys other than ``positive_sample``)
    are not supported.  ``chunk_size`` here bounds the number of queries per
    ``get_score`` call, since that call is the memory hog.
    """

    @property
    def num_ent(self) -> int:
        args = getattr(self.model, "args", None)
        if args is not None and hasattr(args, "num_ent"):
            return int(args.num_ent)
        raise AttributeError(f"{type(self.model).__name__} does not expose args.num_ent")

    def _call(self, triples: Tensor, mode: str) -> Tensor:
        step = self.chunk_size or max(1, triples.shape[0])
        parts = [
            self.model.get_score({"positive_sample": triples[i : i + step]}, mode)
            for i in range(0, triples.shape[0], step)
        ]
        scores = torch.cat(parts, dim=0) if len(parts) != 1 else parts[0]
        # get_score may return a view or a broadcast result; hand out a fresh,
        # contiguous (B, num_ent) tensor as the protocol promises.
        return scores.reshape(triples.shape[0], -1).clone()

    def score_tails(self, h: LongTensor, r: LongTensor) -> Tensor:
        """NeuralKG ``get_score(..., "tail_predict")`` on ``(h, r, 0)``."""
        h, r = self._ids(h), self._ids(r)
        triples = torch.stack([h, r, torch.zeros_like(h)], dim=1)
        return self._call(triples, "tail_predict")

    def score_heads(self, r: LongTensor, t: LongTensor) -> Tensor:
        """NeuralKG ``get_score(..., "head_predict")`` on ``(0, r, t)``."""
        r, t = self._ids(r), self._ids(t)
        triples = torch.stack([torch.zeros_like(t), r, t], dim=1)
        return self._call(triples, "head_predict")


class TransEScorer(_BaseScorer):
    """``margin - ||h + r - t||_1`` via ``torch.cdist(p=1)``."""

    def _dist(self, queries: Tensor, table: Tensor) -> Tensor:
        if self.chunk_size is None:
            return torch.cdist(queries, table, p=1)
        return torch.cat(
            [torch.cdist(queries, table[i : i + self.chunk_size], p=1)
             for i in range(0, table.shape[0], self.chunk_size)],
            dim=1,
        )

    def score_tails(self, h: LongTensor, r: LongTensor) -> Tensor:
        """Scores of ``(h_b, r_b, e)`` for all ``e``."""
        h, r = self._ids(h), self._ids(r)
        m = self.model
        queries = m.ent_emb.weight[h] + m.rel_emb.weight[r]
        return self._margin() - self._dist(queries, m.ent_emb.weight)

    def score_heads(self, r: LongTensor, t: LongTensor) -> Tensor:
        """Scores of ``(e, r_b, t_b)`` for all ``e``: ``|e + r - t| = |e - (t - r)|``."""
        r, t = self._ids(r), self._ids(t)
        m = self.model
        queries = m.ent_emb.weight[t] - m.rel_emb.weight[r]
        return self._margin() - self._dist(queries, m.ent_emb.weight)

    def score_shared(self, triples: LongTensor, candidates: LongTensor, mode: str) -> Tensor:
        """Shared-negative scores (see :meth:`_BilinearScorer.score_shared`) via batched ``cdist``."""
        triples = torch.as_tensor(triples, device=self.device)
        m = self.model
        emb, rel = m.ent_emb.weight, m.rel_emb.weight[triples[:, 1]]
        queries = emb[triples[:, 2]] - rel if mode == "head-batch" else emb[triples[:, 0]] + rel
        return self._margin() - _per_chunk(queries, emb, candidates, lambda q, c: torch.cdist(q, c, p=1))


class TransHScorer(TransEScorer):
    """TransH: L1 distance on the relation's hyperplane.

    The projection depends on the relation, so queries are grouped by
    relation and the entity table is projected once per distinct relation in
    the batch.  With ``norm_flag`` NeuralKG L2-normalises the projected
    entities and the translation vector (after normalising the hyperplane
    normal), which is reproduced here.
    """

    # The projection depends on each triple's relation, so candidates cannot be shared in one
    # distance computation: training falls back to per-triple scoring.
    score_shared = None

    def _normal(self, r: Tensor) -> Tensor:
        w = self.model.norm_vector.weight[r]
        return F.normalize(w, p=2, dim=-1) if self.model.norm_flag else w

    def _project(self, emb: Tensor, w: Tensor) -> Tensor:
        proj = emb - torch.sum(emb * w, -1, True) * w
        return F.normalize(proj, 2, -1) if self.model.norm_flag else proj

    def _translation(self, r: Tensor) -> Tensor:
        d = self.model.rel_emb.weight[r]
        return F.normalize(d, 2, -1) if self.model.norm_flag else d

    def _score(self, anchor: Tensor, r: Tensor, tail_side: bool) -> Tensor:
        m = self.model
        table = m.ent_emb.weight
        w = self._normal(r)
        anchor_p = self._project(m.ent_emb.weight[anchor], w)
        d = self._translation(r)
        # tail: |h' + d - e'|; head: |e' + (d - t')| = |e' - (t' - d)|
        queries = anchor_p + d if tail_side else anchor_p - d
        out = torch.empty(anchor.shape[0], table.shape[0], dtype=queries.dtype, device=queries.device)
        uniq, inverse = torch.unique(r, return_inverse=True)
        for k, rel in enumerate(uniq.tolist()):
            rows = (inverse == k).nonzero(as_tuple=True)[0]
            projected = self._project(table, self._normal(r.new_tensor([rel])))
            out[rows] = self._dist(queries[rows], projected)
        return self._margin() - out

    def score_tails(self, h: LongTensor, r: LongTensor) -> Tensor:
        """Scores of ``(h_b, r_b, e)`` for all ``e``."""
        return self._score(self._ids(h), self._ids(r), tail_side=True)

    def score_heads(self, r: LongTensor, t: LongTensor) -> Tensor:
        """Scores of ``(e, r_b, t_b)`` for all ``e``."""
        return self._score(self._ids(t), self._ids(r), tail_side=False)


class RotatEScorer(_BaseScorer):
    """RotatE: ``margin - sum_i |h_i * r_i - t_i|`` over complex coordinates.

    Because ``|r_i| = 1``, ``|e_i r_i - t_i| = |e_i - conj(r_i) t_i|``, so head
    prediction rotates the tail back once instead of rotating every entity;
    the result equals NeuralKG's ``head_predict`` up to rounding.
    """

    def _rotation(self, r: Tensor) -> tuple[Tensor, Tensor]:
        phase = self.model.rel_emb.weight[r] / (self.model.embedding_range.item() / _PI)
        return torch.cos(phase), torch.sin(phase)

    def _dist(self, q_re: Tensor, q_im: Tensor) -> Tensor:
        e_re, e_im = torch.chunk(self.model.ent_emb.weight, 2, dim=-1)
        rows, dim = q_re.shape
        step = self._entity_chunk(rows, dim)
        out = torch.empty(rows, e_re.shape[0], dtype=q_re.dtype, device=q_re.device)
        q_re, q_im = q_re.unsqueeze(1), q_im.unsqueeze(1)
        # In-place arithmetic saves two of the three chunk-sized temporaries
        # but would break autograd, so only use it when no graph is recorded.
        in_place = not (torch.is_grad_enabled() and (q_re.requires_grad or e_re.requires_grad))
        for i in range(0, e_re.shape[0], step):
            d_re = q_re - e_re[i : i + step].unsqueeze(0)
            d_im = q_im - e_im[i : i + step].unsqueeze(0)
            if in_place:
                d_re.square_().add_(d_im.square_()).sqrt_()
                torch.sum(d_re, dim=-1, out=out[:, i : i + step])
            else:
                out[:, i : i + step] = torch.sqrt(d_re * d_re + d_im * d_im).sum(dim=-1)
        return out

    def score_tails(self, h: LongTensor, r: LongTensor) -> Tensor:
        """Scores of ``(h_b, r_b, e)`` for all ``e``."""
        h, r = self._ids(h), self._ids(r)
        h_re, h_im = torch.chunk(self.model.ent_emb.weight[h], 2, dim=-1)
        cos, sin = self._rotation(r)
        q_re = h_re * cos - h_im * sin
        q_im = h_re * sin + h_im * cos
        return self._margin() - self._dist(q_re, q_im)

    def score_heads(self, r: LongTensor, t: LongTensor) -> Tensor:
        """Scores of ``(e, r_b, t_b)`` for all ``e``."""
        r, t = self._ids(r), self._ids(t)
        t_re, t_im = torch.chunk(self.model.ent_emb.weight[t], 2, dim=-1)
        cos, sin = self._rotation(r)
        # conj(r) * t
        q_re = t_re * cos + t_im * sin
        q_im = t_im * cos - t_re * sin
        return self._margin() - self._dist(q_re, q_im)


class _BilinearScorer(_BaseScorer):
    """Models whose score is a sum of dot products ``q . table[e]`` with the candidate ``e``.

    Subclasses give the (query, table) terms for each side; all-entity scores are one matrix
    product per term, and shared training negatives one batched product per chunk.
    """

    def _tail_terms(self, h: Tensor, r: Tensor) -> list[tuple[Tensor, Tensor]]:
        raise NotImplementedError

    def _head_terms(self, r: Tensor, t: Tensor) -> list[tuple[Tensor, Tensor]]:
        raise NotImplementedError

    def _finish(self, scores: Tensor) -> Tensor:
        return scores

    def score_tails(self, h: LongTensor, r: LongTensor) -> Tensor:
        """Scores of ``(h_b, r_b, e)`` for all ``e``."""
        terms = self._tail_terms(self._ids(h), self._ids(r))
        return self._finish(sum(q @ table.T for q, table in terms))

    def score_heads(self, r: LongTensor, t: LongTensor) -> Tensor:
        """Scores of ``(e, r_b, t_b)`` for all ``e``."""
        terms = self._head_terms(self._ids(r), self._ids(t))
        return self._finish(sum(q @ table.T for q, table in terms))

    def score_shared(self, triples: LongTensor, candidates: LongTensor, mode: str) -> Tensor:
        """``(B, K)`` scores of each triple with its head or tail replaced by the ``K`` candidates of
        its chunk: ``candidates`` is ``(C, K)`` and triple ``b`` belongs to chunk ``b // ceil(B / C)``."""
        triples = torch.as_tensor(triples, device=self.device)
        h, r, t = triples[:, 0], triples[:, 1], triples[:, 2]
        terms = self._head_terms(r, t) if mode == "head-batch" else self._tail_terms(h, r)
        return self._finish(sum(_per_chunk(q, table, candidates, _dot) for q, table in terms))


def _per_chunk(queries: Tensor, table: Tensor, candidates: Tensor, pair: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    """``pair(queries[b], table[candidates[chunk(b)]])`` for every row, one batched call per batch.

    ``candidates`` is ``(C, K)`` and row ``b`` belongs to chunk ``b // ceil(B / C)``; ``pair`` maps
    ``(C, S, d)`` queries and ``(C, K, d)`` candidates to ``(C, S, K)``.
    """
    num_chunks, k = candidates.shape
    rows = queries.shape[0]
    size = -(-rows // num_chunks)
    padded = F.pad(queries, (0, 0, 0, num_chunks * size - rows)).view(num_chunks, size, -1)
    cand = table[candidates.to(table.device)]  # (C, K, d): C * K rows, not B * K
    return pair(padded, cand).reshape(num_chunks * size, k)[:rows]


def _dot(queries: Tensor, candidates: Tensor) -> Tensor:
    return torch.bmm(queries, candidates.transpose(1, 2))


class DistMultScorer(_BilinearScorer):
    """DistMult: ``(h * r) @ E^T`` and ``(r * t) @ E^T``."""

    def _tail_terms(self, h: Tensor, r: Tensor) -> list[tuple[Tensor, Tensor]]:
        m = self.model
        return [(m.ent_emb.weight[h] * m.rel_emb.weight[r], m.ent_emb.weight)]

    def _head_terms(self, r: Tensor, t: Tensor) -> list[tuple[Tensor, Tensor]]:
        m = self.model
        return [(m.rel_emb.weight[r] * m.ent_emb.weight[t], m.ent_emb.weight)]


class ComplExScorer(_BilinearScorer):
    """ComplEx: ``Re(<h, r, conj(t)>)`` as one real matrix product.

    Embeddings are stored as ``[real | imaginary]``; the query collects the
    coefficients of the candidate's real and imaginary halves.
    """

    def _tail_terms(self, h: Tensor, r: Tensor) -> list[tuple[Tensor, Tensor]]:
        m = self.model
        h_re, h_im = torch.chunk(m.ent_emb.weight[h], 2, dim=-1)
        r_re, r_im = torch.chunk(m.rel_emb.weight[r], 2, dim=-1)
        return [(torch.cat([h_re * r_re - h_im * r_im, h_im * r_re + h_re * r_im], dim=-1), m.ent_emb.weight)]

    def _head_terms(self, r: Tensor, t: Tensor) -> list[tuple[Tensor, Tensor]]:
        m = self.model
        t_re, t_im = torch.chunk(m.ent_emb.weight[t], 2, dim=-1)
        r_re, r_im = torch.chunk(m.rel_emb.weight[r], 2, dim=-1)
        return [(torch.cat([t_re * r_re + t_im * r_im, t_im * r_re - t_re * r_im], dim=-1), m.ent_emb.weight)]


class SimplEScorer(_BilinearScorer):
    """SimplE: mean of the forward and inverse CP scores, clamped to [-20, 20]."""

    def _tail_terms(self, h: Tensor, r: Tensor) -> list[tuple[Tensor, Tensor]]:
        m = self.model
        return [
            (m.ent_h_emb.weight[h] * m.rel_emb.weight[r], m.ent_t_emb.weight),
            (m.ent_t_emb.weight[h] * m.rel_inv_emb.weight[r], m.ent_h_emb.weight),
        ]

    def _head_terms(self, r: Tensor, t: Tensor) -> list[tuple[Tensor, Tensor]]:
        m = self.model
        return [
            (m.rel_emb.weight[r] * m.ent_t_emb.weight[t], m.ent_h_emb.weight),
            (m.rel_inv_emb.weight[r] * m.ent_h_emb.weight[t], m.ent_t_emb.weight),
        ]

    def _finish(self, scores: Tensor) -> Tensor:
        return torch.clamp(scores / 2, -20, 20)


_FAST_SCORERS: dict[str, Callable[[nn.Module, int | None], _BaseScorer]] = {
    "TransE": TransEScorer,
    "TransH": TransHScorer,
    "RotatE": RotatEScorer,
    "DistMult": DistMultScorer,
    "ComplEx": ComplExScorer,
    "SimplE": SimplEScorer,
}

# Methods whose NeuralKG definitions the fast scorers re-derive; a subclass
# overriding any of them scores differently, so it takes the slow path.
_SCORING_METHODS = ("get_score", "score_func", "tri2emb", "get_emb", "_transfer")


def _fast_base(model: nn.Module) -> str | None:
    """Name of the NeuralKG model class whose scoring ``model`` inherits unchanged."""
    cls = type(model)
    for base in cls.__mro__:
        if base.__name__ in _FAST_SCORERS and base.__module__.startswith("neuralkg."):
            same = all(
                getattr(cls, name, None) is getattr(base, name, None) for name in _SCORING_METHODS
            )
            return base.__name__ if same else None
    return None


def scorer_for(model: nn.Module, chunk_size: int | None = None) -> Scorer:
    """Return the fastest exact scorer for a NeuralKG KGE model.

    TransE, TransH, RotatE, DistMult, ComplEx and SimplE from
    ``neuralkg.model`` (and subclasses that keep their scoring methods) get a
    dedicated scorer; anything else falls back to NeuralKG's ``get_score``.
    ``chunk_size`` is the number of entities per chunk for the distance
    models (default: bounded automatically for RotatE, unchunked
    ``cdist`` for TransE/TransH), or queries per call for the fallback.
    """
    name = _fast_base(model)
    if name is None:
        return GetScoreScorer(model, chunk_size)
    return _FAST_SCORERS[name](model, chunk_size)
