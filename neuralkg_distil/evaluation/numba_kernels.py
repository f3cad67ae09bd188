"""The numba kernels behind :mod:`neuralkg_distil.evaluation.cpu_kernels` (imported only when numba is).

Every function is module-level and closure-free so that numba's on-disk cache (``cache=True``)
serves later processes: a fresh process then pays about a second to load them, not a compile.
Inner loops index views from 0 (``buf[c0:c1]``, ``cols[d, e0:e1]``): LLVM vectorises those,
not ``range(e0, e1)`` loops, whose indices it cannot prove non-negative (measured 6-8x).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from neuralkg_distil.kernels.tiles import tile_dot, tile_math

_CHUNK = 64  # entries per recount in the top-k merge

# The kinds of cpu_kernels.KINDS, in order.
DOT, L1, L1_HYPERPLANE, MODULUS = 0, 1, 2, 3


@njit(fastmath=tile_math, cache=True)
def tile_l1(q, cols, aux, e0, w, out):  # pragma: no cover - compiled
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
                out[e] = ((abs(a0 - c0[e]) + abs(a1 - c1[e])) + (abs(a2 - c2[e]) + abs(a3 - c3[e]))) + (
                    (abs(a4 - c4[e]) + abs(a5 - c5[e])) + (abs(a6 - c6[e]) + abs(a7 - c7[e])))
        else:
            for e in range(w):
                out[e] += ((abs(a0 - c0[e]) + abs(a1 - c1[e])) + (abs(a2 - c2[e]) + abs(a3 - c3[e]))) + (
                    (abs(a4 - c4[e]) + abs(a5 - c5[e])) + (abs(a6 - c6[e]) + abs(a7 - c7[e])))
        first = False
        d += 8
    if first:
        for e in range(w):
            out[e] = 0.0
    while d < dim:
        a0 = q[d]
        c0 = cols[d, e0:e1]
        for e in range(w):
            out[e] += abs(a0 - c0[e])
        d += 1


@njit(fastmath=tile_math, cache=True)
def tile_l1_hyperplane(q, cols, normal, e0, w, out):  # pragma: no cover - compiled
    """TransH: ``|q - (e - (n . e) n)|_1``, the entity projected on the query's hyperplane."""
    dim = q.shape[0]
    e1 = e0 + w
    proj = out[w:2 * w]  # the caller's buffer is 2 x width long
    tile_dot(normal, cols, normal, e0, w, proj)
    d = 0
    first = True
    while d + 4 <= dim:
        a0, a1, a2, a3 = q[d], q[d + 1], q[d + 2], q[d + 3]
        n0, n1, n2, n3 = normal[d], normal[d + 1], normal[d + 2], normal[d + 3]
        c0, c1, c2, c3 = cols[d, e0:e1], cols[d + 1, e0:e1], cols[d + 2, e0:e1], cols[d + 3, e0:e1]
        if first:
            for e in range(w):
                p = proj[e]
                out[e] = (abs(a0 - (c0[e] - p * n0)) + abs(a1 - (c1[e] - p * n1))) + (
                    abs(a2 - (c2[e] - p * n2)) + abs(a3 - (c3[e] - p * n3)))
        else:
            for e in range(w):
                p = proj[e]
                out[e] += (abs(a0 - (c0[e] - p * n0)) + abs(a1 - (c1[e] - p * n1))) + (
                    abs(a2 - (c2[e] - p * n2)) + abs(a3 - (c3[e] - p * n3)))
        first = False
        d += 4
    if first:
        for e in range(w):
            out[e] = 0.0
    while d < dim:
        a0 = q[d]
        n0 = normal[d]
        c0 = cols[d, e0:e1]
        for e in range(w):
            out[e] += abs(a0 - (c0[e] - proj[e] * n0))
        d += 1


@njit(fastmath=tile_math, cache=True)
def tile_modulus(q, cols, aux, e0, w, out):  # pragma: no cover - compiled
    # RotatE: sum_i |q_i - e_i| over complex coordinates stored [re | im].
    half = q.shape[0] // 2
    for e in range(w):
        out[e] = 0.0
    d = 0
    while d + 2 <= half:
        r0, r1 = q[d], q[d + 1]
        i0, i1 = q[half + d], q[half + d + 1]
        cr0, cr1 = cols[d, e0:e0 + w], cols[d + 1, e0:e0 + w]
        ci0, ci1 = cols[half + d, e0:e0 + w], cols[half + d + 1, e0:e0 + w]
        for e in range(w):
            x0 = r0 - cr0[e]
            y0 = i0 - ci0[e]
            x1 = r1 - cr1[e]
            y1 = i1 - ci1[e]
            out[e] += np.sqrt(x0 * x0 + y0 * y0) + np.sqrt(x1 * x1 + y1 * y1)
        d += 2
    while d < half:
        r0 = q[d]
        i0 = q[half + d]
        cr0 = cols[d, e0:e0 + w]
        ci0 = cols[half + d, e0:e0 + w]
        for e in range(w):
            x0 = r0 - cr0[e]
            y0 = i0 - ci0[e]
            out[e] += np.sqrt(x0 * x0 + y0 * y0)
        d += 1


# TransE at 8 dimensions: the whole entity column fits in registers, so the score is finished
# and counted in the loop that sums it, with no second pass over the tile (``finish``), which
# was a third of the time there. Measured per score, one thread, paired, best of 16 beside two
# trainings: 0.63 -> 0.47 ns. The same one pass for TransH-8 (projection and distance together)
# measured no faster (1.17 vs 1.14 ns) and is not kept; wider models keep the column groups and
# ``finish``, whose pass is a small part of their time.


@njit(fastmath=tile_math, cache=True)
def finished_l1_8(q, cols, e0, w, out, post, thr):  # pragma: no cover - compiled
    """``tile_l1`` and ``finish`` in one loop for an 8-dim query; how many beat ``thr``."""
    mult, add, lo, hi = post[0], post[1], post[2], post[3]
    e1 = e0 + w
    a0, a1, a2, a3, a4, a5, a6, a7 = q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]
    c0, c1, c2, c3 = cols[0, e0:e1], cols[1, e0:e1], cols[2, e0:e1], cols[3, e0:e1]
    c4, c5, c6, c7 = cols[4, e0:e1], cols[5, e0:e1], cols[6, e0:e1], cols[7, e0:e1]
    seg = out[:w]
    total = 0
    for e in range(w):
        v = (((abs(a0 - c0[e]) + abs(a1 - c1[e])) + (abs(a2 - c2[e]) + abs(a3 - c3[e]))) + (
            (abs(a4 - c4[e]) + abs(a5 - c5[e])) + (abs(a6 - c6[e]) + abs(a7 - c7[e])))) * mult + add
        v = lo if v < lo else v
        v = hi if v > hi else v
        seg[e] = v
        total += v > thr
    return total


@njit(cache=True)
def finish(buf, w, mult, add, lo, hi, threshold):  # pragma: no cover - compiled
    """Raw sums -> scores in place; returns how many beat ``threshold`` (NaN never does).
    One loop over the tile (per-chunk counts cost more than they saved at 8 dimensions);
    :func:`merge` finds the chunks."""
    seg = buf[:w]
    total = 0
    for e in range(w):
        v = seg[e] * mult + add
        v = lo if v < lo else v
        v = hi if v > hi else v
        seg[e] = v
        total += v > threshold
    return total


@njit(cache=True)
def merge(buf, w, e0, k, top_v, top_i):  # pragma: no cover - compiled
    """Insert the chunks' entries that beat the running k-th score (ties keep the earlier entity)."""
    kth = top_v[k - 1]
    for c0 in range(0, w, _CHUNK):
        seg = buf[c0:min(w, c0 + _CHUNK)]
        n = 0
        for e in range(seg.shape[0]):  # recount against the k-th score as it is now (vectorised)
            n += seg[e] > kth
        if n == 0:
            continue
        for e in range(c0, c0 + seg.shape[0]):
            v = buf[e]
            if v > kth:
                j = k - 1
                while j > 0 and top_v[j - 1] < v:
                    top_v[j] = top_v[j - 1]
                    top_i[j] = top_i[j - 1]
                    j -= 1
                top_v[j] = v
                top_i[j] = e0 + e
                kth = top_v[k - 1]


@njit(cache=True)
def tile(kind, q, cols, aux, e0, w, out, post, thr):  # pragma: no cover - compiled
    """Scores of query ``q`` against entities ``e0 .. e0 + w`` into ``out[:w]``; how many beat ``thr``."""
    dim = q.shape[0]
    if kind == L1 and dim == 8:
        return finished_l1_8(q, cols, e0, w, out, post, thr)
    if kind == DOT:
        tile_dot(q, cols, aux, e0, w, out)
    elif kind == L1:
        tile_l1(q, cols, aux, e0, w, out)
    elif kind == L1_HYPERPLANE:
        tile_l1_hyperplane(q, cols, aux, e0, w, out)
    else:
        tile_modulus(q, cols, aux, e0, w, out)
    return finish(out, w, post[0], post[1], post[2], post[3], thr)


@njit(cache=True)
def mask_known(buf, e0, e1, cursor, end, known_cols):  # pragma: no cover - compiled
    """NaN over the known entities in ``e0 .. e1`` from ``known_cols[cursor:end]`` (sorted); the new cursor."""
    p = cursor
    while p < end and known_cols[p] < e1:
        buf[known_cols[p] - e0] = np.nan
        p += 1
    return p


@njit(cache=True)
def count_target(buf, w, ts):  # pragma: no cover - compiled
    """``#(score > ts)`` and ``#(score >= ts)`` over ``buf[:w]`` (NaN counts in neither)."""
    n_gt = 0
    n_ge = 0
    for e in range(w):
        v = buf[e]
        n_gt += v > ts
        n_ge += v >= ts
    return n_gt, n_ge


@njit(cache=True)
def target_score_of(kind, q, cols, aux, t, width, post, buf):  # pragma: no cover - compiled
    """The score of entity ``t`` by the same tile code, at the same position, as the main pass."""
    num_ent = cols.shape[1]
    t0 = (t // width) * width
    tw = min(num_ent, t0 + width) - t0
    tile(kind, q, cols, aux, t0, tw, buf, post, np.float32(np.inf))
    return buf[t - t0]


@njit(parallel=True, cache=True)
def stream(kind, queries, cols, aux, width, group, post, k, top_v, top_i,
           targets, target_score, known_ptr, known_cols, better, at_least):  # pragma: no cover - compiled
    """Top-k and target counts of every query row, groups of ``group`` rows in parallel."""
    rows = queries.shape[0]
    num_ent = cols.shape[1]
    have_targets = targets.shape[0] > 0
    have_known = known_ptr.shape[0] > 0
    inf32 = np.float32(np.inf)
    for gi in prange((rows + group - 1) // group):
        g0 = gi * group
        g1 = min(rows, g0 + group)
        buf = np.empty(2 * width, np.float32)  # the second half: TransH's projections
        cursor = np.zeros(g1 - g0, np.int64)
        for b in range(g0, g1):
            if have_known:
                cursor[b - g0] = known_ptr[b]
            if have_targets:
                target_score[b] = target_score_of(kind, queries[b], cols, aux[b], targets[b], width, post, buf)
        for e0 in range(0, num_ent, width):
            w = min(num_ent, e0 + width) - e0
            for b in range(g0, g1):
                # a float32 threshold: a float64 one halves the width of the compares
                above = tile(kind, queries[b], cols, aux[b], e0, w, buf, post, top_v[b, k - 1] if k > 0 else inf32)
                if have_known:
                    cursor[b - g0] = mask_known(buf, e0, e0 + w, cursor[b - g0], known_ptr[b + 1], known_cols)
                if above > 0:
                    merge(buf, w, e0, k, top_v[b], top_i[b])  # masked entries are NaN: never merged
                if have_targets:
                    t = targets[b]
                    if e0 <= t < e0 + w:
                        buf[t - e0] = np.nan  # the target is not compared with itself
                    n_gt, n_ge = count_target(buf, w, target_score[b])
                    better[b] += n_gt
                    at_least[b] += n_ge
