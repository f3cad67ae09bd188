"""Tile primitives shared by the compiled kernels of several packages (imported only when numba is).

A tile is ``w`` consecutive entities of a ``(dim, N)`` column table; a primitive writes one query's
``w`` partial results into ``out``. Module-level and closure-free so numba's on-disk cache serves later
processes.
"""
from __future__ import annotations

from numba import njit

# 'contract' lets the tile loops use FMA; no reassociation and no 'nnan': the masking relies on
# NaN comparing false.
tile_math = {"contract"}


@njit(fastmath=tile_math, cache=True)
def tile_dot(q, cols, aux, e0, w, out):  # pragma: no cover - compiled
    # Columns 8 (then 4, then 1) at a time: one load and store of out per group.
    dim = q.shape[0]
    e1 = e0 + w
    d = 0
    first = True
    while d + 8 <= dim:
        a0, a1, a2, a3, a4, a5, a6, a7 = q[d], q[d + 1], q[d + 2], q[d + 3], q[d + 4], q[d + 5], q[d + 6], q[d + 7]
        c0, c1, c2, c3 = cols[d, e0:e1], cols[d + 1, e0:e1], cols[d + 2, e0:e1], cols[d + 3, e0:e1]
        c4, c5, c6, c7 = cols[d + 4, e0:e1], cols[d + 5, e0:e1], cols[d + 6, e0:e1], cols[d + 7, e0:e1]
        if first:
            for e in range(w):
                out[e] = (a0 * c0[e] + a1 * c1[e] + a2 * c2[e] + a3 * c3[e]) + (a4 * c4[e] + a5 * c5[e] + a6 * c6[e] + a7 * c7[e])
        else:
            for e in range(w):
                out[e] += (a0 * c0[e] + a1 * c1[e] + a2 * c2[e] + a3 * c3[e]) + (a4 * c4[e] + a5 * c5[e] + a6 * c6[e] + a7 * c7[e])
        first = False
        d += 8
    while d + 4 <= dim:
        a0, a1, a2, a3 = q[d], q[d + 1], q[d + 2], q[d + 3]
        c0, c1, c2, c3 = cols[d, e0:e1], cols[d + 1, e0:e1], cols[d + 2, e0:e1], cols[d + 3, e0:e1]
        if first:
            for e in range(w):
                out[e] = a0 * c0[e] + a1 * c1[e] + a2 * c2[e] + a3 * c3[e]
        else:
            for e in range(w):
                out[e] += a0 * c0[e] + a1 * c1[e] + a2 * c2[e] + a3 * c3[e]
        first = False
        d += 4
    if first:
        for e in range(w):
            out[e] = 0.0
    while d < dim:
        a0 = q[d]
        c0 = cols[d, e0:e1]
        for e in range(w):
            out[e] += a0 * c0[e]
        d += 1
