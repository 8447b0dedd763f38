"""Compiled lookups for stores: stored rows for known words, n-gram means for the rest.

The n-gram arithmetic is `vecsmith.subword_kernels`' (`subword_rows`, `sum_rows_into`): same
hashing, same order, float32 sums then one multiply by the float32 reciprocal. float16 tables
are widened exactly by the CPU's own conversion. Loaded on the first large batch only.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from vecsmith._prefetch import prefetch_row
from vecsmith.subword_kernels import (
    HASH_RING,
    SLOT_AHEAD,
    find_id,
    hash_ahead,
    query_buffers,
    subword_rows,
    sum_rows_into,
)


@njit(cache=True, nogil=True, inline="always")
def _query_rows(i, q, qoffsets, ring, vblob, voffsets, table, minn, maxn, bucket,
                pruneidx_size, keys, rows_of_keys, eos_ngrams, scratch, sp0, sp1, hs, rows):
    """(word id or -1, number of n-gram rows written to `rows` when the word is unknown)."""
    s, e = qoffsets[i], qoffsets[i + 1] - 1
    wid = find_id(vblob, voffsets, table, q, s, e, ring[i & (HASH_RING - 1)]) \
        if table[0].shape[0] else -1
    if wid >= 0:
        return wid, 0
    return wid, subword_rows(q, s, e, -1, minn, maxn, bucket, 0, pruneidx_size, keys,
                             rows_of_keys, eos_ngrams, scratch, sp0, sp1, hs, rows)


@njit(cache=True, nogil=True, inline="always")
def _prefetch_rows(wid, count, rows, vectors, ngrams):
    if wid >= 0:
        prefetch_row(vectors, wid)
    for k in range(count):
        prefetch_row(ngrams, rows[k])


@njit(cache=True, nogil=True)
def store_vectors_into(out, found, q, qoffsets, vblob, voffsets, table, vectors, ngrams,
                       minn, maxn, bucket, pruneidx_size, keys, rows_of_keys, eos_ngrams):
    """Vectors of many words into `out` (any contents: every row is written): the stored row
    for vocabulary words, else the float32 mean of the word's n-gram rows (zero when it has
    none); `found[i]` = id or -1.

    Tables are float32, or float16 given as their uint16 bits (widened exactly). Pipelined as
    the reader's `word_vectors_into`: words are hashed and their table slot fetched SLOT_AHEAD
    words ahead, and the rows of word i + 1 are prefetched while word i is summed."""
    n = qoffsets.shape[0] - 1
    if n == 0:
        return
    ring = np.empty(HASH_RING, dtype=np.uint32)
    for k in range(SLOT_AHEAD + 1):
        hash_ahead(ring, k, q, qoffsets, table)
    scratch, sp0, sp1, hs, rows, ahead = query_buffers(qoffsets, maxn)
    wid, count = _query_rows(0, q, qoffsets, ring, vblob, voffsets, table, minn, maxn, bucket,
                             pruneidx_size, keys, rows_of_keys, eos_ngrams, scratch, sp0, sp1,
                             hs, rows)
    _prefetch_rows(wid, count, rows, vectors, ngrams)
    for i in range(n):
        wid_ahead, count_ahead = -1, 0
        if i + 1 < n:
            hash_ahead(ring, i + 1 + SLOT_AHEAD, q, qoffsets, table)
            wid_ahead, count_ahead = _query_rows(i + 1, q, qoffsets, ring, vblob, voffsets,
                                                 table, minn, maxn, bucket, pruneidx_size, keys,
                                                 rows_of_keys, eos_ngrams, scratch, sp0, sp1,
                                                 hs, ahead)
            _prefetch_rows(wid_ahead, count_ahead, ahead, vectors, ngrams)
        found[i] = wid
        if wid >= 0:
            rows[0] = wid  # the stored row, added onto zeros as fastText adds rows
            sum_rows_into(out, i, vectors, rows, 1)
        else:
            sum_rows_into(out, i, ngrams, rows, count)
            if count > 0:
                scale = np.float32(1.0 / count)
                for j in range(out.shape[1]):
                    out[i, j] *= scale
        rows, ahead = ahead, rows
        wid, count = wid_ahead, count_ahead


@njit(cache=True, nogil=True, fastmath=True)
def int8_scores_into(out, codes, scales, q, lo, hi):
    """out[i] = scales[i] * (codes[i] . q) for rows lo..hi: the first pass of
    `vecsmith.store.search` (fastmath lets the dot product vectorise; its rounding is
    inside the slack). Four rows share each load of q: about 1.6x faster than one row at a
    time on AVX-512 (each row keeps its own sum, so the scores do not change)."""
    dim = codes.shape[1]
    i = lo
    while i + 4 <= hi:
        a0 = a1 = a2 = a3 = np.float32(0.0)
        for j in range(dim):
            qj = q[j]
            a0 += np.float32(codes[i, j]) * qj
            a1 += np.float32(codes[i + 1, j]) * qj
            a2 += np.float32(codes[i + 2, j]) * qj
            a3 += np.float32(codes[i + 3, j]) * qj
        out[i], out[i + 1] = a0 * scales[i], a1 * scales[i + 1]
        out[i + 2], out[i + 3] = a2 * scales[i + 2], a3 * scales[i + 3]
        i += 4
    for r in range(i, hi):
        acc = np.float32(0.0)
        for j in range(dim):
            acc += np.float32(codes[r, j]) * q[j]
        out[r] = acc * scales[r]


@njit(cache=True, nogil=True)
def best_rows(approx, lo, hi, pool, ids_out):
    """The `pool` rows of highest approx[lo:hi] (fewer when the chunk is smaller; -inf and NaN
    rows never), written to ids_out, in no order: the count. One pass with a buffer of twice
    `pool` rows compacted by a partial sort, so the chunk is read while still in cache (no
    argpartition over all n rows). Which of equal rows at the cut are kept is arbitrary:
    `vecsmith.store.search.exact_top_k` only needs some rows of high score."""
    cap = 2 * pool
    buf_ids = np.empty(cap, dtype=np.int64)
    buf_vals = np.empty(cap, dtype=np.float32)
    count = 0
    thr = -np.inf
    for r in range(lo, hi):
        v = approx[r]
        if v > thr:
            buf_ids[count] = r
            buf_vals[count] = v
            count += 1
            if count == cap:
                thr = _keep_best(buf_ids, buf_vals, count, pool)
                count = pool
    if count > pool:
        _keep_best(buf_ids, buf_vals, count, pool)
        count = pool
    ids_out[:count] = buf_ids[:count]
    return count


@njit(cache=True, nogil=True, inline="always")
def _keep_best(ids, vals, count, pool):
    """Move the `pool` best of the first `count` entries to the front, in one in-place pass
    (kept ≤ t, so nothing unread is overwritten): every entry above the cut, then entries
    equal to it until `pool` are kept. Returns the cut."""
    thr = np.partition(vals[:count], count - pool)[count - pool]
    above = 0
    for t in range(count):
        if vals[t] > thr:
            above += 1
    equal_room = pool - above
    kept = 0
    for t in range(count):
        v = vals[t]
        if v > thr or (v == thr and equal_room > 0):
            if v == thr:
                equal_room -= 1
            ids[kept], vals[kept] = ids[t], v
            kept += 1
    return thr


@njit(cache=True, nogil=True)
def rows_reaching(approx, slack, threshold):
    """Ids (ascending) of the rows whose first-pass score is finite and within their slack of
    `threshold` (approx ≥ threshold − slack, in float32 as numpy would): one pass over n."""
    out = np.empty(approx.shape[0], dtype=np.int64)  # untouched pages are never mapped
    m = 0
    for i in range(approx.shape[0]):
        a = approx[i]
        if np.isfinite(a) and a >= threshold - slack[i]:
            out[m] = i
            m += 1
    return out[:m].copy()
