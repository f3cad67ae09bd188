"""Fused CPU kernels for streamed link prediction: score, mask, top-k and rank in one pass.

:func:`~neuralkg_distil.evaluation.ranking.stream_queries` on the CPU with torch ops writes
every block of scores to memory and reads it back three or four times (top-k test, filter,
rank counts), and pays a dispatch per op per block. Below 32 dimensions that fixed traffic,
not the arithmetic, is the cost, so a student 8x smaller was only 1.7x faster (ComplEx, WN18RR).
Here each query's scores of one cache-sized entity tile are computed into a small buffer and
consumed while they are still in L1: known pairs masked, the running top-k updated (only
when an entry beats the current k-th score), ``#(score > target)`` and ``#(score >= target)``
counted. Nothing of size ``B x num_ent`` exists, and the time falls with the dimension.

The kernels are compiled with numba (an optional dependency, in ``requirements.txt``); without
it, or for a model whose scorer has no :class:`~neuralkg_distil.kge.scoring.QueryForm`, the
torch path runs. ``NEURALKG_DISTIL_KERNELS=0`` turns them off.

Exactness: each score is a float32 sum in a fixed order (not the order of BLAS), so scores
can differ from the torch path's in the last bits, and a near-tie may rank differently. The
target's own score is computed by the same tile code at the same position, so a candidate
that equals the target (a duplicate entity) ties with it exactly, as on the torch path.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from neuralkg_distil import kernels

__all__ = ["available", "unavailable_reason", "stream_form", "suits", "KINDS"]

KINDS = ("dot", "l1", "l1_hyperplane", "modulus")
_MODULE = "neuralkg_distil.evaluation.numba_kernels"


def available() -> bool:
    """Whether the fused stream can run here (numba and its kernel module importable, not switched off)."""
    return kernels.available(_MODULE)


def unavailable_reason() -> str | None:
    """Why :func:`available` is False (None when it is True)."""
    return kernels.unavailable_reason(_MODULE)


# Above this query width a dot product is faster as BLAS matrix products on the torch path
# (ComplEx, WN18RR, 1,024 queries, 2 threads, fused vs torch: width 128: 202 vs 252 ms, 192: 347 vs
# 295 ms, 500: 901 vs 688 ms). Distances have no BLAS form: the kernels always win there.
DOT_MAX_WIDTH = 160


def suits(form: Any) -> bool:
    """Whether the fused kernel is the faster path for ``form``."""
    return not (form.kind == "dot" and form.queries.shape[1] > DOT_MAX_WIDTH)


def _known_csr(known: tuple[Tensor, Tensor] | None, rows: int, num_ent: int, targets: Tensor | None) -> tuple[np.ndarray, np.ndarray]:
    """Per query row, its sorted known entities (less its own target): CSR ``(ptr, cols)``."""
    if known is None:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    k_rows, k_cols = (x.to("cpu", torch.long) for x in known)
    if targets is not None:
        keep = k_cols != targets[k_rows]
        k_rows, k_cols = k_rows[keep], k_cols[keep]
    order = torch.sort(k_rows * num_ent + k_cols).values
    cols = (order % num_ent).numpy()
    counts = torch.bincount(order // num_ent, minlength=rows)
    ptr = torch.zeros(rows + 1, dtype=torch.long)
    torch.cumsum(counts, 0, out=ptr[1:])
    return ptr.numpy(), np.ascontiguousarray(cols)


def stream_form(form: Any, num_ent: int, k: int, targets: Tensor | None,
                known: tuple[Tensor, Tensor] | None, tile_width: int | None = None) -> tuple[Tensor | None, Tensor | None, Tensor | None, Tensor | None, Tensor | None]:
    """Run the fused kernel of a :class:`~neuralkg_distil.kge.scoring.QueryForm`.

    Returns ``(values, ids, better, at_least, target_score)``: the ``(B, k)`` top-k (None when
    ``k`` is 0) and, with ``targets``, the per-query counts and target scores (else None).
    ``tile_width`` (entities per tile) is chosen from the dimension unless given (tests).
    """
    stream = kernels.load(_MODULE).stream
    queries = kernels.as_float32(form.queries)
    cols = form.columns.numpy()
    rows = queries.shape[0]
    aux = (kernels.as_float32(form.aux) if form.aux is not None
           else np.empty((rows, 0), np.float32))
    post = np.array([form.mult, form.add, form.lo, form.hi], np.float32)
    kk = min(int(k), num_ent)
    top_v = np.full((rows, max(kk, 1)), -np.inf, np.float32)
    top_i = np.full((rows, max(kk, 1)), -1, np.int64)
    t = targets.to("cpu", torch.long) if targets is not None else None
    t_np = np.ascontiguousarray(t.numpy()) if t is not None else np.empty(0, np.int64)
    target_score = np.zeros(rows, np.float32)
    better = np.zeros(rows, np.int64)
    at_least = np.zeros(rows, np.int64)
    ptr, kcols = _known_csr(known, rows, num_ent, t)
    width = int(tile_width) if tile_width else kernels.tile_width(queries.shape[1])
    with kernels.torch_threads():
        stream(KINDS.index(form.kind), queries, cols, aux, width, 8, post, kk, top_v, top_i, t_np,
                          target_score, ptr, kcols, better, at_least)
    values = ids = None
    if kk:
        values, ids = torch.from_numpy(top_v), torch.from_numpy(top_i)
    if t is None:
        return values, ids, None, None, None
    return values, ids, torch.from_numpy(better), torch.from_numpy(at_least), torch.from_numpy(target_score)
