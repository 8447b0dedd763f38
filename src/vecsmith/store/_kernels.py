"""Compiled lookups for stores: stored rows for known words, n-gram means for the rest.

The n-gram arithmetic is the fastText reader's (`subword_rows`): same hashing, same order,
float32 sums then one multiply by the float32 reciprocal. float16 tables are widened exactly,
with vectorised bit arithmetic (a 65,536-entry table for rows holding an inf or NaN).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from vecsmith._prefetch import prefetch_row
from vecsmith.fasttext._kernels import (  # noqa: F401 - lookup_ids is re-exported for stores
    add_quant_row,
    find_id,
    fnv_hash,
    lookup_ids,
    query_buffers,
    subword_rows,
)

HALF_REBIAS = np.float32(2.0**112)
HALF_TO_FLOAT = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(
    np.float32)


def add_rows(out, i, mat, rows, count, bits, widened, half_table):
    """out[i] += mat[rows[k]] for k < count, in float32 (compiled per table dtype below; this
    body never runs). `bits` is uint32 scratch of one row, `widened` the same memory viewed
    as float32. (One call per word, not per row: a call per row measured 25% slower.)"""
    raise NotImplementedError


@overload(add_rows)
def _add_rows(out, i, mat, rows, count, bits, widened, half_table):
    if mat.dtype == types.float32:
        def add_f32(out, i, mat, rows, count, bits, widened, half_table):
            for k in range(count):
                r = rows[k]
                for j in range(out.shape[1]):
                    out[i, j] += mat[r, j]
        return add_f32

    def add_f16(out, i, mat, rows, count, bits, widened, half_table):
        # float16 -> float32 in vectorised arithmetic: sign up 16 bits, exponent and mantissa
        # up 13, then one multiply by 2^112 rebiases the exponent (exact for normal and
        # subnormal halves alike). Rows holding an infinity or NaN take the exact table.
        dim = out.shape[1]
        for k in range(count):
            r = rows[k]
            top = np.uint32(0)
            for j in range(dim):
                h = np.uint32(mat[r, j])
                top = max(top, h & np.uint32(0x7C00))
                bits[j] = ((h & np.uint32(0x8000)) << np.uint32(16)) | (
                    (h & np.uint32(0x7FFF)) << np.uint32(13))
            if top == np.uint32(0x7C00):
                for j in range(dim):
                    out[i, j] += half_table[mat[r, j]]
            else:
                for j in range(dim):
                    out[i, j] += widened[j] * HALF_REBIAS
    return add_f16


@njit(cache=True, nogil=True, inline="always")
def _query_rows(i, q, qoffsets, vblob, voffsets, table, minn, maxn, bucket, pruneidx_size,
                keys, rows_of_keys, eos_ngrams, scratch, sp0, sp1, hs, rows):
    """(word id or -1, number of n-gram rows written to `rows` when the word is unknown)."""
    s, e = qoffsets[i], qoffsets[i + 1] - 1
    wid = find_id(vblob, voffsets, table, q, s, e, fnv_hash(q, s, e)) if table.shape[0] else -1
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
                       half_table, minn, maxn, bucket, pruneidx_size, keys, rows_of_keys,
                       eos_ngrams):
    """Vectors of many words into `out` (zeroed): the stored row for vocabulary words, else the
    float32 mean of the word's n-gram rows (zero when it has none); `found[i]` = id or -1.

    Tables are float32, or float16 given as their uint16 bits (widened exactly). The rows of
    word i + 1 are prefetched while word i is summed, so their cache misses overlap. (Rows are
    added element by element into out[i, j]: measured several times faster than array views
    on small dimensions, and as fast on large ones.)"""
    n = qoffsets.shape[0] - 1
    if n == 0:
        return
    scratch, sp0, sp1, hs, rows, ahead = query_buffers(qoffsets, maxn)
    bits = np.empty(out.shape[1], dtype=np.uint32)
    widened = bits.view(np.float32)  # made once: a view per row costs reference counting
    wid, count = _query_rows(0, q, qoffsets, vblob, voffsets, table, minn, maxn, bucket,
                             pruneidx_size, keys, rows_of_keys, eos_ngrams, scratch, sp0, sp1,
                             hs, rows)
    _prefetch_rows(wid, count, rows, vectors, ngrams)
    for i in range(n):
        wid_ahead, count_ahead = -1, 0
        if i + 1 < n:
            wid_ahead, count_ahead = _query_rows(i + 1, q, qoffsets, vblob, voffsets, table,
                                                 minn, maxn, bucket, pruneidx_size, keys,
                                                 rows_of_keys, eos_ngrams, scratch, sp0, sp1,
                                                 hs, ahead)
            _prefetch_rows(wid_ahead, count_ahead, ahead, vectors, ngrams)
        found[i] = wid
        if wid >= 0:
            rows[0] = wid  # the stored row, added onto zeros as fastText adds rows
            add_rows(out, i, vectors, rows, 1, bits, widened, half_table)
        else:
            add_rows(out, i, ngrams, rows, count, bits, widened, half_table)
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
    inside the slack)."""
    dim = codes.shape[1]
    for i in range(lo, hi):
        acc = np.float32(0.0)
        for j in range(dim):
            acc += np.float32(codes[i, j]) * q[j]
        out[i] = acc * scales[i]


@njit(cache=True, nogil=True)
def gather_input_rows(out, ids, quant, mat, codes, centroids, nsubq, dsub, lastdsub,
                      norm_codes, norm_centroids, qnorm):
    """Rows `ids` of a fastText input matrix (dense or product-quantized) into `out` (zeroed)."""
    for i in range(ids.shape[0]):
        if quant:
            add_quant_row(out[i], ids[i], codes, centroids, nsubq, dsub, lastdsub, norm_codes,
                          norm_centroids, qnorm)
        else:
            out[i] += mat[ids[i]]
