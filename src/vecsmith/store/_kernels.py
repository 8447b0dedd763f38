"""Compiled lookups for stores: stored rows for known words, n-gram means for the rest.

The n-gram arithmetic is the fastText reader's (`subword_rows`): same hashing, same order,
float32 sums then one multiply by the float32 reciprocal. float16 tables are widened exactly
by the CPU's own conversion (F16C's vcvtph2ps on x86, vectorised by LLVM).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from vecsmith._prefetch import prefetch_row
from vecsmith.fasttext._kernels import (  # noqa: F401 - re-exported for stores
    add_quant_row,
    find_id,
    fnv_hash,
    lookup_ids,
    query_buffers,
    slot_hashes_into,
    subword_rows,
)


@intrinsic
def half_to_float(typingctx, bits):
    """The float16 with these uint16 bits, as float32: IEEE `fpext`, exact for every value
    (LLVM lowers it to the CPU's conversion instruction, vectorised over a row; numba has no
    float16 arithmetic of its own on the CPU)."""
    if bits != types.uint16:
        return None

    def codegen(context, builder, signature, args):
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

    return types.float32(types.uint16), codegen


def add_rows(out, i, mat, rows, count):
    """out[i] += mat[rows[k]] for k < count, in float32 (compiled per table dtype below; this
    body never runs; float16 tables come as their uint16 bits). One call per word, not per
    row: a call per row measured 25% slower."""
    raise NotImplementedError


@overload(add_rows)
def _add_rows(out, i, mat, rows, count):
    if mat.dtype == types.float32:
        def add_f32(out, i, mat, rows, count):
            for k in range(count):
                r = rows[k]
                for j in range(out.shape[1]):
                    out[i, j] += mat[r, j]
        return add_f32

    def add_f16(out, i, mat, rows, count):
        for k in range(count):
            r = rows[k]
            for j in range(out.shape[1]):
                out[i, j] += half_to_float(mat[r, j])
    return add_f16


@njit(cache=True, nogil=True, inline="always")
def _query_rows(i, q, qoffsets, vblob, voffsets, table, minn, maxn, bucket, pruneidx_size,
                keys, rows_of_keys, eos_ngrams, scratch, sp0, sp1, hs, rows):
    """(word id or -1, number of n-gram rows written to `rows` when the word is unknown)."""
    s, e = qoffsets[i], qoffsets[i + 1] - 1
    wid = find_id(vblob, voffsets, table, q, s, e, fnv_hash(q, s, e)) if table[0].shape[0] \
        else -1
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
            add_rows(out, i, vectors, rows, 1)
        else:
            add_rows(out, i, ngrams, rows, count)
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
