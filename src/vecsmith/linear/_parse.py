"""numba kernels that turn a batch of samples into CSR features: one pass parses, hashes,
crosses and (in lookup mode) assigns ids. The Python side is :mod:`vecsmith.linear.features`.

Each sample's features first go to a scratch (keys uint64, values float32, namespace
letter int64, ranges (m, 4) int64: feature start, end, namespace start, end in the batch
buffer), sized once per sample from an upper bound, then are emitted with their crosses.
"""

from __future__ import annotations

try:
    import numba as nb
except ImportError as exc:  # numba is in the 'linear' extra
    from ._lazy import missing

    raise missing(exc, "vecsmith.linear's compiled kernels") from exc
import numpy as np
from numba import types
from numba.typed import Dict

from ._hashing import mix64, murmur3_32
from .constants import FNV_PRIME, SEED2, InputMode

VW = int(InputMode.VW)
SPACE, TAB, CR, BAR, COLON = 32, 9, 13, 124, 58
NEWREC_COLS = 10  # index, sample, ranges of the feature (4), ranges of the crossed one (4)


def new_table():
    """An empty lookup table (64-bit fingerprint -> id)."""
    return Dict.empty(key_type=types.int64, value_type=types.int64)


@nb.njit(cache=True)
def fill_table(table, keys, ids):
    for i in range(keys.shape[0]):
        table[keys[i]] = ids[i]


@nb.njit(cache=True)
def parse_float(buf, s, e):
    """Parse a decimal float from bytes; returns (value, ok)."""
    if s >= e:
        return 0.0, False
    i = s
    sign = 1.0
    if buf[i] == 45:  # '-'
        sign = -1.0
        i += 1
    elif buf[i] == 43:
        i += 1
    val = 0.0
    digits = 0
    while i < e and 48 <= buf[i] <= 57:
        val = val * 10.0 + (buf[i] - 48)
        i += 1
        digits += 1
    if i < e and buf[i] == 46:  # '.'
        i += 1
        scale = 0.1
        while i < e and 48 <= buf[i] <= 57:
            val += (buf[i] - 48) * scale
            scale *= 0.1
            i += 1
            digits += 1
    if digits == 0:
        return 0.0, False
    if i < e and (buf[i] == 101 or buf[i] == 69):  # e / E
        i += 1
        esign = 1
        if i < e and (buf[i] == 45 or buf[i] == 43):
            if buf[i] == 45:
                esign = -1
            i += 1
        ex = 0
        ed = 0
        while i < e and 48 <= buf[i] <= 57:
            ex = ex * 10 + (buf[i] - 48)
            i += 1
            ed += 1
        if ed == 0:
            return 0.0, False
        val *= 10.0 ** (esign * ex)
    if i != e:
        return 0.0, False
    return sign * val, True


@nb.njit(cache=True)
def grow(a, need):
    """`a`, or a copy with room for `need` items (doubling); numba compiles one per dtype."""
    if need <= a.shape[0]:
        return a
    b = np.empty(max(need, 2 * a.shape[0]), a.dtype)
    b[: a.shape[0]] = a
    return b


@nb.njit(cache=True, inline="always")
def _put(keys, vals, nss, ranges, m, key, value, ns, fs, fe, ns_s, ns_e):
    """Write feature m into the scratch (sized beforehand by `_scratch_for`)."""
    keys[m] = key
    vals[m] = value
    nss[m] = ns
    ranges[m, 0] = fs
    ranges[m, 1] = fe
    ranges[m, 2] = ns_s
    ranges[m, 3] = ns_e


@nb.njit(cache=True, inline="always")
def _max_features(mode, length, lo, hi):
    """An upper bound on a sample's features: a VW token takes a byte and a separator; a
    word of `length` bytes has at most length + 2 characters padded, so at most that many
    n-grams per size, and sizes past the character count stop the loop."""
    if mode == VW:
        return length // 2 + 1
    chars = length + 2
    return min(hi - lo + 1, chars) * chars + 1


@nb.njit(cache=True)
def _scratch_for(keys, vals, nss, ranges, need):
    """The scratch arrays, reallocated (not copied: they are per sample) to hold `need`."""
    if need <= keys.shape[0]:
        return keys, vals, nss, ranges
    size = max(need, 2 * keys.shape[0])
    return (np.empty(size, np.uint64), np.empty(size, np.float32), np.empty(size, np.int64),
            np.empty((size, 4), np.int64))


@nb.njit(cache=True, inline="always")
def _feature_key(buf, a, b, seed1, seed2, lookup):
    """murmur3 of buf[a:b]; in lookup mode a 64-bit fingerprint from two seeds."""
    h1 = murmur3_32(buf, a, b, seed1)
    if lookup:
        h2 = murmur3_32(buf, a, b, seed2)
        return (np.uint64(h2) << np.uint64(32)) | np.uint64(h1)
    return np.uint64(h1)


@nb.njit(cache=True, inline="always")
def _namespace(buf, j, end, seed):
    """A ``|ns[:scale]`` header whose name starts at j: (name start, end, first byte, hash,
    second hash, scale, position after it, ok)."""
    k = j
    while k < end and buf[k] != SPACE and buf[k] != TAB and buf[k] != COLON:
        k += 1
    h1 = murmur3_32(buf, j, k, np.uint32(seed))
    h2 = murmur3_32(buf, j, k, np.uint32(seed ^ SEED2))
    scale = 1.0
    ok = True
    stop = k
    if k < end and buf[k] == COLON:
        stop = k + 1
        while stop < end and buf[stop] != SPACE and buf[stop] != TAB:
            stop += 1
        scale, ok = parse_float(buf, k + 1, stop)
    return j, k, np.int64(buf[j]), h1, h2, scale, stop, ok


@nb.njit(cache=True, inline="always")
def _vw_sample(buf, start, end, seed, lookup, keys, vals, nss, ranges):
    """Features of the VW sample buf[start:end] into the scratch: (count, ok)."""
    m = 0
    i = start
    ns_s, ns_e, ns_first = 0, 0, np.int64(SPACE)  # the default namespace, written " "
    ns_hash, ns2, scale = np.uint32(seed), np.uint32(seed ^ SEED2), 1.0
    while i < end:
        c = buf[i]
        if c == SPACE or c == TAB or c == CR:
            i += 1
            continue
        if c == BAR:
            j = i + 1
            if j < end and buf[j] != SPACE and buf[j] != TAB:
                ns_s, ns_e, ns_first, ns_hash, ns2, scale, i, ok = _namespace(buf, j, end, seed)
                if not ok:
                    return m, False
            else:
                ns_s, ns_e, ns_first = 0, 0, np.int64(SPACE)
                ns_hash, ns2, scale = np.uint32(seed), np.uint32(seed ^ SEED2), 1.0
                i = j
            continue
        j = i
        colon = -1
        while j < end and buf[j] != SPACE and buf[j] != TAB and buf[j] != BAR:
            if buf[j] == COLON and colon < 0:
                colon = j
            j += 1
        fe = j if colon < 0 else colon
        v = 1.0
        if colon >= 0:
            v, ok = parse_float(buf, colon + 1, j)
            if not ok:
                return m, False
        if fe > i:
            key = _feature_key(buf, i, fe, ns_hash, ns2, lookup)
            _put(keys, vals, nss, ranges, m, key, v * scale, ns_first, i, fe, ns_s, ns_e)
            m += 1
        i = j
    return m, True


@nb.njit(cache=True, inline="always")
def _ngram_sample(buf, start, end, lo, hi, seed, lookup, keys, vals, nss, ranges, pad,
                  char_start):
    """Character n-grams (lo..hi) of " " + word + " " as scikit-learn's ``char_wb`` makes
    them, into the scratch; returns the count. `pad` and `char_start` hold at least
    len(word) + 3 items. Ranges refer to the padded word: sample start - 1 + offset."""
    wl = end - start
    pad[0] = SPACE
    pad[1 : wl + 1] = buf[start:end]
    pad[wl + 1] = SPACE
    length = wl + 2
    nch = 0  # characters: UTF-8 lead bytes
    for b in range(length):
        if (pad[b] & 0xC0) != 0x80:
            char_start[nch] = b
            nch += 1
    char_start[nch] = length
    m = 0
    for ng in range(lo, hi + 1):
        # a padded word shorter than n yields itself once
        starts_n, glen = (1, nch) if nch < ng else (nch - ng + 1, ng)
        for p in range(starts_n):
            a = char_start[p]
            bnd = char_start[p + glen]
            key = _feature_key(pad, a, bnd, np.uint32(seed), np.uint32(seed ^ SEED2), lookup)
            _put(keys, vals, nss, ranges, m, key, 1.0, SPACE, start - 1 + a, start - 1 + bnd, 0, 0)
            m += 1
        if nch <= ng:
            break  # as scikit-learn: a padded word no longer than n is counted once
    return m


@nb.njit(cache=True, inline="always")
def _n_crossed(nss, m, cross_a, cross_b):
    """How many cross features a sample's m features make (to reserve output space)."""
    total = 0
    for c in range(cross_a.shape[0]):
        na = 0
        nb_ = 0
        for f in range(m):
            na += nss[f] == cross_a[c]
            nb_ += nss[f] == cross_b[c]
        total += na * (na + 1) // 2 if cross_a[c] == cross_b[c] else na * nb_
    return total


@nb.njit(cache=True, inline="always")
def _index(key, lookup, table, grow_table, mask, keep_names, named):
    """Weight row of a feature key (-1: unseen in a frozen lookup table) and whether its name
    is to be recorded (first time seen)."""
    if lookup:
        k = np.int64(key)
        if k in table:
            return table[k], False
        if grow_table:
            idx = len(table)
            table[k] = idx
            return np.int64(idx), keep_names
        return np.int64(-1), False
    idx = np.int64(key & np.uint64(mask))
    if keep_names and not named[idx]:
        named[idx] = True
        return idx, True
    return idx, False


@nb.njit(cache=True, inline="always")
def _record(newrec, nnew, idx, s, ranges, f, g):
    """Note a new feature (crossed with g when g >= 0) so the caller can build its name."""
    if nnew >= newrec.shape[0]:
        bigger = np.empty((max(64, 2 * nnew), NEWREC_COLS), np.int64)
        bigger[:nnew] = newrec[:nnew]
        newrec = bigger
    newrec[nnew, 0] = idx
    newrec[nnew, 1] = s
    newrec[nnew, 2:6] = ranges[f]
    if g >= 0:
        newrec[nnew, 6:10] = ranges[g]
    else:
        newrec[nnew, 6:10] = -1
    return newrec, nnew + 1


@nb.njit(cache=True)
def parse_kernel(buf, ends, mode, ngram_lo, ngram_hi, seed, cross_a, cross_b, lookup, mask,
                 table, grow_table, keep_names, named):
    """Parse samples ``buf[ends[i-1]+1 : ends[i]]`` into CSR (indptr, indices, values).

    `mode` is an :class:`InputMode`. In lookup mode `table` maps 64-bit fingerprints to ids
    and grows when `grow_table`. New features (first time seen, when `keep_names`) come back
    as rows of `newrec` (see `_record`). The last value is 0, or -(i + 1) when sample i holds
    a bad number.
    """
    n = ends.shape[0]
    indptr = np.zeros(n + 1, np.int64)
    cap = max(16, buf.shape[0] * 2)
    indices = np.empty(cap, np.int64)
    values = np.empty(cap, np.float32)
    newrec = np.empty((0, NEWREC_COLS), np.int64)
    nnew = 0
    keys, vals, nss, ranges = _scratch_for(np.empty(0, np.uint64), np.empty(0, np.float32),
                                           np.empty(0, np.int64), np.empty((0, 4), np.int64), 64)
    pad = np.empty(4096, np.uint8)
    char_start = np.empty(4096, np.int64)
    nnz = 0
    start = 0
    for s in range(n):
        end = ends[s]
        need = _max_features(mode, end - start, ngram_lo, ngram_hi)
        if need > keys.shape[0]:
            keys, vals, nss, ranges = _scratch_for(keys, vals, nss, ranges, need)
        if mode == VW:
            m, ok = _vw_sample(buf, start, end, seed, lookup, keys, vals, nss, ranges)
            if not ok:
                return indptr, indices, values, newrec[:nnew], -(s + 1)
        else:
            if end - start + 3 > pad.shape[0]:
                pad = np.empty(2 * (end - start + 3), np.uint8)
                char_start = np.empty(2 * (end - start + 3), np.int64)
            m = _ngram_sample(buf, start, end, ngram_lo, ngram_hi, seed, lookup, keys, vals,
                              nss, ranges, pad, char_start)
        need = nnz + m + _n_crossed(nss, m, cross_a, cross_b)
        if need > indices.shape[0]:
            indices = grow(indices, need)
            values = grow(values, need)
        for f in range(m):
            idx, isnew = _index(keys[f], lookup, table, grow_table, mask, keep_names, named)
            if idx < 0:
                continue
            if isnew:
                newrec, nnew = _record(newrec, nnew, idx, s, ranges, f, -1)
            indices[nnz] = idx
            values[nnz] = vals[f]
            nnz += 1
        for c in range(cross_a.shape[0]):
            for f in range(m):
                if nss[f] != cross_a[c]:
                    continue
                for g in range(f if cross_a[c] == cross_b[c] else 0, m):
                    if nss[g] != cross_b[c]:
                        continue
                    if lookup:
                        key = mix64(keys[f], keys[g])
                    else:
                        key = (np.uint64(FNV_PRIME) * keys[f]) ^ keys[g]
                    idx, isnew = _index(key, lookup, table, grow_table, mask, keep_names, named)
                    if idx < 0:
                        continue
                    if isnew:
                        newrec, nnew = _record(newrec, nnew, idx, s, ranges, f, g)
                    indices[nnz] = idx
                    values[nnz] = vals[f] * vals[g]
                    nnz += 1
        indptr[s + 1] = nnz
        start = end + 1
    return indptr, indices[:nnz], values[:nnz], newrec[:nnew], 0


@nb.njit(cache=True)
def _padded_byte(buf, p, ws, we):
    """Byte at position p of a word's padded form (positions ws-1 and we are the pad)."""
    if p == ws - 1 or p == we:
        return np.uint8(SPACE)
    return buf[p]


@nb.njit(cache=True)
def _name_length(rec, ngrams):
    total = 0
    for part in range(2):
        c = 2 + 4 * part
        if rec[c] < 0 and part == 1:
            continue
        fs, fe, ns_s, ns_e = rec[c], rec[c + 1], rec[c + 2], rec[c + 3]
        if ngrams:
            total += fe - fs
        else:
            total += (ns_e - ns_s if ns_e > ns_s else 1) + 1 + (fe - fs)
        if part == 1:
            total += 1
    return total


@nb.njit(cache=True)
def build_names(buf, ends, newrec, ngrams):
    """Name bytes of new features: ``ns^feature`` (``ns^f*ns^g`` for crosses) or the n-gram."""
    n = newrec.shape[0]
    offsets = np.zeros(n + 1, np.int64)
    for r in range(n):
        offsets[r + 1] = offsets[r] + _name_length(newrec[r], ngrams)
    out = np.empty(offsets[n], np.uint8)
    pos = 0
    for r in range(n):
        s = newrec[r, 1]
        ws = 0 if s == 0 else ends[s - 1] + 1
        we = ends[s]
        for part in range(2):
            c = 2 + 4 * part
            if newrec[r, c] < 0 and part == 1:
                continue
            if part == 1:
                out[pos] = 42  # '*'
                pos += 1
            fs, fe, ns_s, ns_e = newrec[r, c], newrec[r, c + 1], newrec[r, c + 2], newrec[r, c + 3]
            if ngrams:
                for p in range(fs, fe):
                    out[pos] = _padded_byte(buf, p, ws, we)
                    pos += 1
                continue
            if ns_e > ns_s:
                for p in range(ns_s, ns_e):
                    out[pos] = buf[p]
                    pos += 1
            else:
                out[pos] = SPACE
                pos += 1
            out[pos] = 94  # '^'
            pos += 1
            for p in range(fs, fe):
                out[pos] = buf[p]
                pos += 1
    return newrec[:, 0].copy(), offsets, out
