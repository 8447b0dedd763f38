"""Compiled lookups for stores: stored rows for known words, n-gram means for the rest.

The n-gram arithmetic is the fastText reader's (`subword_rows`): same hashing, same order,
float32 sums then one multiply by the float32 reciprocal. float16 tables are widened through
a 65,536-entry float32 table (exact, and faster than converting on the fly).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from vecsmith.fasttext._kernels import (  # noqa: F401 - lookup_ids is re-exported for stores
    add_quant_row,
    find_id,
    fnv_hash,
    lookup_ids,
    ngram_capacity,
    subword_rows,
)

HALF_TO_FLOAT = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(
    np.float32)


@njit(cache=True, nogil=True, inline="always")
def _rows_of(q, s, e, vblob, voffsets, table, minn, maxn, bucket, pruneidx_size, keys,
             rows_of_keys, eos_ngrams, scratch, sp0, sp1, hs, rows):
    """(word id or -1, number of n-gram rows written to `rows` when the word is unknown)."""
    wid = find_id(vblob, voffsets, table, q, s, e, fnv_hash(q, s, e)) if table.shape[0] else -1
    if wid >= 0:
        return wid, 0
    return wid, subword_rows(q, s, e, -1, minn, maxn, bucket, 0, pruneidx_size, keys,
                             rows_of_keys, eos_ngrams, scratch, sp0, sp1, hs, rows)


@njit(cache=True, nogil=True)
def _buffers(qoffsets, maxn):
    maxlen = 0
    for i in range(qoffsets.shape[0] - 1):
        maxlen = max(maxlen, qoffsets[i + 1] - 1 - qoffsets[i])
    cap = ngram_capacity(maxlen, maxn)
    return (np.empty(maxlen + 2, dtype=np.uint8), np.empty(cap, dtype=np.int64),
            np.empty(cap, dtype=np.int64), np.empty(cap, dtype=np.uint32),
            np.empty(cap, dtype=np.int64))


@njit(cache=True, nogil=True)
def store_vectors_f32_into(out, found, q, qoffsets, vblob, voffsets, table, vectors, ngrams,
                           minn, maxn, bucket, pruneidx_size, keys, rows_of_keys, eos_ngrams):
    """Vectors of many words into `out` (zeroed): the stored row for vocabulary words, else the
    float32 mean of the word's n-gram rows (zero when it has none); `found[i]` = id or -1.
    (Rows are added element by element into out[i, j]: measured several times faster than
    array views on small dimensions, and as fast on large ones.)"""
    scratch, sp0, sp1, hs, rows = _buffers(qoffsets, maxn)
    dim = out.shape[1]
    for i in range(qoffsets.shape[0] - 1):
        wid, count = _rows_of(q, qoffsets[i], qoffsets[i + 1] - 1, vblob, voffsets, table, minn,
                              maxn, bucket, pruneidx_size, keys, rows_of_keys, eos_ngrams,
                              scratch, sp0, sp1, hs, rows)
        found[i] = wid
        if wid >= 0:
            for j in range(dim):
                out[i, j] += vectors[wid, j]  # onto zeros, as fastText adds rows
            continue
        for k in range(count):
            r = rows[k]
            for j in range(dim):
                out[i, j] += ngrams[r, j]
        if count > 0:
            scale = np.float32(1.0 / count)
            for j in range(dim):
                out[i, j] *= scale


@njit(cache=True, nogil=True)
def store_vectors_f16_into(out, found, q, qoffsets, vblob, voffsets, table, vectors, ngrams,
                           half_table, minn, maxn, bucket, pruneidx_size, keys, rows_of_keys,
                           eos_ngrams):
    """As `store_vectors_f32_into`, for tables of float16 bits (uint16), widened exactly
    through a 65,536-entry table. (Measured 3x the float32 cost per row: numba has no native
    float16, and a bit-arithmetic widening gained only 6%.)"""
    scratch, sp0, sp1, hs, rows = _buffers(qoffsets, maxn)
    dim = out.shape[1]
    for i in range(qoffsets.shape[0] - 1):
        wid, count = _rows_of(q, qoffsets[i], qoffsets[i + 1] - 1, vblob, voffsets, table, minn,
                              maxn, bucket, pruneidx_size, keys, rows_of_keys, eos_ngrams,
                              scratch, sp0, sp1, hs, rows)
        found[i] = wid
        if wid >= 0:
            for j in range(dim):
                out[i, j] += half_table[vectors[wid, j]]
            continue
        for k in range(count):
            r = rows[k]
            for j in range(dim):
                out[i, j] += half_table[ngrams[r, j]]
        if count > 0:
            scale = np.float32(1.0 / count)
            for j in range(dim):
                out[i, j] *= scale


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
