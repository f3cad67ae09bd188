"""Filtered link-prediction evaluation without argsort and without dense labels.

NeuralKG's ``link_predict`` needs two dense ``B x num_ent`` label matrices per
batch (built in a Python loop by ``TestSampler``) and ranks with a double
argsort, which also breaks score ties arbitrarily.  Here the known true
triples live in a CSR index (:class:`FilterIndex`), filtering is a vectorised
scatter, and ranks are counted, with an explicit tie policy
(:class:`RankingEvaluator`).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import LongTensor, Tensor, nn

from neuralkg_distil.evaluation import cpu_kernels
from neuralkg_distil.kge.scoring import GetScoreScorer, Scorer, _BaseScorer, scorer_for

__all__ = ["FilterIndex", "RankingEvaluator", "stream_queries"]

_TIES = ("realistic", "pessimistic", "optimistic")

# Score-matrix rows counted per reduction in _filtered_ranks (devices not listed: all at once).
_RANK_ROWS = {"cpu": 8}


class _CSR:
    """Sorted unique keys, with ``values[offsets[i]:offsets[i + 1]]`` under ``keys[i]``.

    Only keys that occur are stored, so memory is O(#triples) even when
    ``num_ent * num_rel`` is huge.  Duplicate ``(key, value)`` pairs are
    dropped.
    """

    def __init__(self, keys: Tensor, values: Tensor, num_values: int) -> None:
        num_keys = int(keys.max()) + 1 if keys.numel() else 0
        if num_keys * num_values < 2**62:
            # One 1-D sort both groups by key and deduplicates pairs.
            pairs = torch.unique(keys * num_values + values)
            keys, self.values = pairs // num_values, pairs % num_values
        else:
            pairs = torch.unique(torch.stack([keys, values], dim=1), dim=0)
            keys, self.values = pairs[:, 0].contiguous(), pairs[:, 1].contiguous()
        self.keys, counts = torch.unique_consecutive(keys, return_counts=True)
        self.offsets = torch.zeros(self.keys.numel() + 1, dtype=torch.long, device=keys.device)
        torch.cumsum(counts, dim=0, out=self.offsets[1:])

    def to(self, device: torch.device) -> "_CSR":
        out = _CSR.__new__(_CSR)
        out.keys, out.values, out.offsets = (
            self.keys.to(device), self.values.to(device), self.offsets.to(device)
        )
        return out

    def lookup(self, query: Tensor) -> tuple[Tensor, Tensor]:
        """All ``(b, value)`` pairs with ``value`` stored under ``query[b]``."""
        query = query.to(self.keys.device)
        if self.keys.numel() == 0:
            empty = torch.empty(0, dtype=torch.long, device=query.device)
            return empty, empty.clone()
        pos_c = torch.searchsorted(self.keys, query).clamp(max=self.keys.numel() - 1)
        found = self.keys[pos_c] == query
        start = self.offsets[pos_c]
        lengths = torch.where(found, self.offsets[pos_c + 1] - start, torch.zeros_like(start))
        rows = torch.repeat_interleave(torch.arange(query.numel(), device=query.device), lengths)
        # Position of each output element inside its own row's range.
        first_of_row = torch.cumsum(lengths, 0) - lengths
        within = torch.arange(rows.numel(), device=query.device) - first_of_row[rows]
        return rows, self.values[start[rows] + within]


class FilterIndex:
    """Index of known true triples (train + valid + test) for filtered ranking.

    Built once from an ``(N, 3)`` tensor of ``(h, r, t)`` ids (duplicates are
    dropped).  Lookups return COO pairs ``(row, entity)`` for a batch of
    queries so callers can mask a ``(B, num_ent)`` score matrix in one
    indexing operation.
    """

    def __init__(self, hr2t: _CSR, rt2h: _CSR, num_ent: int, num_rel: int) -> None:
        self._hr2t = hr2t
        self._rt2h = rt2h
        self.num_ent = num_ent
        self.num_rel = num_rel

    @classmethod
    def from_triples(cls, triples: LongTensor, num_ent: int, num_rel: int) -> "FilterIndex":
        """Build the index from an ``(N, 3)`` tensor of ``(h, r, t)`` ids."""
        triples = torch.as_tensor(triples, dtype=torch.long).reshape(-1, 3)
        if triples.numel():
            lo, hi = int(triples.min()), int(triples[:, [0, 2]].max())
            if lo < 0 or hi >= num_ent or int(triples[:, 1].max()) >= num_rel:
                raise ValueError(
                    f"triple ids out of range for num_ent={num_ent}, num_rel={num_rel}"
                )
        h, r, t = triples.unbind(1)
        return cls(
            _CSR(h * num_rel + r, t, num_ent),
            _CSR(r * num_ent + t, h, num_ent),
            num_ent,
            num_rel,
        )

    @property
    def device(self) -> torch.device:
        """Device the index tensors live on."""
        return self._hr2t.keys.device

    def to(self, device: torch.device | str) -> "FilterIndex":
        """Copy of the index on ``device`` (``self`` if already there)."""
        device = torch.device(device)
        if self.device == device:
            return self
        return FilterIndex(self._hr2t.to(device), self._rt2h.to(device), self.num_ent, self.num_rel)

    def tails_of(self, h: LongTensor, r: LongTensor) -> tuple[LongTensor, LongTensor]:
        """``(row_idx, col_idx)``: every ``(b, e)`` with ``(h_b, r_b, e)`` known."""
        h = torch.as_tensor(h, dtype=torch.long, device=self.device).reshape(-1)
        r = torch.as_tensor(r, dtype=torch.long, device=self.device).reshape(-1)
        return self._hr2t.lookup(h * self.num_rel + r)

    def heads_of(self, r: LongTensor, t: LongTensor) -> tuple[LongTensor, LongTensor]:
        """``(row_idx, col_idx)``: every ``(b, e)`` with ``(e, r_b, t_b)`` known."""
        r = torch.as_tensor(r, dtype=torch.long, device=self.device).reshape(-1)
        t = torch.as_tensor(t, dtype=torch.long, device=self.device).reshape(-1)
        return self._rt2h.lookup(r * self.num_ent + t)


def _filtered_ranks(
    scores: Tensor, target: Tensor, known: tuple[Tensor, Tensor], ties: str
) -> Tensor:
    """Float filtered ranks of ``target[b]`` in row ``b`` of a full score matrix (modified in place).

    The reference the streaming path (:func:`stream_queries`) is tested against. Known true
    entities other than the target are set to NaN, which compares False both ways, so they
    never count as better; model NaNs behave the same.  A NaN target score gets the worst rank,
    ``num_ent``.
    """
    rows = torch.arange(scores.shape[0], device=scores.device)
    target_score = scores[rows, target].clone()
    scores[known] = float("nan")
    scores[rows, target] = target_score
    column = target_score.unsqueeze(1)
    # better: #(score > target); at_least: #(score >= target), which counts the target itself
    need_better, need_at_least = ties != "pessimistic", ties != "optimistic"
    better = torch.zeros(scores.shape[0], dtype=torch.int32, device=scores.device)
    at_least = torch.zeros_like(better)
    # Row blocks that stay in cache, int32 sums: summing a whole B x num_ent bool matrix casts
    # it to int64 first (a copy 8x its size); on the CPU this is ~7x faster.
    step = _RANK_ROWS.get(scores.device.type, scores.shape[0])
    for i in range(0, scores.shape[0], step):
        block, col = scores[i : i + step], column[i : i + step]
        if need_better:
            torch.sum(block > col, dim=1, dtype=torch.int32, out=better[i : i + step])
        if need_at_least:
            torch.sum(block >= col, dim=1, dtype=torch.int32, out=at_least[i : i + step])
    return _ranks_from_counts(better, at_least - 1, target_score, ties, scores.shape[1])


def _ranks_from_counts(better: Tensor, at_least_others: Tensor, target_score: Tensor, ties: str, num_ent: int) -> Tensor:
    """Ranks from #(others > target) and #(others >= target) (the target itself not counted)."""
    if ties == "optimistic":
        ranks = 1.0 + better.to(torch.float64)
    elif ties == "pessimistic":
        ranks = 1.0 + at_least_others.to(torch.float64)
    else:
        ranks = (2.0 + better.to(torch.float64) + at_least_others.to(torch.float64)) / 2
    return torch.where(torch.isnan(target_score), float(num_ent), ranks).float()


# Scores (rows x entity columns) per block of the streaming path: on the CPU a block that stays
# in the last-level cache; accelerators prefer fewer, larger kernels.
_BLOCK_ELEMENTS = {"cpu": 1 << 18}
_BLOCK_ELEMENTS_DEFAULT = 1 << 26


def _blockwise(scorer: Any) -> bool:
    """Whether ``scorer`` scores a subset of candidates itself (``entities=``)."""
    return isinstance(scorer, _BaseScorer) and not isinstance(scorer, GetScoreScorer)


class _Rows:
    """Score blocks of one batch of queries: ``(anchor, relation, ?)`` tails or ``(?, relation, anchor)`` heads."""

    def __init__(self, scorer: Any, tails: bool, anchor: Tensor, rel: Tensor) -> None:
        self.scorer, self.tails, self.anchor, self.rel = scorer, tails, anchor, rel
        self.blockwise = _blockwise(scorer)
        self.full: Tensor | None = None

    def __call__(self, entities: slice | Tensor) -> Tensor:
        if self.blockwise:
            if self.tails:
                return self.scorer.score_tails(self.anchor, self.rel, entities=entities)
            return self.scorer.score_heads(self.rel, self.anchor, entities=entities)
        if self.full is None:  # a scorer without entity blocks: its full rows, streamed over
            self.full = (self.scorer.score_tails(self.anchor, self.rel) if self.tails
                         else self.scorer.score_heads(self.rel, self.anchor))
        return self.full[:, entities]

    def target_scores(self, targets: Tensor) -> Tensor:
        """The score of ``(query b, entity targets[b])`` for every b, as the blocks compute it."""
        if not self.blockwise:
            rows = torch.arange(targets.shape[0], device=targets.device)
            return self(slice(None))[rows, targets].clone()
        parts, step = [], 1024
        for i in range(0, targets.shape[0], step):  # diagonals of B x B blocks: the same kernel as the blocks
            sub = _Rows(self.scorer, self.tails, self.anchor[i : i + step], self.rel[i : i + step])
            parts.append(sub(targets[i : i + step]).diagonal().clone())
        return torch.cat(parts) if parts else torch.empty(0, device=targets.device)


def _bucket(rows: Tensor, cols: Tensor, bounds: Tensor) -> tuple[Tensor, Tensor, list[int]]:
    """``(rows, cols)`` pairs sorted by column, and where each column block starts among them."""
    order = torch.argsort(cols)
    rows, cols = rows[order], cols[order]
    return rows, cols, torch.searchsorted(cols, bounds).tolist()


class _TopK:
    """The running top-``k`` of a batch of queries, merged block by block (best first)."""

    def __init__(self, batch: int, k: int, device: torch.device) -> None:
        self.k = k
        self.values = torch.full((batch, k), float("-inf"), device=device)
        self.ids = torch.full((batch, k), -1, dtype=torch.long, device=device)
        self.filled = 0  # candidates seen so far (while fewer than k, every block is merged whole)

    def add(self, block: Tensor, lo: int, hi: int) -> None:
        """Merge the block of entity columns ``lo..hi`` (masked entries are NaN)."""
        if self.filled < self.k:
            batch = block.shape[0]
            cand = torch.cat([self.values, torch.nan_to_num(block, nan=float("-inf"))], dim=1)
            cand_ids = torch.cat([self.ids, torch.arange(lo, hi, device=block.device).expand(batch, -1)], dim=1)
            self.values, pick = cand.topk(self.k, dim=1)
            self.ids = cand_ids.gather(1, pick)
            self.filled += hi - lo
            return
        # Rows whose block maximum beats their k-th best (a NaN maximum counts as a hit:
        # amax propagates NaN); only their entries are compared, only the winners merged.
        rows = torch.nonzero(~(block.amax(dim=1) <= self.values[:, -1]), as_tuple=True)[0]
        if rows.numel():
            sub = block if rows.numel() == block.shape[0] else block[rows]  # no copy when every row hits
            hit_rows, hit_cols = torch.nonzero(sub > self.values[rows, -1:], as_tuple=True)  # NaN never passes
            if hit_rows.numel():
                self.values, self.ids = _merge(self.values, self.ids, sub, hit_rows, hit_cols, lo, self.k, rows)


class _Pairs:
    """``(row, entity)`` pairs bucketed by entity block, so each block masks its own in one step."""

    def __init__(self, rows: Tensor, cols: Tensor, bounds: Tensor) -> None:
        self.rows, self.cols, self.at = _bucket(rows, cols, bounds)

    def mask(self, block: Tensor, b: int, lo: int) -> None:
        """Set the pairs that fall in block ``b`` (columns from ``lo``) to NaN."""
        if self.at[b + 1] > self.at[b]:
            part = slice(self.at[b], self.at[b + 1])
            block[self.rows[part], self.cols[part] - lo] = float("nan")


def _known_pairs(known: tuple[Tensor, Tensor], targets: Tensor | None, bounds: Tensor) -> _Pairs:
    """The known true pairs to mask, less each query's own target (which stays a candidate)."""
    k_rows, k_cols = known
    if targets is not None:
        keep = k_cols != targets[k_rows]
        k_rows, k_cols = k_rows[keep], k_cols[keep]
    return _Pairs(k_rows, k_cols, bounds)


class _TargetCounts:
    """``#(score > target)`` and ``#(score >= target)`` per query, counted block by block."""

    def __init__(self, query: _Rows, targets: Tensor, bounds: Tensor, ties: str) -> None:
        batch, device = query.anchor.shape[0], query.anchor.device
        self.ties = ties
        self.target_score = query.target_scores(targets)
        self.column = self.target_score.unsqueeze(1)
        self.better = torch.zeros(batch, dtype=torch.int32, device=device)
        self.at_least = torch.zeros_like(self.better)
        self.need_better, self.need_at_least = ties != "pessimistic", ties != "optimistic"
        self.own = _Pairs(torch.arange(batch, device=device), targets, bounds)

    def add(self, block: Tensor, b: int, lo: int) -> None:
        """Count block ``b``'s entries against the targets (modifies ``block``)."""
        self.own.mask(block, b, lo)  # the target is not compared with itself
        if self.need_better:
            self.better += torch.sum(block > self.column, dim=1, dtype=torch.int32)
        if self.need_at_least:
            self.at_least += torch.sum(block >= self.column, dim=1, dtype=torch.int32)

    def ranks(self, num_ent: int) -> Tensor:
        """Float ranks under the tie policy."""
        return _ranks_from_counts(self.better, self.at_least, self.target_score, self.ties, num_ent)


def _entity_blocks(num_ent: int, batch: int, device: torch.device, block_elements: int | None) -> tuple[list[int], int, Tensor]:
    """Block starts, block width and the ``starts + [num_ent]`` bounds for a batch of ``batch`` queries."""
    budget = block_elements or _BLOCK_ELEMENTS.get(device.type, _BLOCK_ELEMENTS_DEFAULT)
    width = max(1, min(num_ent, budget // max(1, batch)))
    starts = list(range(0, num_ent, width))
    bounds = torch.tensor(starts + [num_ent], dtype=torch.long, device=device)
    return starts, width, bounds


def stream_queries(
    scorer: Any,
    tails: bool,
    anchor: Tensor,
    rel: Tensor,
    num_ent: int,
    *,
    k: int = 0,
    targets: Tensor | None = None,
    known: tuple[Tensor, Tensor] | None = None,
    ties: str = "realistic",
    block_elements: int | None = None,
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """Top-``k`` candidates and the filtered rank of ``targets`` for a batch of queries, by entity blocks.

    No ``B x num_ent`` row is ever stored (for scorers that score entity blocks, i.e. every fast
    scorer): each block of candidates is scored, the known true pairs ``known`` (other than
    the target) are masked, the running top-``k`` is merged with the block's entries above the
    current ``k``-th score, and ``#(score > target)`` / ``#(score >= target)`` are counted.
    Returns ``(values, ids, ranks)``: ``(B, k)`` scores and entity ids, best first (masked or
    NaN candidates never enter; fewer than ``k`` candidates leave ``-inf`` / ``-1``), and float
    ranks with the tie policy of :class:`RankingEvaluator` (None where not asked for).
    Device-agnostic: everything stays on the scorer's device. On the CPU, a scorer with a
    :class:`~neuralkg_distil.kge.scoring.QueryForm` runs the fused kernel of
    :mod:`~neuralkg_distil.evaluation.cpu_kernels` (same results up to float32 rounding;
    ``block_elements`` then has no effect).
    """
    fused = _fused(scorer, tails, anchor, rel, num_ent, k, targets, known, ties)
    if fused is not None:
        return fused
    query = _Rows(scorer, tails, anchor, rel)
    batch = anchor.shape[0]
    starts, width, bounds = _entity_blocks(num_ent, batch, anchor.device, block_elements)
    counts = _TargetCounts(query, targets, bounds, ties) if targets is not None else None
    masked = _known_pairs(known, targets, bounds) if known is not None else None
    kk = min(int(k), num_ent)
    top = _TopK(batch, kk, anchor.device) if kk else None
    for b, lo in enumerate(starts):
        hi = min(lo + width, num_ent)
        block = query(slice(lo, hi))
        if masked is not None:
            masked.mask(block, b, lo)
        if top is not None:
            top.add(block, lo, hi)
        if counts is not None:
            counts.add(block, b, lo)
        del block
    values, ids = (top.values, top.ids) if top is not None else (None, None)
    return values, ids, (counts.ranks(num_ent) if counts is not None else None)


def _fused(scorer: Any, tails: bool, anchor: Tensor, rel: Tensor, num_ent: int, k: int, targets: Tensor | None,
           known: tuple[Tensor, Tensor] | None, ties: str) -> tuple[Tensor | None, Tensor | None, Tensor | None] | None:
    """:func:`stream_queries` by the fused CPU kernel of the scorer's query form, or None where there is none."""
    if anchor.device.type != "cpu" or not hasattr(scorer, "query_form") or anchor.numel() == 0:
        return None
    if not cpu_kernels.available():
        return None
    form = scorer.query_form(tails, anchor, rel)
    if form is None or not cpu_kernels.suits(form):
        return None
    values, ids, better, at_least, target_score = cpu_kernels.stream_form(form, num_ent, k, targets, known)
    ranks = _ranks_from_counts(better, at_least, target_score, ties, num_ent) if targets is not None else None
    return values, ids, ranks


def _merge(values: Tensor, ids: Tensor, block: Tensor, hit_rows: Tensor, hit_cols: Tensor, lo: int, k: int,
           row_map: Tensor) -> tuple[Tensor, Tensor]:
    """Merge the entries ``(hit_rows, hit_cols)`` (row-major order) of ``block``, whose row ``i`` is query
    ``row_map[i]``, into the running top-k."""
    local, counts = torch.unique_consecutive(hit_rows, return_counts=True)
    rows = row_map[local]
    width = int(counts.max())
    slot = torch.repeat_interleave(torch.arange(rows.numel(), device=rows.device), counts)
    pos = torch.arange(hit_rows.numel(), device=rows.device) - (torch.cumsum(counts, 0) - counts)[slot]
    pad_v = torch.full((rows.numel(), width), float("-inf"), dtype=values.dtype, device=values.device)
    pad_i = torch.full((rows.numel(), width), -1, dtype=torch.long, device=values.device)
    pad_v[slot, pos] = block[hit_rows, hit_cols]
    pad_i[slot, pos] = hit_cols + lo
    cand = torch.cat([values[rows], pad_v], dim=1)
    top, pick = cand.topk(k, dim=1)
    values[rows] = top
    ids[rows] = torch.cat([ids[rows], pad_i], dim=1).gather(1, pick)
    return values, ids


class RankingEvaluator:
    """Filtered link-prediction ranks and metrics (MR, MRR, Hits@k).

    For a test triple ``(h, r, t)`` the tail query ``(h, r, ?)`` ranks ``t``
    among all entities after removing every other ``e`` with ``(h, r, e)`` in
    the filter index (the target itself always stays); the head query
    ``(?, r, t)`` likewise.  Ranks are counted, not sorted:

    * ``optimistic``: ``1 + #(score > target)``
    * ``pessimistic``: ``1 + #(score >= target)`` over the other candidates
    * ``realistic`` (default): the mean of the two, i.e. the expected rank
      under a uniformly random order of tied candidates.

    With no ties all three agree with NeuralKG's ``link_predict``.  NaN
    scores of candidates never outrank the target; a NaN target score gets
    rank ``num_ent``.
    """

    def __init__(
        self,
        filter_index: FilterIndex,
        hits: Sequence[int] = (1, 3, 10),
        batch_size: int = 256,
        ties: str = "realistic",
        streaming: bool = True,
    ) -> None:
        if ties not in _TIES:
            raise ValueError(f"ties must be one of {', '.join(_TIES)}; got {ties!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        if any(int(k) < 1 for k in hits):
            raise ValueError(f"hits@k needs k >= 1, got {list(hits)}")
        self.filter_index = filter_index
        self.hits = tuple(int(k) for k in hits)
        self.batch_size = int(batch_size)
        self.ties = ties
        # True: score entity blocks and keep counts only (never a B x num_ent row);
        # False: the full-row reference path (score matrices of the scorer modified in place).
        self.streaming = bool(streaming)

    @classmethod
    def for_sampler(cls, sampler: Any, **kwargs: Any) -> "RankingEvaluator":
        """An evaluator filtering with every known triple (train, valid, test) of a NeuralKG sampler."""
        triples = torch.tensor(sorted(sampler.get_all_true_triples()), dtype=torch.long)
        return cls(FilterIndex.from_triples(triples, len(sampler.ent2id), len(sampler.rel2id)), **kwargs)

    @staticmethod
    def _as_scorer(model_or_scorer: nn.Module | Scorer) -> tuple[Scorer, torch.device | None]:
        # A module that implements the Scorer protocol itself is trusted to
        # score; only plain NeuralKG models go through scorer_for.
        if isinstance(model_or_scorer, Scorer):
            scorer = model_or_scorer
        elif isinstance(model_or_scorer, nn.Module):
            scorer = scorer_for(model_or_scorer)
        else:
            raise TypeError(
                f"expected a NeuralKG model or a Scorer, got {type(model_or_scorer).__name__}"
            )
        device = getattr(scorer, "device", None)
        if device is None and isinstance(scorer, nn.Module):
            device = next((p.device for p in scorer.parameters()), None)
        return scorer, device

    def ranks(
        self, model_or_scorer: nn.Module | Scorer, triples: LongTensor, progress: bool = False
    ) -> Tensor:
        """Filtered ranks as a float tensor of length ``2 * N``.

        Order: the tail ranks of all ``N`` triples, then their head ranks
        (NeuralKG's ``link_predict`` concatenates ``[tail, head]`` per batch,
        which is the same order when everything is one batch).  Computed under
        ``torch.no_grad`` on the scorer's device (its ``device`` attribute,
        else its parameters' device if it is a module, else ``triples``'
        device); the returned tensor is on the CPU.  Score matrices returned
        by the scorer are modified in place.
        """
        scorer, device = self._as_scorer(model_or_scorer)
        triples = torch.as_tensor(triples, dtype=torch.long).reshape(-1, 3)
        device = torch.device(device if device is not None else triples.device)
        index = self.filter_index.to(device)
        triples = triples.to(device)

        starts = range(0, triples.shape[0], self.batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="ranking", unit="batch")
        tail_ranks, head_ranks = [], []
        num_ent = index.num_ent
        with torch.no_grad():
            for start in starts:
                h, r, t = triples[start : start + self.batch_size].unbind(1)
                if self.streaming:
                    _, _, ranks = stream_queries(scorer, True, h, r, num_ent, targets=t, known=index.tails_of(h, r), ties=self.ties)
                    tail_ranks.append(ranks.cpu())
                    _, _, ranks = stream_queries(scorer, False, t, r, num_ent, targets=h, known=index.heads_of(r, t), ties=self.ties)
                    head_ranks.append(ranks.cpu())
                    continue
                scores = scorer.score_tails(h, r)
                tail_ranks.append(_filtered_ranks(scores, t, index.tails_of(h, r), self.ties).cpu())
                del scores  # free one B x num_ent matrix before building the next
                scores = scorer.score_heads(r, t)
                head_ranks.append(_filtered_ranks(scores, h, index.heads_of(r, t), self.ties).cpu())
                del scores
        return torch.cat(tail_ranks + head_ranks) if tail_ranks else torch.empty(0)

    def evaluate(
        self, model_or_scorer: nn.Module | Scorer, triples: LongTensor, progress: bool = False
    ) -> dict[str, float]:
        """``{"mr", "mrr", "hits@k"...}`` over head and tail queries of ``triples``."""
        return self.metrics(self.ranks(model_or_scorer, triples, progress), self.hits)

    @staticmethod
    def metrics(ranks: Tensor, hits: Sequence[int] = (1, 3, 10)) -> dict[str, float]:
        """Mean rank, mean reciprocal rank and Hits@k (fractions) of ``ranks``.

        Computed in float64 and returned as unrounded Python floats; an empty
        ``ranks`` gives NaN for every metric.
        """
        ranks = torch.as_tensor(ranks).to(torch.float64).reshape(-1)
        if ranks.numel() == 0:
            nan = float("nan")
            return {"mr": nan, "mrr": nan, **{f"hits@{int(k)}": nan for k in hits}}
        out = {"mr": ranks.mean().item(), "mrr": ranks.reciprocal().mean().item()}
        for k in hits:
            out[f"hits@{int(k)}"] = (ranks <= k).to(torch.float64).mean().item()
        return out
