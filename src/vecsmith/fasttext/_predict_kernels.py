"""Compiled `predict` for many lines in one call: `Dictionary::getLine`, `Model::computeHidden`
and the loss's `predict` (softmax, hierarchical softmax, one-vs-all / negative sampling) of
the official code, one line after another, with no Python between them.

Arithmetic follows the official build (checked by disassembly of the pip binding): dot
products are sequential float32 sums without FMA; softmax calls the double `exp` and stores
float; the hierarchical softmax calls `expf`; `std_log` is the double `log(x + 1e-5)` stored
as float. Top-k goes through a copy of libstdc++'s `push_heap` / `pop_heap` / `sort_heap`
with fastText's comparator (score only), so labels with exactly equal scores come out in the
official order too.

Memory stays bounded by the line: rows are added to the hidden vector as they are found,
never listed (a long token with a large `maxn` costs time, not memory).
"""

from __future__ import annotations

import math

import numpy as np

from vecsmith._deps import require

require("numba", "compiled predict")  # a clear message when the extra is missing

from numba import njit  # noqa: E402

# The shared subword primitives: FNV-1a with sign-extended bytes, the word table probe.
from vecsmith.subword_kernels import find_id, fnv_step, is_eos  # noqa: E402

SOFTMAX_HS = 1  # fastText's loss_name enum: hs = 1, ns = 2, softmax = 3, ova = 4
SOFTMAX = 3
FNV_OFFSET = np.uint32(2166136261)
WORD_NGRAM_PRIME = np.uint64(116049371)
BOW = np.uint8(ord("<"))
EOW = np.uint8(ord(">"))
LABEL_PREFIX = b"__label__"
SIGMOID_TABLE_SIZE = 512
MAX_SIGMOID = 8

# Status per line, reported back to Python.
OK = 0
NAN = 1  # a dot product was NaN: the official code throws EncounteredNaNError


# The prune map (bucket -> kept row) as an open-addressing table: one probe, usually one
# cache line, where a binary search over the sorted keys took ~16 dependent steps per n-gram
# (the official code uses an unordered_map).
EMPTY = -1
GOLDEN = np.uint64(2654435761)
LOW32 = np.uint64(0xFFFFFFFF)


@njit(cache=True, nogil=True, inline="always")
def _prune_slot(key, shift):
    """Fibonacci hashing of a bucket id: the top bits of its 32-bit product with 2^32/phi
    (numba widens uint32 products to 64 bits, hence the mask)."""
    return np.int64(((np.uint64(key) * GOLDEN) & LOW32) >> np.uint64(shift))


@njit(cache=True, nogil=True)
def build_prune_table(keys, values):
    """(size, 2) int32 table of (bucket, row) pairs, size a power of two >= 2 * len(keys);
    returns it and the shift that maps a hash to a slot. Later duplicates win, as in the
    official `pruneidx_[first] = second`."""
    size = 2
    bits = 1
    while size < 2 * keys.shape[0]:
        size *= 2
        bits += 1
    table = np.full((size, 2), EMPTY, np.int32)
    shift = 32 - bits
    for i in range(keys.shape[0]):
        key = keys[i]
        slot = _prune_slot(key, shift)
        while table[slot, 0] != EMPTY and table[slot, 0] != key:
            slot = (slot + 1) & (size - 1)
        table[slot, 0] = key
        table[slot, 1] = values[i]
    return table, shift


@njit(cache=True, nogil=True, inline="always")
def bucket_row(b, bucket, nwords, pruneidx_size, prune_table, shift):
    """`pushHash(b)` for a bucket id b in [0, bucket): its input row, or -1 when pruning
    dropped it (or the model has no n-gram rows)."""
    if bucket <= 0 or pruneidx_size == 0:
        return -1
    if pruneidx_size < 0:
        return nwords + np.int64(b)
    mask = prune_table.shape[0] - 1
    slot = _prune_slot(b, shift)
    while True:
        key = prune_table[slot, 0]
        if key == b:
            return nwords + np.int64(prune_table[slot, 1])
        if key == EMPTY:
            return -1
        slot = (slot + 1) & mask


@njit(cache=True, nogil=True, inline="always")
def _is_separator(c):
    # `Dictionary::readWord`: space, \n, \r, \t, \v, \f and NUL end a token.
    return c == 32 or c == 10 or c == 13 or c == 9 or c == 11 or c == 12 or c == 0


@njit(cache=True, nogil=True, inline="always")
def _starts_with(q, s, e, prefix):
    if e - s < prefix.shape[0]:
        return False
    for k in range(prefix.shape[0]):
        if q[s + k] != prefix[k]:
            return False
    return True


@njit(cache=True, nogil=True, inline="always")
def add_quant_row(x, row, codes, centroids, nsubq, dsub, lastdsub, norm_codes, norm_centroids,
                  qnorm):
    """`QuantMatrix::addRowToVector`: x += norm * reconstruction of `row` (inlined here: it
    runs for every row of every line)."""
    alpha = norm_centroids[norm_codes[row]] if qnorm else np.float32(1.0)
    for m in range(nsubq):
        code = np.int64(codes[row, m])
        if m == nsubq - 1:
            base = m * 256 * dsub + code * lastdsub
            for k in range(lastdsub):
                x[m * dsub + k] += alpha * centroids[base + k]
        else:
            base = (m * 256 + code) * dsub
            for k in range(dsub):
                x[m * dsub + k] += alpha * centroids[base + k]


@njit(cache=True, nogil=True, inline="always")
def _add_input_row(x, row, quant, mat, codes, centroids, nsubq, dsub, lastdsub, norm_codes,
                   norm_centroids, qnorm):
    if quant:
        add_quant_row(x, row, codes, centroids, nsubq, dsub, lastdsub, norm_codes,
                      norm_centroids, qnorm)
    else:
        for j in range(x.shape[0]):
            x[j] += mat[row, j]


@njit(cache=True, nogil=True, inline="always")
def _add_char_ngrams(hidden, q, s, e, scratch, minn, maxn, bucket, nwords, pruneidx_size,
                     prune_table, shift, nrows, quant, mat, codes, centroids, nsubq, dsub,
                     lastdsub, norm_codes, norm_centroids, qnorm):
    """`computeSubwords("<" + token + ">")`, each n-gram's row added to `hidden` as found (the
    order of `char_ngrams`); returns the number of rows added."""
    length = e - s + 2
    scratch[0] = BOW
    for k in range(e - s):
        scratch[k + 1] = q[s + k]
    scratch[length - 1] = EOW
    count = 0
    for i in range(length):
        if (scratch[i] & 0xC0) == 0x80:
            continue
        h = FNV_OFFSET
        j = i
        n = 1
        while j < length and n <= maxn:
            h = fnv_step(h, scratch[j])
            j += 1
            while j < length and (scratch[j] & 0xC0) == 0x80:
                h = fnv_step(h, scratch[j])
                j += 1
            if n >= minn and not (n == 1 and (i == 0 or j == length)):
                b = np.int64(h % np.uint32(bucket)) if bucket > 0 else 0
                r = bucket_row(b, bucket, nwords, pruneidx_size, prune_table, shift)
                if 0 <= r < nrows:
                    _add_input_row(hidden, r, quant, mat, codes, centroids, nsubq, dsub,
                                   lastdsub, norm_codes, norm_centroids, qnorm)
                    count += 1
            n += 1
    return count


@njit(cache=True, nogil=True, inline="always")
def _add_word_ngrams(hidden, whash, nh, word_ngrams, bucket, nwords, pruneidx_size, prune_table,
                     shift, nrows, quant, mat, codes, centroids, nsubq, dsub, lastdsub,
                     norm_codes, norm_centroids, qnorm):
    """`addWordNgrams`: uint64 arithmetic on the sign-extended int32 token hashes."""
    count = 0
    if word_ngrams <= 1 or bucket <= 0:
        return count
    ub = np.uint64(bucket)
    for i in range(nh):
        h = np.uint64(whash[i])
        for j in range(i + 1, min(nh, i + word_ngrams)):
            h = h * WORD_NGRAM_PRIME + np.uint64(whash[j])
            r = bucket_row(np.int64(h % ub), bucket, nwords, pruneidx_size, prune_table, shift)
            if 0 <= r < nrows:
                _add_input_row(hidden, r, quant, mat, codes, centroids, nsubq, dsub, lastdsub,
                               norm_codes, norm_centroids, qnorm)
                count += 1
    return count


@njit(cache=True, nogil=True)
def line_hidden(hidden, q, s, e, eos, label_prefix, dblob, doffsets, table, types,
                word_offsets, word_rows, nwords,
                minn, maxn, bucket, pruneidx_size, prune_table, shift, eos_ngrams,
                word_ngrams, quant, mat, codes, centroids, nsubq, dsub, lastdsub, norm_codes,
                norm_centroids, qnorm, scratch, whash):
    """`getLine` + `computeHidden` for the line q[s:e] (no newline inside): the mean of its
    input rows into `hidden`. Known words take their rows from `word_rows` (listed once, as
    the official `initNgrams` does); unknown ones are hashed here. Returns the row count
    (0: the official code predicts nothing).
    `scratch` (the bracketed token) and `whash` (token hashes) hold at least e - s + 3
    items (see `line_buffers`)."""
    nrows = codes.shape[0] if quant else mat.shape[0]
    for j in range(hidden.shape[0]):
        hidden[j] = 0.0
    count = 0
    nh = 0
    i = s
    done = False
    while not done:
        while i < e and _is_separator(q[i]):
            i += 1
        if i < e:
            buf = q
            ts = i
            while i < e and not _is_separator(q[i]):
                i += 1
            te = i
        else:  # the newline: `</s>`, the line's last token
            buf = eos
            ts = 0
            te = eos.shape[0]
            done = True
        h = np.uint32(FNV_OFFSET)
        for p in range(ts, te):
            h = fnv_step(h, buf[p])
        wid = find_id(dblob, doffsets, table, buf, ts, te, h)
        if wid >= 0:
            is_label = types[wid] == 1
        else:
            is_label = _starts_with(buf, ts, te, label_prefix)
        if is_label:
            continue
        if 0 <= wid < word_offsets.shape[0] - 1:  # a word: its rows were listed up front
            for r in range(word_offsets[wid], word_offsets[wid + 1]):
                _add_input_row(hidden, word_rows[r], quant, mat, codes, centroids, nsubq, dsub,
                               lastdsub, norm_codes, norm_centroids, qnorm)
            count += word_offsets[wid + 1] - word_offsets[wid]
        else:  # unknown (or an entry past the words): as `addSubwords` computes it
            if 0 <= wid < nrows:
                _add_input_row(hidden, wid, quant, mat, codes, centroids, nsubq, dsub,
                               lastdsub, norm_codes, norm_centroids, qnorm)
                count += 1
            if maxn > 0 and (eos_ngrams or not is_eos(buf, ts, te)):
                count += _add_char_ngrams(hidden, buf, ts, te, scratch, minn, maxn, bucket, nwords,
                                          pruneidx_size, prune_table, shift, nrows, quant,
                                          mat, codes, centroids, nsubq, dsub, lastdsub,
                                          norm_codes, norm_centroids, qnorm)
        hv = np.int64(h)
        whash[nh] = hv - 4294967296 if hv >= 2147483648 else hv  # int32 sign extension
        nh += 1
    count += _add_word_ngrams(hidden, whash, nh, word_ngrams, bucket, nwords, pruneidx_size,
                              prune_table, shift, nrows, quant, mat, codes, centroids,
                              nsubq, dsub, lastdsub, norm_codes, norm_centroids, qnorm)
    if count > 0:
        scale = np.float32(1.0 / count)
        for j in range(hidden.shape[0]):
            hidden[j] *= scale
    return count


@njit(cache=True, nogil=True)
def line_buffers(scratch, whash, length):
    """Scratch for a line of `length` bytes: its longest token plus brackets, and one hash per
    token (at most length // 2 + 1 tokens and `</s>`); the old arrays when they are enough."""
    if length + 3 > scratch.shape[0]:
        scratch = np.empty(2 * (length + 3), np.uint8)
        whash = np.empty(2 * (length + 3), np.int64)
    return scratch, whash


# -- output layer ----------------------------------------------------------------------------


@njit(cache=True, nogil=True, inline="always")
def dot_row(hidden, i, oquant, wo, ocodes, ocentroids, onsubq, odsub, olastdsub, onorm_codes,
            onorm_centroids, oqnorm):
    """`Matrix::dotRow`: a sequential float32 sum (`DenseMatrix`) or `ProductQuantizer::mulcode`
    times the row's norm (`QuantMatrix`)."""
    d = np.float32(0.0)
    if not oquant:
        for j in range(hidden.shape[0]):
            d += wo[i, j] * hidden[j]
        return d
    dd = odsub
    for m in range(onsubq):
        code = np.int64(ocodes[i, m])
        if m == onsubq - 1:
            dd = olastdsub
            base = m * 256 * odsub + code * olastdsub
        else:
            base = (m * 256 + code) * odsub
        for n in range(dd):
            d += hidden[m * odsub + n] * ocentroids[base + n]
    alpha = np.float32(1.0)
    if oqnorm:
        alpha = onorm_centroids[onorm_codes[i]]
    return np.float32(d * alpha)


@njit(cache=True, nogil=True, inline="always")
def std_log(x):
    """`std_log(real x)`: log(x + 1e-5) in double, stored as float."""
    return np.float32(math.log(np.float64(np.float32(x)) + 1e-5))


@njit(cache=True, nogil=True, inline="always")
def table_sigmoid(x, table):
    """`Loss::sigmoid`: 0 below -8, 1 above 8, else the 512-entry table (truncating index)."""
    if x < -MAX_SIGMOID:
        return np.float32(0.0)
    if x > MAX_SIGMOID:
        return np.float32(1.0)
    t = np.float32(np.float32(np.float32(x + np.float32(MAX_SIGMOID))
                              * np.float32(SIGMOID_TABLE_SIZE)) / np.float32(MAX_SIGMOID))
    return table[np.int64(np.float32(t / np.float32(2.0)))]


# libstdc++'s heap algorithms with fastText's `comparePairs` (l.first > r.first): a min-heap on
# the score alone, so ties keep whatever order these exact steps give them.


@njit(cache=True, nogil=True, inline="always")
def _sift_up(hs, hi, hole, top, vs, vi):
    """`std::__push_heap`: move the hole up while the parent's score is greater."""
    parent = (hole - 1) // 2
    while hole > top and hs[parent] > vs:
        hs[hole] = hs[parent]
        hi[hole] = hi[parent]
        hole = parent
        parent = (hole - 1) // 2
    hs[hole] = vs
    hi[hole] = vi


@njit(cache=True, nogil=True)
def _adjust_heap(hs, hi, hole, length, vs, vi):
    """`std::__adjust_heap`."""
    top = hole
    child = hole
    while child < (length - 1) // 2:
        child = 2 * (child + 1)
        if hs[child] > hs[child - 1]:
            child -= 1
        hs[hole] = hs[child]
        hi[hole] = hi[child]
        hole = child
    if (length & 1) == 0 and child == (length - 2) // 2:
        child = 2 * (child + 1)
        hs[hole] = hs[child - 1]
        hi[hole] = hi[child - 1]
        hole = child - 1
    _sift_up(hs, hi, hole, top, vs, vi)


@njit(cache=True, nogil=True, inline="always")
def _pop_heap(hs, hi, length):
    """`std::pop_heap` on [0, length): the front moves to length - 1."""
    if length > 1:
        last = length - 1
        vs = hs[last]
        vi = hi[last]
        hs[last] = hs[0]
        hi[last] = hi[0]
        _adjust_heap(hs, hi, 0, last, vs, vi)


@njit(cache=True, nogil=True, inline="always")
def _heap_offer(hs, hi, size, k, score, idx):
    """push_back + push_heap, then pop_heap + pop_back past k; returns the new size."""
    hs[size] = score
    hi[size] = idx
    _sift_up(hs, hi, size, 0, score, idx)
    size += 1
    if size > k:
        _pop_heap(hs, hi, size)
        size -= 1
    return size


@njit(cache=True, nogil=True)
def _sort_heap(hs, hi, size):
    while size > 1:
        _pop_heap(hs, hi, size)
        size -= 1


@njit(cache=True, nogil=True)
def _find_k_best(output, k, threshold, hs, hi):
    """`Loss::findKBest`."""
    size = 0
    for i in range(output.shape[0]):
        if output[i] < threshold:
            continue
        s = std_log(output[i])
        if size == k and s < hs[0]:
            continue
        size = _heap_offer(hs, hi, size, k, s, i)
    return size


@njit(cache=True, nogil=True)
def _hs_k_best(hidden, k, threshold, left, right, osz, stack_n, stack_s, hs, hi, oquant, wo,
               ocodes, ocentroids, onsubq, odsub, olastdsub, onorm_codes, onorm_centroids,
               oqnorm):
    """`HierarchicalSoftmaxLoss::dfs` from the root, as an explicit stack in the same visiting
    order (left subtree first). Returns (heap size, NaN seen)."""
    log_threshold = std_log(threshold)
    size = 0
    top = 0
    stack_n[0] = 2 * osz - 2
    stack_s[0] = np.float32(0.0)
    top = 1
    while top > 0:
        top -= 1
        node = stack_n[top]
        score = stack_s[top]
        if score < log_threshold:
            continue
        if size == k and score < hs[0]:
            continue
        if left[node] == -1 and right[node] == -1:
            size = _heap_offer(hs, hi, size, k, score, node)
            continue
        f = dot_row(hidden, node - osz, oquant, wo, ocodes, ocentroids, onsubq, odsub,
                    olastdsub, onorm_codes, onorm_centroids, oqnorm)
        if math.isnan(f):
            return size, True
        e = np.float32(math.exp(-f))  # expf
        f = np.float32(1.0 / np.float64(np.float32(np.float32(1.0) + e)))
        stack_n[top] = right[node]
        stack_s[top] = np.float32(score + std_log(f))
        stack_n[top + 1] = left[node]
        stack_s[top + 1] = np.float32(score + std_log(np.float32(1.0 - np.float64(f))))
        top += 2
    return size, False


@njit(cache=True, nogil=True)
def _flat_output(hidden, output, loss, sigmoid, oquant, wo, ocodes, ocentroids, onsubq, odsub,
                 olastdsub, onorm_codes, onorm_centroids, oqnorm):
    """`computeOutput` of softmax (double exp, float sum) or the binary logistic losses (table
    sigmoid). Returns True when a logit was NaN."""
    osz = output.shape[0]
    for i in range(osz):
        d = dot_row(hidden, i, oquant, wo, ocodes, ocentroids, onsubq, odsub, olastdsub,
                    onorm_codes, onorm_centroids, oqnorm)
        if math.isnan(d):
            return True
        output[i] = d
    if loss == SOFTMAX:
        mx = output[0]
        for i in range(osz):
            mx = max(output[i], mx)
        z = np.float32(0.0)
        for i in range(osz):
            output[i] = np.float32(math.exp(np.float64(np.float32(output[i] - mx))))
            z += output[i]
        for i in range(osz):
            output[i] = output[i] / z
    else:
        for i in range(osz):
            output[i] = table_sigmoid(output[i], sigmoid)
    return False


@njit(cache=True, nogil=True)
def predict_lines(q, ends, lo, hi, k, threshold, out_ids, out_probs, out_count, out_status,
                  eos, label_prefix, dblob, doffsets, table, types, word_offsets, word_rows,
                  nwords, minn, maxn, bucket,
                  pruneidx_size, prune_table, shift, eos_ngrams, word_ngrams, quant, mat,
                  codes, centroids, nsubq, dsub, lastdsub, norm_codes, norm_centroids, qnorm,
                  loss, sigmoid, left, right, oquant, wo, ocodes, ocentroids, onsubq, odsub,
                  olastdsub, onorm_codes, onorm_centroids, oqnorm):
    """Lines lo..hi-1 of `q` (line i ends before byte ends[i], starts after ends[i-1]):
    top-k label ids and probabilities (`exp` of the float score, as `predictLine`), sorted
    as the official heap leaves them; `out_count[i]` of them are valid. Releases the GIL,
    so callers may run disjoint ranges on threads."""
    dim = (nsubq - 1) * dsub + lastdsub if quant else mat.shape[1]
    osz = ocodes.shape[0] if oquant else wo.shape[0]
    hidden = np.empty(dim, np.float32)
    output = np.empty(osz, np.float32)
    hs = np.empty(k + 1, np.float32)
    hi_ = np.empty(k + 1, np.int32)
    stack_n = np.empty(2 * osz + 2, np.int64)
    stack_s = np.empty(2 * osz + 2, np.float32)
    scratch = np.empty(256, np.uint8)
    whash = np.empty(256, np.int64)
    thr = np.float32(threshold)
    for line in range(lo, hi):
        s = 0 if line == 0 else ends[line - 1] + 1
        e = ends[line]
        out_count[line] = 0
        out_status[line] = OK
        if e - s + 3 > scratch.shape[0]:
            scratch, whash = line_buffers(scratch, whash, e - s)
        count = line_hidden(hidden, q, s, e, eos, label_prefix, dblob, doffsets, table,
                                  types, word_offsets, word_rows, nwords, minn, maxn, bucket, pruneidx_size, prune_table,
                                  shift, eos_ngrams, word_ngrams, quant, mat, codes,
                                  centroids, nsubq, dsub, lastdsub, norm_codes, norm_centroids,
                                  qnorm, scratch, whash)
        if count == 0 or osz == 0:
            continue
        if loss == SOFTMAX_HS:
            size, nan = _hs_k_best(hidden, k, thr, left, right, osz, stack_n, stack_s, hs, hi_,
                                   oquant, wo, ocodes, ocentroids, onsubq, odsub, olastdsub,
                                   onorm_codes, onorm_centroids, oqnorm)
        else:
            nan = _flat_output(hidden, output, loss, sigmoid, oquant, wo, ocodes, ocentroids,
                               onsubq, odsub, olastdsub, onorm_codes, onorm_centroids, oqnorm)
            size = 0 if nan else _find_k_best(output, k, thr, hs, hi_)
        if nan:
            out_status[line] = NAN
            continue
        _sort_heap(hs, hi_, size)
        for r in range(size):
            out_ids[line, r] = hi_[r]
            out_probs[line, r] = np.float64(np.float32(math.exp(hs[r])))  # std::exp(float)
        out_count[line] = size


@njit(cache=True, nogil=True)
def sigmoid_table_kernel(size, max_sigmoid):
    """`Loss::Loss`: x = float(i * 2 * MAX) / SIZE - MAX; 1.0 / (1.0 + std::exp(-x)) with the
    float `exp` (expf), computed in double and stored as float."""
    out = np.empty(size + 1, np.float32)
    for i in range(size + 1):
        x = np.float32(np.float32(i * 2 * max_sigmoid) / np.float32(size)) - np.float32(max_sigmoid)
        x = np.float32(x)
        out[i] = np.float32(1.0 / (1.0 + np.float64(np.float32(math.exp(-x)))))
    return out


@njit(cache=True, nogil=True)
def _char_ngram_rows_into(out, pos, q, s, e, scratch, minn, maxn, bucket, nwords,
                          pruneidx_size, prune_table, shift, nrows):
    """The rows `_add_char_ngrams` would add, appended to out[pos:] (grown as needed)."""
    length = e - s + 2
    scratch[0] = BOW
    for k in range(e - s):
        scratch[k + 1] = q[s + k]
    scratch[length - 1] = EOW
    for i in range(length):
        if (scratch[i] & 0xC0) == 0x80:
            continue
        h = FNV_OFFSET
        j = i
        n = 1
        while j < length and n <= maxn:
            h = fnv_step(h, scratch[j])
            j += 1
            while j < length and (scratch[j] & 0xC0) == 0x80:
                h = fnv_step(h, scratch[j])
                j += 1
            if n >= minn and not (n == 1 and (i == 0 or j == length)):
                b = np.int64(h % np.uint32(bucket)) if bucket > 0 else 0
                r = bucket_row(b, bucket, nwords, pruneidx_size, prune_table, shift)
                if 0 <= r < nrows:
                    if pos >= out.shape[0]:
                        bigger = np.empty(2 * out.shape[0] + 64, np.int32)
                        bigger[:pos] = out[:pos]
                        out = bigger
                    out[pos] = r
                    pos += 1
            n += 1
    return out, pos


@njit(cache=True, nogil=True)
def word_rows_table(dblob, doffsets, nwords, minn, maxn, bucket, pruneidx_size, prune_table,
                    shift, eos_ngrams, nrows):
    """`Dictionary::initNgrams`: every word's input rows (its id, then its character n-gram
    rows; `</s>` has none unless `eos_ngrams`) as (offsets, rows), so a known word costs a
    list read at predict time instead of hashing its n-grams again."""
    offsets = np.zeros(nwords + 1, np.int64)
    rows = np.empty(4 * nwords + 64, np.int32)
    maxlen = 0
    for w in range(nwords):
        maxlen = max(maxlen, doffsets[w + 1] - 1 - doffsets[w])
    scratch = np.empty(maxlen + 2, np.uint8)
    pos = 0
    for w in range(nwords):
        s, e = doffsets[w], doffsets[w + 1] - 1
        if w < nrows:
            if pos >= rows.shape[0]:
                bigger = np.empty(2 * rows.shape[0], np.int32)
                bigger[:pos] = rows[:pos]
                rows = bigger
            rows[pos] = w
            pos += 1
        if maxn > 0 and (eos_ngrams or not is_eos(dblob, s, e)):
            rows, pos = _char_ngram_rows_into(rows, pos, dblob, s, e, scratch, minn, maxn,
                                              bucket, nwords, pruneidx_size, prune_table,
                                              shift, nrows)
        offsets[w + 1] = pos
    return offsets, rows[:pos].copy()
