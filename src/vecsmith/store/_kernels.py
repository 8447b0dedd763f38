"""Compiled lookups for stores: stored rows for known words, n-gram means for the rest.

The n-gram arithmetic is the fastText reader's (`subword_rows`): same hashing, same order,
float32 sums then one multiply by the float32 reciprocal. float16 tables are widened through
a 65,536-entry float32 table (exact, and faster than converting on the fly).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from vecsmith.fasttext._kernels import (
    add_quant_row,
    char_ngrams,
    find_id,
    fnv_hash,
    is_eos,
    ngram_capacity,
    subword_rows,
)

HALF_TO_FLOAT = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(
    np.float32)


@njit(cache=True, nogil=True, inline="always")
def _add_row(x, mat32, mat16, half, half_table, r, scratch):
    if not half:
        x += mat32[r]
        return
    # float16 -> float32 by bit arithmetic (vectorises; 2.4x faster than the table look-up),
    # exact for normal numbers; rows holding zeros, subnormals, inf or nan take the table.
    special = False
    for j in range(x.shape[0]):
        h = np.uint32(mat16[r, j])
        em = h & np.uint32(0x7FFF)
        scratch[j] = ((h & np.uint32(0x8000)) << np.uint32(16)) | (
            (em << np.uint32(13)) + np.uint32(112 << 23))
        special |= (em < np.uint32(0x0400)) | (em >= np.uint32(0x7C00))
    f = scratch.view(np.float32)
    if special:
        for j in range(x.shape[0]):
            f[j] = half_table[mat16[r, j]]
    x += f


@njit(cache=True, nogil=True)
def store_vectors_into(out, found, q, qoffsets, vblob, voffsets, table, vec32, vec16, ng32,
                       ng16, half, half_table, minn, maxn, bucket, pruneidx_size, keys,
                       rows_of_keys, eos_ngrams):
    """Vectors of many words into `out` (zeroed): the stored row for vocabulary words, else the
    mean of the word's n-gram rows (zero when it has none). `found[i]` is set to the word id,
    or -1 for OOV. Tables come as float32 (`vec32`, `ng32`), or when `half` as float16 bits
    (`vec16`, `ng16`, uint16); the other pair is empty."""
    n = qoffsets.shape[0] - 1
    maxlen = 0
    for i in range(n):
        maxlen = max(maxlen, qoffsets[i + 1] - 1 - qoffsets[i])
    cap = ngram_capacity(maxlen, maxn)
    scratch = np.empty(maxlen + 2, dtype=np.uint8)
    sp0 = np.empty(cap, dtype=np.int64)
    sp1 = np.empty(cap, dtype=np.int64)
    hs = np.empty(cap, dtype=np.uint32)
    rows = np.empty(cap, dtype=np.int64)
    conv = np.empty(out.shape[1], dtype=np.uint32)
    touched = np.float32(0.0)
    for i in range(n):
        s, e = qoffsets[i], qoffsets[i + 1] - 1
        wid = find_id(vblob, voffsets, table, q, s, e, fnv_hash(q, s, e)) if table.shape[0] else -1
        found[i] = wid
        x = out[i]
        if wid >= 0:
            _add_row(x, vec32, vec16, half, half_table, wid, conv)
            continue
        count = subword_rows(q, s, e, -1, minn, maxn, bucket, 0, pruneidx_size, keys,
                             rows_of_keys, eos_ngrams, scratch, sp0, sp1, hs, rows)
        for k in range(count):  # start every row's memory fetch before the sums need them
            touched += half_table[ng16[rows[k], 0]] if half else ng32[rows[k], 0]
        for k in range(count):
            _add_row(x, ng32, ng16, half, half_table, rows[k], conv)
        if count > 0:
            scale = np.float32(1.0 / count)
            for j in range(x.shape[0]):
                x[j] *= scale
    return touched


@njit(cache=True, nogil=True)
def lookup_ids(vblob, voffsets, table, q, qoffsets):
    n = qoffsets.shape[0] - 1
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        s, e = qoffsets[i], qoffsets[i + 1] - 1
        out[i] = find_id(vblob, voffsets, table, q, s, e, fnv_hash(q, s, e))
    return out


@njit(cache=True, nogil=True)
def word_buckets(q, qoffsets, minn, maxn, bucket, eos_ngrams):
    """Bucket ids (hash % bucket) of every character n-gram of every word, concatenated."""
    n = qoffsets.shape[0] - 1
    maxlen = 0
    total = 0
    for i in range(n):
        length = qoffsets[i + 1] - 1 - qoffsets[i]
        maxlen = max(maxlen, length)
        total += ngram_capacity(length, maxn)
    cap = ngram_capacity(maxlen, maxn)
    scratch = np.empty(maxlen + 2, dtype=np.uint8)
    sp0 = np.empty(cap, dtype=np.int64)
    sp1 = np.empty(cap, dtype=np.int64)
    hs = np.empty(cap, dtype=np.uint32)
    out = np.empty(total, dtype=np.int64)
    k = 0
    if bucket <= 0:
        return out[:0]
    for i in range(n):
        s, e = qoffsets[i], qoffsets[i + 1] - 1
        if not eos_ngrams and is_eos(q, s, e):
            continue
        c = char_ngrams(q, s, e, minn, maxn, scratch, sp0, sp1, hs)
        for j in range(c):
            out[k] = np.int64(hs[j] % np.uint32(bucket))
            k += 1
    return out[:k]


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
