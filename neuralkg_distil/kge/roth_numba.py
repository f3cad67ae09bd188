"""The numba kernel behind :mod:`neuralkg_distil.kge.roth_topk` (imported only when numba is).

Module-level and closure-free, like :mod:`neuralkg_distil.kernels.tiles`, so numba's on-disk
cache serves later processes. Every constant is float32: a Python float would promote the tile loops
to float64 and halve their vector width.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from neuralkg_distil.kernels.tiles import tile_dot

ONE, TWO = np.float32(1.0), np.float32(2.0)
SLACK = np.float32(1.0 + 1e-4)  # widens the bound: float32 rounding never rejects a true top-k entity


@njit(cache=True)
def trim(bv, bi, n, k):  # pragma: no cover - compiled
    """Move the ``k`` largest of ``bv[:n]`` (and their ids) to the front, in place (Wirth's selection,
    no allocation); return the k-th value."""
    lo, hi, kk = 0, n - 1, k - 1
    while lo < hi:
        pivot = bv[kk]
        i, j = lo, hi
        while True:
            while bv[i] > pivot:
                i += 1
            while pivot > bv[j]:
                j -= 1
            if i <= j:
                bv[i], bv[j] = bv[j], bv[i]
                bi[i], bi[j] = bi[j], bi[i]
                i += 1
                j -= 1
            if i > j:
                break
        if j < kk:
            lo = i
        if kk < i:
            hi = j
    return bv[kk]


@njit(cache=True)
def bound_of(c, reach, d_cap):  # pragma: no cover - compiled
    """The largest ``c * n^2`` whose distance stays under ``sqrt(reach)`` (inf where the clamp sets d)."""
    half = 0.5 * math.sqrt(c * reach)
    if half >= d_cap:
        return np.float32(np.inf)
    th = math.tanh(half)
    return np.float32(th * th) * SLACK


@njit(fastmath={"contract"}, cache=True)
def tile_terms(dots, gain, y2, c, x2, w, nums, dens, min_norm):  # pragma: no cover - compiled
    """``<x, y>`` -> the numerator and squared denominator of ``n^2`` (vectorised, no transcendental)."""
    c2 = c * c
    bb = ONE - c * x2
    for e in range(w):
        xy = gain[e] * dots[e]
        a = ONE - TWO * c * xy + c * y2[e]
        den = max(ONE - TWO * c * xy + c2 * x2 * y2[e], min_norm)
        nums[e] = a * a * x2 - TWO * a * bb * xy + bb * bb * y2[e]
        dens[e] = den * den


@njit(cache=True)
def push_survivors(nums, dens, w, t0, c, bound, bias_row, bias, k, tiny, top, bv, bi, n, T):  # pragma: no cover - compiled
    """Score exactly the tile's entities inside the bound; keep those above the running k-th score ``T``.
    Returns the buffer's new length and ``T``."""
    sqrt_c = np.float32(math.sqrt(c))
    cap = bv.shape[0]
    for e in range(w):
        if not c * nums[e] < bound * dens[e]:
            continue
        n2 = max(nums[e] / dens[e], tiny)
        z = min(sqrt_c * np.float32(math.sqrt(n2)), top)
        d = TWO / sqrt_c * np.float32(math.atanh(z))
        v = bias_row + bias[e] - d * d
        if v > T:
            bv[n] = v
            bi[n] = t0 + e
            n += 1
            if n == k and T == -np.inf:
                T = bv[:k].min()
            elif n == cap:
                T = trim(bv, bi, n, k)
                n = k
    return n, T


@njit(cache=True)
def finish_row(bv, bi, n, k, out_v, out_i):  # pragma: no cover - compiled
    """The buffer's best ``k``, best first, into one output row."""
    if n > k:
        trim(bv, bi, n, k)
        n = k
    order = np.argsort(-bv[:n], kind="mergesort")
    for j in range(n):
        out_v[j] = bv[order[j]]
        out_i[j] = bi[order[j]]


@njit(cache=True)
def row_buffers(n, k):  # pragma: no cover - compiled
    """A group's ``n`` rows: buffers of ``2k`` values and ids, their fill counts and running k-th scores."""
    return (np.empty((n, 2 * k), np.float32), np.full((n, 2 * k), -1, np.int64), np.zeros(n, np.int64),
            np.full(n, -np.inf, np.float32))


@njit(cache=True)
def tile_bound(thr, bias_row, tile_bmax, c, d_cap):  # pragma: no cover - compiled
    """The bound of one row on one tile (inf before the row's buffer holds k); -1 when no entity of the tile,
    nor of a later one (biases fall), can beat the row's k-th score."""
    if thr == -np.inf:
        return np.float32(np.inf)
    reach = bias_row + tile_bmax - thr
    if reach <= 0:
        return np.float32(-1.0)
    return bound_of(c, reach, d_cap)


@njit(parallel=True, cache=True)
def topk(x, cols, gain, y2, x2, c, bias_row, bias_ent, tile_bmax, width, group, k, eps, min_norm,
         out_v, out_i):  # pragma: no cover - compiled
    """Top-``k`` of every row, groups of ``group`` rows in parallel sharing each entity tile in cache."""
    rows, num_ent = x.shape[0], cols.shape[1]
    d_cap = math.atanh(1.0 - eps)
    top, tiny, floor = np.float32(1.0 - eps), np.float32(min_norm * min_norm), np.float32(min_norm)
    for gi in prange((rows + group - 1) // group):
        g0 = gi * group
        g1 = min(rows, g0 + group)
        bv, bi, count, thr = row_buffers(g1 - g0, k)
        dots, nums, dens = np.empty(width, np.float32), np.empty(width, np.float32), np.empty(width, np.float32)
        for t0 in range(0, num_ent, width):
            w = min(num_ent, t0 + width) - t0
            for b in range(g0, g1):
                s = b - g0
                bound = tile_bound(thr[s], bias_row[b], tile_bmax[t0 // width], c, d_cap)
                if bound < 0:
                    continue
                tile_dot(x[b], cols, cols, t0, w, dots)
                tile_terms(dots, gain[t0:t0 + w], y2[t0:t0 + w], c, x2[b], w, nums, dens, floor)
                count[s], thr[s] = push_survivors(nums, dens, w, t0, c, bound, bias_row[b], bias_ent[t0:t0 + w], k,
                                                  tiny, top, bv[s], bi[s], count[s], thr[s])
        for b in range(g0, g1):
            finish_row(bv[b - g0], bi[b - g0], count[b - g0], k, out_v[b], out_i[b])


@njit(fastmath={"contract"}, cache=True)
def head_terms(ev, ey, gain, e2, c, v2, y2, vy, limit, w, nums, dens, min_norm, tiny):  # pragma: no cover - compiled
    """Candidate heads: ``<e, Rot^-1 v>``, ``<e, Rot^-1 y>`` and ``|e|^2`` -> the numerator and squared
    denominator of ``n^2 = |(-q) (+) y|^2`` with ``q = proj(exp0(Rot e) (+) v)`` (as ``roth._head_distance``)."""
    c2 = c * c
    for e in range(w):
        g = gain[e]
        uv, uy, u2 = g * ev[e], g * ey[e], g * g * e2[e]
        a = ONE + TWO * c * uv + c * v2
        b = ONE - c * u2
        den = max(ONE + TWO * c * uv + c2 * u2 * v2, min_norm)
        q2 = (a * a * u2 + TWO * a * b * uv + b * b * v2) / (den * den)
        qy = (a * uy + b * vy) / den
        s = min(ONE, limit / np.float32(math.sqrt(max(q2, tiny))))  # the projection back inside the ball
        qy, q2 = s * qy, s * s * q2
        aa = ONE - TWO * c * qy + c * y2
        bb = ONE - c * q2
        dd = max(ONE - TWO * c * qy + c2 * q2 * y2, min_norm)
        nums[e] = aa * aa * q2 - TWO * aa * bb * qy + bb * bb * y2
        dens[e] = dd * dd


@njit(parallel=True, cache=True)
def topk_heads(zv, wy, cols, e2, gains, group_of_row, c_row, v2, y2, vy, bias_row, bias_ent, tile_bmax, width, group,
               k, eps, min_norm, out_v, out_i):  # pragma: no cover - compiled
    """Top-``k`` heads of every row ``(?, r_b, t_b)``: each entity's query under the row's relation from two dot
    products (``zv[b] = Rot^-1 exp0(trans)``, ``wy[b] = Rot^-1 exp0(t_b)``), ``gains[group_of_row[b]]`` its exp0
    gain at the row's curvature; tiles, bound and buffer as :func:`topk`."""
    rows, num_ent = zv.shape[0], cols.shape[1]
    d_cap = math.atanh(1.0 - eps)
    top, tiny, floor = np.float32(1.0 - eps), np.float32(min_norm * min_norm), np.float32(min_norm)
    for gi in prange((rows + group - 1) // group):
        g0 = gi * group
        g1 = min(rows, g0 + group)
        bv, bi, count, thr = row_buffers(g1 - g0, k)
        ev, ey = np.empty(width, np.float32), np.empty(width, np.float32)
        nums, dens = np.empty(width, np.float32), np.empty(width, np.float32)
        for t0 in range(0, num_ent, width):
            w = min(num_ent, t0 + width) - t0
            for b in range(g0, g1):
                s = b - g0
                c = c_row[b]
                bound = tile_bound(thr[s], bias_row[b], tile_bmax[t0 // width], c, d_cap)
                if bound < 0:
                    continue
                tile_dot(zv[b], cols, cols, t0, w, ev)
                tile_dot(wy[b], cols, cols, t0, w, ey)
                limit = (ONE - np.float32(eps)) / np.float32(math.sqrt(c))
                head_terms(ev, ey, gains[group_of_row[b], t0:t0 + w], e2[t0:t0 + w], c, v2[b], y2[b], vy[b], limit, w,
                           nums, dens, floor, tiny)
                count[s], thr[s] = push_survivors(nums, dens, w, t0, c, bound, bias_row[b], bias_ent[t0:t0 + w], k,
                                                  tiny, top, bv[s], bi[s], count[s], thr[s])
        for b in range(g0, g1):
            finish_row(bv[b - g0], bi[b - g0], count[b - g0], k, out_v[b], out_i[b])
