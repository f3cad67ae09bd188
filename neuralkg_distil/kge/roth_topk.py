"""RotH's all-entity top-k without a score matrix: a fused CPU kernel (numba) for the MulDE junior's candidates.

The torch path (:meth:`RotHScorer.score_tails` then ``topk``) writes a ``B x num_ent`` score matrix
through a dozen elementwise passes and sorts it: a RotH-32 junior's top 500 of 1,024 queries over
WN18RR's 40,943 entities took 1.2-1.5 s on one thread, most of a MulDE step. Here each query streams the
entities in cache-sized tiles, rejects most of them with a bound that needs only the dot product (no
``artanh``), scores the rest exactly and keeps them in a buffer of ``2k`` trimmed by selection.

The bound: a score is ``b_q + b_e - d^2`` with ``d = 2 / sqrt(c) * artanh(sqrt(c) * n)`` increasing in
``n = |(-x) (+) y|``. An entity can beat the running k-th score ``T`` only if
``d^2 < b_q + max(b_e over the tile) - T =: R``, that is ``c * n^2 < tanh(sqrt(c * R) / 2)^2``, and
``c * n^2`` is a ratio of two polynomials in ``<x, y>``, ``|x|^2`` and ``|y|^2``. The test is widened by a
relative 1e-4 so float32 rounding never rejects an entity that belongs in the top k, and switched off
where ``R`` reaches the distance cap (there the clamp, not ``n``, sets ``d``).

Exactness: the kept scores are float32 computed in the torch path's order of operations, but the dot
product is summed in a fixed order (not BLAS's), so a score can differ from the torch path's in the
last bits and a near-tie may be kept in a different order or swapped at the k-th place.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from neuralkg_distil import kernels
from neuralkg_distil.kernels import as_float32 as _np32

_MODULE = "neuralkg_distil.kge.roth_numba"


def available() -> bool:
    """Whether the kernel can run (numba and its module importable, the kernels not switched off)."""
    return kernels.available(_MODULE)


class SortedEntities:
    """The entity side of a call, in decreasing bias: a tile's largest bias is then close to all of its
    biases (the bound stays tight where biases, not distances, spread the scores), the k-th score rises
    fastest, and once a tile cannot beat it no later tile can. ``order[j]``: the entity at position j."""

    def __init__(self, bias: Tensor, dim: int, tile_width: Optional[int] = None) -> None:
        bias = bias.detach().reshape(-1).to("cpu", torch.float32)
        self.order = torch.argsort(bias, descending=True)
        self.bias = np.ascontiguousarray(bias[self.order].numpy())
        self.width = int(tile_width) if tile_width else kernels.tile_width(dim)
        pad = (-self.bias.shape[0]) % self.width
        padded = np.concatenate([self.bias, np.full(pad, -np.inf, np.float32)])
        self.tile_bmax = np.ascontiguousarray(padded.reshape(-1, self.width).max(1))


def hyperbolic_topk(x: Tensor, columns: Tensor, gain: Optional[Tensor], y2: Tensor, c: float, bias_row: Tensor,
                    entities: SortedEntities, k: int, *, eps: float, min_norm: float) -> Tuple[Tensor, Tensor]:
    """The ``k`` best ``bias_row[b] + bias[e] - d_c(x_b, y_e)^2`` per row, best first: ``(B, k)`` values and
    entity ids.

    ``x``: ``(B, d)`` points on the ball; ``columns``: ``(d, N)`` entity vectors in ``entities.order``, with
    ``y_e = gain[e] * columns[:, e]`` (``gain`` None: 1); ``y2``: ``|y_e|^2`` in that order; ``c``: the
    curvature, the same for every row.
    """
    kernel = kernels.load(_MODULE).topk
    num_ent = int(columns.shape[1])
    k = min(int(k), num_ent)
    gain_np = _np32(gain) if gain is not None else np.ones(num_ent, np.float32)
    xs = _np32(x)
    out_v = np.full((xs.shape[0], k), -np.inf, np.float32)
    out_i = np.full((xs.shape[0], k), -1, np.int64)
    with kernels.torch_threads():
        kernel(xs, _np32(columns), gain_np, _np32(y2.reshape(-1)), _np32((x * x).sum(-1)), np.float32(c),
               _np32(bias_row.reshape(-1)), entities.bias, entities.tile_bmax, entities.width, 8, k,
               float(eps), float(min_norm), out_v, out_i)
    return torch.from_numpy(out_v), entities.order[torch.from_numpy(out_i)]


def hyperbolic_topk_heads(zv: Tensor, wy: Tensor, columns: Tensor, e2: Tensor, gains: Tensor, group_of_row: Tensor,
                          c: Tensor, v2: Tensor, y2: Tensor, vy: Tensor, bias_row: Tensor, entities: SortedEntities,
                          k: int, *, eps: float, min_norm: float) -> Tuple[Tensor, Tensor]:
    """The ``k`` best heads per row, best first: ``(B, k)`` values and entity ids, every row in one call.

    ``columns``: ``(d, N)`` tangent entity vectors in ``entities.order`` and ``e2`` their squared norms;
    per row ``b``: ``zv[b] = Rot_b^-1 v_b`` and ``wy[b] = Rot_b^-1 y_b`` (``v`` the relation's translation and
    ``y`` the tail on the ball), ``c[b]`` its curvature, ``v2``, ``y2``, ``vy`` the norms and product of
    ``v`` and ``y``, ``bias_row[b]`` the tail's bias; ``gains[group_of_row[b]]`` the exp0 gain of every
    entity at that curvature (one row per distinct relation)."""
    kernel = kernels.load(_MODULE).topk_heads
    num_ent = int(columns.shape[1])
    k = min(int(k), num_ent)
    rows = zv.shape[0]
    out_v = np.full((rows, k), -np.inf, np.float32)
    out_i = np.full((rows, k), -1, np.int64)
    flat = [_np32(x.reshape(-1)) for x in (c, v2, y2, vy, bias_row)]
    with kernels.torch_threads():
        kernel(_np32(zv), _np32(wy), _np32(columns), _np32(e2.reshape(-1)), _np32(gains),
               np.ascontiguousarray(group_of_row.to(torch.long).numpy()), *flat, entities.bias, entities.tile_bmax,
               entities.width, 8, k, float(eps), float(min_norm), out_v, out_i)
    return torch.from_numpy(out_v), entities.order[torch.from_numpy(out_i)]
