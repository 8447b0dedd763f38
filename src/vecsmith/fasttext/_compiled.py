"""Compiled loops (numba) of the fastText reader: batch word vectors over dense or
product-quantized input matrices, and row means.

The subword arithmetic is `vecsmith.subword_kernels`'; the arithmetic order is fastText's, so
dense word vectors come out bit-identical (float32 sums in row order, then one multiply by the
float32 reciprocal of the row count). Imported on the first large batch only.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from vecsmith._prefetch import prefetch_row
from vecsmith._rowsum import sum_rows_into
from vecsmith.subword_kernels import (
    HASH_RING,
    SLOT_AHEAD,
    find_id,
    fnv_hash,
    hash_ahead,
    ngram_capacity,
    query_buffers,
    subword_rows,
)


@njit(cache=True, nogil=True, inline="always")
def add_dense_row(x, mat, row):
    for j in range(x.shape[0]):
        x[j] += mat[row, j]


@njit(cache=True, nogil=True)
def add_quant_row(x, row, codes, centroids, nsubq, dsub, lastdsub, norm_codes, norm_centroids,
                  qnorm):
    """`QuantMatrix::addRowToVector`: x += norm * reconstruction of `row`."""
    alpha = np.float32(1.0)
    if qnorm:
        alpha = norm_centroids[norm_codes[row]]
    d = dsub
    for m in range(nsubq):
        code = np.int64(codes[row, m])
        if m == nsubq - 1:
            d = lastdsub
            base = m * 256 * dsub + code * lastdsub
        else:
            base = (m * 256 + code) * dsub
        for k in range(d):
            x[m * dsub + k] += alpha * centroids[base + k]


@njit(cache=True, nogil=True)
def add_row(x, row, quant, mat, codes, centroids, nsubq, dsub, lastdsub, norm_codes,
            norm_centroids, qnorm):
    if quant:
        add_quant_row(x, row, codes, centroids, nsubq, dsub, lastdsub, norm_codes,
                      norm_centroids, qnorm)
    else:
        add_dense_row(x, mat, row)


@njit(cache=True, nogil=True, inline="always")
def _query_rows(i, q, qoffsets, wids, ring, dblob, doffsets, table, minn, maxn, bucket, nwords,
                pruneidx_size, prune_keys, prune_values, eos_ngrams, nrows, scratch, sp0, sp1,
                hs, rows):
    """Rows of query word i into `rows`: its id from `wids`, or when that is empty, looked up
    with the hash `hash_ahead` left in `ring`."""
    s, e = qoffsets[i], qoffsets[i + 1] - 1
    if wids.shape[0] == qoffsets.shape[0] - 1:
        wid = wids[i]
    else:
        wid = find_id(dblob, doffsets, table, q, s, e, ring[i & (HASH_RING - 1)])
    if wid >= nrows:
        # A label's id past the input matrix: fastText reads out of bounds there; here the
        # label counts as an unknown word.
        wid = -1
    return subword_rows(q, s, e, wid, minn, maxn, bucket, nwords, pruneidx_size, prune_keys,
                        prune_values, eos_ngrams, scratch, sp0, sp1, hs, rows)


@njit(cache=True, nogil=True)
def word_vectors_into(out, q, qoffsets, wids, dblob, doffsets, table, minn, maxn, bucket,
                      nwords, pruneidx_size, prune_keys, prune_values, eos_ngrams, unit, quant,
                      mat, codes, centroids, nsubq, dsub, lastdsub, norm_codes, norm_centroids,
                      qnorm):
    """`getWordVector` for many words into `out` (any contents: every row is written): the
    mean of the subword rows.

    With `unit`, each vector is then scaled to unit length as `precomputeWordVectors` does
    (float32 norm, times the float reciprocal; zero vectors stay zero). Ids come from `wids`,
    or when it is empty, from looking each word up in the dictionary (one call per batch keeps
    numba's per-call cost off single-word queries). Releases the GIL, so callers split large
    batches across threads. The sums wait on memory, so they are pipelined: words are hashed
    and their table slot fetched SLOT_AHEAD words ahead, and the dense rows of word i + 1 are
    prefetched while word i is summed, letting the cache misses overlap.
    """
    nrows = codes.shape[0] if quant else mat.shape[0]
    n = qoffsets.shape[0] - 1
    if n == 0:
        return
    dim = out.shape[1]
    lookup = wids.shape[0] != n
    ring = np.empty(HASH_RING, dtype=np.uint32)
    if lookup:
        for k in range(SLOT_AHEAD + 1):
            hash_ahead(ring, k, q, qoffsets, table)
    scratch, sp0, sp1, hs, rows, ahead = query_buffers(qoffsets, maxn)
    count = _query_rows(0, q, qoffsets, wids, ring, dblob, doffsets, table, minn, maxn, bucket,
                        nwords, pruneidx_size, prune_keys, prune_values, eos_ngrams, nrows,
                        scratch, sp0, sp1, hs, rows)
    if not quant:
        for k in range(count):
            prefetch_row(mat, rows[k])
    for i in range(n):
        count_ahead = 0
        if i + 1 < n:
            if lookup:
                hash_ahead(ring, i + 1 + SLOT_AHEAD, q, qoffsets, table)
            count_ahead = _query_rows(i + 1, q, qoffsets, wids, ring, dblob, doffsets, table,
                                      minn, maxn, bucket, nwords, pruneidx_size, prune_keys,
                                      prune_values, eos_ngrams, nrows, scratch, sp0, sp1, hs,
                                      ahead)
            if not quant:
                for k in range(count_ahead):
                    prefetch_row(mat, ahead[k])
        if quant:
            x = out[i]
            x[:] = 0.0
            for k in range(count):
                add_quant_row(x, rows[k], codes, centroids, nsubq, dsub, lastdsub, norm_codes,
                              norm_centroids, qnorm)
        else:
            sum_rows_into(out, i, mat, rows, count)
        if count > 0:
            scale = np.float32(1.0 / count)
            for j in range(dim):
                out[i, j] *= scale
        if unit:
            norm = np.float32(0.0)
            for j in range(dim):
                norm += out[i, j] * out[i, j]
            norm = np.float32(np.sqrt(norm))
            if norm > 0:
                scale = np.float32(1.0 / np.float64(norm))
                for j in range(dim):
                    out[i, j] *= scale
        rows, ahead = ahead, rows
        count = count_ahead


@njit(cache=True, nogil=True)
def mean_rows(rows, quant, mat, codes, centroids, nsubq, dsub, lastdsub, norm_codes,
              norm_centroids, qnorm, dim):
    """`computeHidden`: float32 mean of input rows in order (zero when empty)."""
    x = np.zeros(dim, dtype=np.float32)
    for k in range(rows.shape[0]):
        add_row(x, rows[k], quant, mat, codes, centroids, nsubq, dsub, lastdsub, norm_codes,
                norm_centroids, qnorm)
    if rows.shape[0] > 0:
        scale = np.float32(1.0 / rows.shape[0])
        for j in range(dim):
            x[j] *= scale
    return x


@njit(cache=True, nogil=True)
def line_token_rows(q, qoffsets, wids, skip, minn, maxn, bucket, first_row, pruneidx_size,
                    prune_keys, prune_values, eos_ngrams):
    """Rows of a line's tokens for `Dictionary::getLine`: each token's id (if known) and its
    n-gram rows, concatenated in order, tokens with `skip` (labels) left out; and every
    token's hash (for word n-grams). One call per line instead of one per token."""
    n = qoffsets.shape[0] - 1
    total = 0
    for i in range(n):
        total += ngram_capacity(qoffsets[i + 1] - 1 - qoffsets[i], maxn)
    scratch, sp0, sp1, hs, buf, _ = query_buffers(qoffsets, maxn)
    rows = np.empty(total, dtype=np.int64)
    hashes = np.empty(n, dtype=np.uint32)
    k = 0
    for i in range(n):
        s, e = qoffsets[i], qoffsets[i + 1] - 1
        hashes[i] = fnv_hash(q, s, e)
        if skip[i]:
            continue
        c = subword_rows(q, s, e, wids[i], minn, maxn, bucket, first_row, pruneidx_size,
                         prune_keys, prune_values, eos_ngrams, scratch, sp0, sp1, hs, buf)
        for j in range(c):
            rows[k + j] = buf[j]
        k += c
    return rows[:k], hashes
