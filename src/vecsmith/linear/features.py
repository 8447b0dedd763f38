"""Sparse features for the online linear model: hashing (VW-compatible) or an exact lookup table.

Every input kind (VW-style lines, token lists, dicts, words for character n-grams) is turned
into one UTF-8 buffer in C-speed string operations, then a single numba pass parses, hashes,
crosses and (in lookup mode) assigns ids — there is no Python loop over features.

Hashing scheme (same as Vowpal Wabbit's ``--hash all``):

* namespace seed ``h_ns = murmur3_x86_32(namespace, seed)`` (the default namespace, written
  ``" "``, has seed 0 as in VW);
* feature hash ``h = murmur3_x86_32(feature, h_ns)``; index ``h & (2**bits - 1)``;
* cross feature of namespaces ``a`` and ``b`` (VW ``-q ab``): ``((16777619 * h_a) ^ h_b)``
  masked, value ``v_a * v_b``; for ``-q aa`` each unordered pair (self pairs included) once.

With ``n`` distinct features in ``2**bits`` slots the expected fraction of features sharing a
slot with another is ``1 - exp(-n / 2**bits)`` (≈ 0.6 % for 250k features at 25 bits, 61 % for
1M at 20 bits); :func:`collision_rate` computes it. The lookup mode gives every distinct
feature its own weight: features are keyed by a 64-bit fingerprint (two independent murmur3
hashes), whose chance of any clash among ``n`` features is about ``n**2 / 2**65`` (3e-8 for
1M features), and the table grows as training meets new features.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numba as nb
import numpy as np
from numba import types
from numba.typed import Dict

FNV_PRIME = 16777619
_SEED2 = 0x5BD1E995  # second murmur seed for the 64-bit lookup fingerprint

# Characters VW reserves; inside token lists and dict keys they are replaced before hashing.
_RESERVED = {ord(" "): "_", ord("|"): "¦", ord(":"): "꞉", ord("\n"): "_", ord("\t"): "_",
             ord("\r"): "_"}
_TOKEN_TABLE = str.maketrans({**_RESERVED, 0x1F: " "})
_NAME_TABLE = str.maketrans(_RESERVED)


class FeatureFormatError(ValueError):
    """An input sample cannot be read as features (bad VW line, wrong type, bad value)."""


def collision_rate(n_features: int, bits: int) -> float:
    """Expected fraction of `n_features` distinct features that share a hashed slot."""
    return 1.0 - math.exp(-n_features / float(2**bits))


# ----------------------------------------------------------------------------- hashing kernels


@nb.njit(cache=True, inline="always")
def _rotl(x, r):
    return ((x << np.uint32(r)) | (x >> np.uint32(32 - r))) & np.uint32(0xFFFFFFFF)


@nb.njit(cache=True)
def murmur3_32(buf, start, end, seed):
    """murmur3_x86_32 of ``buf[start:end]`` (uint8) with `seed`; returns a uint32."""
    c1 = np.uint32(0xCC9E2D51)
    c2 = np.uint32(0x1B873593)
    h = np.uint32(seed)
    n = end - start
    nblocks = n // 4
    for i in range(nblocks):
        p = start + 4 * i
        k = (np.uint32(buf[p]) | (np.uint32(buf[p + 1]) << np.uint32(8))
             | (np.uint32(buf[p + 2]) << np.uint32(16)) | (np.uint32(buf[p + 3]) << np.uint32(24)))
        k = np.uint32(k * c1)
        k = _rotl(k, 15)
        k = np.uint32(k * c2)
        h = np.uint32(h ^ k)
        h = _rotl(h, 13)
        h = np.uint32(h * np.uint32(5) + np.uint32(0xE6546B64))
    tail = start + 4 * nblocks
    k = np.uint32(0)
    rem = n & 3
    if rem == 3:
        k = np.uint32(k ^ (np.uint32(buf[tail + 2]) << np.uint32(16)))
    if rem >= 2:
        k = np.uint32(k ^ (np.uint32(buf[tail + 1]) << np.uint32(8)))
    if rem >= 1:
        k = np.uint32(k ^ np.uint32(buf[tail]))
        k = np.uint32(k * c1)
        k = _rotl(k, 15)
        k = np.uint32(k * c2)
        h = np.uint32(h ^ k)
    h = np.uint32(h ^ np.uint32(n))
    h = np.uint32(h ^ (h >> np.uint32(16)))
    h = np.uint32(h * np.uint32(0x85EBCA6B))
    h = np.uint32(h ^ (h >> np.uint32(13)))
    h = np.uint32(h * np.uint32(0xC2B2AE35))
    h = np.uint32(h ^ (h >> np.uint32(16)))
    return h


def murmur3(text: str | bytes, seed: int = 0) -> int:
    """murmur3_x86_32 of a string's UTF-8 bytes (the hash VW uses), as a Python int."""
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    buf = np.frombuffer(data, dtype=np.uint8) if data else np.zeros(0, np.uint8)
    return int(murmur3_32(buf, 0, len(buf), np.uint32(seed & 0xFFFFFFFF)))


@nb.njit(cache=True, inline="always")
def _mix64(a, b):
    """Combine two uint64 keys into one (for cross features in lookup mode)."""
    x = (a * np.uint64(0x9E3779B97F4A7C15)) ^ b
    x ^= x >> np.uint64(31)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(29)
    return x


# ----------------------------------------------------------------------------- parse kernel


@nb.njit(cache=True)
def _parse_float(buf, s, e):
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
def _grow(a, need):
    """`a`, or a copy with room for `need` items (doubling); numba compiles one per dtype."""
    if need <= a.shape[0]:
        return a
    b = np.empty(max(need, 2 * a.shape[0]), a.dtype)
    b[: a.shape[0]] = a
    return b


@nb.njit(cache=True)
def _parse_kernel(buf, ends, mode, ngram_lo, ngram_hi, seed, cross_a, cross_b, lookup,
                  mask, table, grow, keep_names, named):
    """Parse samples ``buf[ends[i-1]+1 : ends[i]]`` into CSR (indptr, indices, values).

    mode 0: VW feature text ``|ns[:scale] f[:v] ...`` (a bare ``f g`` is the default
    namespace); mode 1: one word per sample, features = its character n-grams of
    ``" " + word + " "`` with n in [ngram_lo, ngram_hi] (scikit-learn's ``char_wb``).
    In lookup mode `table` maps 64-bit fingerprints to ids and grows when `grow`.
    New features (first time seen, when `keep_names`) are reported as rows of `newrec`:
    (index, sample, start_a, end_a, nsstart_a, nsend_a, start_b, end_b, nsstart_b, nsend_b)
    byte ranges so that the caller can build their names.
    """
    n = ends.shape[0]
    indptr = np.zeros(n + 1, np.int64)
    cap = max(16, buf.shape[0] * 2)
    indices = np.empty(cap, np.int64)
    values = np.empty(cap, np.float32)
    newrec = np.empty((0, 10), np.int64)
    nnew = 0
    n_cross = cross_a.shape[0]
    # per-sample scratch: parsed features with namespace first letter and byte ranges
    sc_h = np.empty(64, np.uint64)  # hash (uint32 in hash mode) or 64-bit key
    sc_v = np.empty(64, np.float32)
    sc_ns = np.empty(64, np.int64)  # namespace first byte
    sc_r = np.empty((64, 4), np.int64)  # feature start, end, ns start, ns end
    pad = np.empty(4096, np.uint8)
    nnz = 0
    start = 0
    for s in range(n):
        end = ends[s]
        m = 0
        if mode == 0:
            i = start
            ns_first = 32  # ' '
            ns_hash = np.uint32(seed)
            ns2 = np.uint32(seed ^ _SEED2)
            ns_s = 0
            ns_e = 0
            scale = 1.0
            while i < end:
                c = buf[i]
                if c == 32 or c == 9 or c == 13:
                    i += 1
                    continue
                if c == 124:  # '|' starts a namespace
                    j = i + 1
                    if j < end and buf[j] != 32 and buf[j] != 9:
                        k = j
                        while k < end and buf[k] != 32 and buf[k] != 9 and buf[k] != 58:
                            k += 1
                        ns_s = j
                        ns_e = k
                        ns_first = buf[j]
                        ns_hash = murmur3_32(buf, j, k, np.uint32(seed))
                        ns2 = murmur3_32(buf, j, k, np.uint32(seed ^ _SEED2))
                        scale = 1.0
                        if k < end and buf[k] == 58:
                            k2 = k + 1
                            while k2 < end and buf[k2] != 32 and buf[k2] != 9:
                                k2 += 1
                            sv, ok = _parse_float(buf, k + 1, k2)
                            if not ok:
                                return indptr, indices, values, newrec[:nnew], -(s + 1)
                            scale = sv
                            k = k2
                        i = k
                    else:
                        ns_first = 32
                        ns_hash = np.uint32(seed)
                        ns2 = np.uint32(seed ^ _SEED2)
                        ns_s = 0
                        ns_e = 0
                        scale = 1.0
                        i = j
                    continue
                # a feature token
                j = i
                colon = -1
                while j < end and buf[j] != 32 and buf[j] != 9 and buf[j] != 124:
                    if buf[j] == 58 and colon < 0:
                        colon = j
                    j += 1
                fe = j if colon < 0 else colon
                v = 1.0
                if colon >= 0:
                    v, ok = _parse_float(buf, colon + 1, j)
                    if not ok:
                        return indptr, indices, values, newrec[:nnew], -(s + 1)
                if fe > i:
                    if m >= sc_h.shape[0]:
                        sc_h = _grow(sc_h, 2 * m)
                        sc_v = _grow(sc_v, 2 * m)
                        sc_ns = _grow(sc_ns, 2 * m)
                        big = np.empty((2 * m, 4), np.int64)
                        big[:m] = sc_r[:m]
                        sc_r = big
                    h1 = murmur3_32(buf, i, fe, ns_hash)
                    if lookup:
                        h2 = murmur3_32(buf, i, fe, ns2)
                        sc_h[m] = (np.uint64(h2) << np.uint64(32)) | np.uint64(h1)
                    else:
                        sc_h[m] = np.uint64(h1)
                    sc_v[m] = v * scale
                    sc_ns[m] = ns_first
                    sc_r[m, 0] = i
                    sc_r[m, 1] = fe
                    sc_r[m, 2] = ns_s
                    sc_r[m, 3] = ns_e
                    m += 1
                i = j
        else:
            # character n-grams of " " + word + " "
            wl = end - start
            if wl + 2 > pad.shape[0]:
                pad = np.empty(2 * (wl + 2), np.uint8)
            pad[0] = 32
            pad[1:wl + 1] = buf[start:end]
            pad[wl + 1] = 32
            L = wl + 2
            # char start offsets (UTF-8 lead bytes)
            nch = 0
            cst = np.empty(L + 1, np.int64)
            for b in range(L):
                if (pad[b] & 0xC0) != 0x80:
                    cst[nch] = b
                    nch += 1
            cst[nch] = L
            for ng in range(ngram_lo, ngram_hi + 1):
                if nch < ng:
                    # scikit-learn char_wb: a padded word shorter than n yields itself once
                    starts_n = 1
                    glen = nch
                else:
                    starts_n = nch - ng + 1
                    glen = ng
                for p in range(starts_n):
                    if m >= sc_h.shape[0]:
                        sc_h = _grow(sc_h, 2 * m)
                        sc_v = _grow(sc_v, 2 * m)
                        sc_ns = _grow(sc_ns, 2 * m)
                        big = np.empty((2 * m, 4), np.int64)
                        big[:m] = sc_r[:m]
                        sc_r = big
                    a = cst[p]
                    bnd = cst[p + glen]
                    h1 = murmur3_32(pad, a, bnd, np.uint32(seed))
                    if lookup:
                        h2 = murmur3_32(pad, a, bnd, np.uint32(seed ^ _SEED2))
                        sc_h[m] = (np.uint64(h2) << np.uint64(32)) | np.uint64(h1)
                    else:
                        sc_h[m] = np.uint64(h1)
                    sc_v[m] = 1.0
                    sc_ns[m] = 32
                    # offsets refer to the padded word: store relative to sample start - 1
                    sc_r[m, 0] = start - 1 + a
                    sc_r[m, 1] = start - 1 + bnd
                    sc_r[m, 2] = 0
                    sc_r[m, 3] = 0
                    m += 1
                if nch <= ng:
                    break  # as scikit-learn: a padded word no longer than n is counted once
        # count crosses to reserve space
        total = m
        for c in range(n_cross):
            na = 0
            nb_ = 0
            for f in range(m):
                if sc_ns[f] == cross_a[c]:
                    na += 1
                if sc_ns[f] == cross_b[c]:
                    nb_ += 1
            if cross_a[c] == cross_b[c]:
                total += na * (na + 1) // 2
            else:
                total += na * nb_
        if nnz + total > indices.shape[0]:
            indices = _grow(indices, nnz + total)
            values = _grow(values, nnz + total)
        for f in range(m):
            if lookup:
                key = np.int64(sc_h[f])
                if key in table:
                    idx = table[key]
                elif grow:
                    idx = len(table)
                    table[key] = idx
                    if keep_names:
                        if nnew >= newrec.shape[0]:
                            nr = np.empty((max(64, 2 * nnew), 10), np.int64)
                            nr[:nnew] = newrec[:nnew]
                            newrec = nr
                        newrec[nnew, 0] = idx
                        newrec[nnew, 1] = s
                        newrec[nnew, 2:6] = sc_r[f]
                        newrec[nnew, 6:10] = -1
                        nnew += 1
                else:
                    continue
            else:
                idx = np.int64(sc_h[f] & np.uint64(mask))
                if keep_names and not named[idx]:
                    named[idx] = True
                    if nnew >= newrec.shape[0]:
                        nr = np.empty((max(64, 2 * nnew), 10), np.int64)
                        nr[:nnew] = newrec[:nnew]
                        newrec = nr
                    newrec[nnew, 0] = idx
                    newrec[nnew, 1] = s
                    newrec[nnew, 2:6] = sc_r[f]
                    newrec[nnew, 6:10] = -1
                    nnew += 1
            indices[nnz] = idx
            values[nnz] = sc_v[f]
            nnz += 1
        for c in range(n_cross):
            same = cross_a[c] == cross_b[c]
            for f in range(m):
                if sc_ns[f] != cross_a[c]:
                    continue
                g0 = f if same else 0
                for g in range(g0, m):
                    if sc_ns[g] != cross_b[c]:
                        continue
                    isnew = False
                    if lookup:
                        key = np.int64(_mix64(sc_h[f], sc_h[g]))
                        if key in table:
                            idx = table[key]
                        elif grow:
                            idx = len(table)
                            table[key] = idx
                            isnew = keep_names
                        else:
                            continue
                    else:
                        hx = (np.uint64(FNV_PRIME) * sc_h[f]) ^ sc_h[g]
                        idx = np.int64(hx & np.uint64(mask))
                        if keep_names and not named[idx]:
                            named[idx] = True
                            isnew = True
                    if isnew:
                        if nnew >= newrec.shape[0]:
                            nr = np.empty((max(64, 2 * nnew), 10), np.int64)
                            nr[:nnew] = newrec[:nnew]
                            newrec = nr
                        newrec[nnew, 0] = idx
                        newrec[nnew, 1] = s
                        newrec[nnew, 2:6] = sc_r[f]
                        newrec[nnew, 6:10] = sc_r[g]
                        nnew += 1
                    indices[nnz] = idx
                    values[nnz] = sc_v[f] * sc_v[g]
                    nnz += 1
        indptr[s + 1] = nnz
        start = end + 1
    return indptr, indices[:nnz], values[:nnz], newrec[:nnew], 0


@nb.njit(cache=True)
def _padded_byte(buf, p, ws, we):
    """Byte at position p of a word's padded form (positions ws-1 and we are the pad)."""
    if p == ws - 1 or p == we:
        return np.uint8(32)
    return buf[p]


@nb.njit(cache=True)
def _build_names(buf, ends, newrec, ngrams):
    """Name bytes of new features: ``ns^feature`` (``ns^f*ns^g`` for crosses) or the n-gram."""
    n = newrec.shape[0]
    offsets = np.zeros(n + 1, np.int64)
    total = 0
    for r in range(n):
        for part in range(2):
            c = 2 + 4 * part
            if newrec[r, c] < 0 and part == 1:
                continue
            fs, fe, ns_s, ns_e = newrec[r, c], newrec[r, c + 1], newrec[r, c + 2], newrec[r, c + 3]
            if ngrams:
                total += fe - fs
            else:
                total += (ns_e - ns_s if ns_e > ns_s else 1) + 1 + (fe - fs)
            if part == 1:
                total += 1
        offsets[r + 1] = total
    out = np.empty(total, np.uint8)
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
            else:
                if ns_e > ns_s:
                    for p in range(ns_s, ns_e):
                        out[pos] = buf[p]
                        pos += 1
                else:
                    out[pos] = 32
                    pos += 1
                out[pos] = 94  # '^'
                pos += 1
                for p in range(fs, fe):
                    out[pos] = buf[p]
                    pos += 1
    return newrec[:, 0].copy(), offsets, out


# ----------------------------------------------------------------------------- Python side


@dataclass
class SparseBatch:
    """Samples as CSR arrays: sample i has ``indices[indptr[i]:indptr[i+1]]`` and values."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    @property
    def n_samples(self) -> int:
        return len(self.indptr) - 1

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])


def _token_text(tokens: Sequence[str]) -> str:
    return "\x1f".join(tokens).translate(_TOKEN_TABLE)


def _name(s: object) -> str:
    return str(s).translate(_NAME_TABLE)


def _dict_text(d: Mapping) -> str:
    """{feature: value} in the default namespace, or {namespace: tokens | {feature: value}}."""
    parts: list[str] = []
    plain: list[str] = []
    for key, val in d.items():
        ns = "" if str(key) in ("", " ") else _name(key)
        if isinstance(val, Mapping):
            parts.append(f"|{ns} " + " ".join(
                f"{_name(k)}:{float(v)!r}" for k, v in val.items()))
        elif isinstance(val, (list, tuple)):
            if not all(isinstance(t, str) for t in val):
                raise FeatureFormatError(f"namespace {key!r}: token lists must hold strings")
            parts.append(f"|{ns} " + _token_text(val))
        elif isinstance(val, (int, float, np.integer, np.floating)) and not isinstance(val, bool):
            plain.append(f"{_name(key)}:{float(val)!r}")
        elif isinstance(val, bool):
            plain.append(f"{_name(key)}:{float(val)!r}")
        else:
            raise FeatureFormatError(
                f"dict feature {key!r} has a {type(val).__name__} value; expected a number, "
                "a list of tokens or a {feature: value} dict")
    if plain:
        parts.insert(0, "| " + " ".join(plain))
    return " ".join(parts)


def to_feature_text(sample: object, ngrams: bool) -> str:
    """One sample as VW feature text (or as a word when `ngrams`)."""
    if isinstance(sample, str):
        if "\n" in sample:
            raise FeatureFormatError("a sample must not contain a newline")
        return sample
    if ngrams:
        raise FeatureFormatError(
            f"with ngram_range set, samples are words (str), got {type(sample).__name__}")
    if isinstance(sample, Mapping):
        return _dict_text(sample)
    if isinstance(sample, (list, tuple)):
        if sample and not all(isinstance(t, str) for t in sample):
            raise FeatureFormatError("token lists must hold strings")
        return "| " + _token_text(sample)
    raise FeatureFormatError(
        f"cannot read a {type(sample).__name__} as features: give a VW feature string, a list "
        "of tokens, a dict, or a scipy.sparse matrix")


def parse_vw_line(line: str) -> tuple[str | None, float, str | None, str]:
    """Split a VW line ``label [importance] ['tag]|features`` into its four parts."""
    head, bar, feats = line.partition("|")
    if not bar:
        raise FeatureFormatError(f"VW line has no '|' namespace: {line[:80]!r}")
    parts = head.split()
    label = None
    importance = 1.0
    tag = None
    if parts and parts[-1].startswith("'"):
        tag = parts.pop()[1:]
    elif head and not head[-1].isspace() and parts:
        tag = parts.pop()  # VW: a tag may be written without the quote, touching the bar
    if parts:
        label = parts[0]
    if len(parts) >= 2:
        try:
            importance = float(parts[1])
        except ValueError as exc:
            raise FeatureFormatError(f"bad importance {parts[1]!r} in {line[:80]!r}") from exc
    if len(parts) > 2:
        raise FeatureFormatError(f"too many fields before '|': {head!r}")
    return label, importance, tag, "|" + feats


def read_vw(lines: Iterable[str]) -> tuple[list[str], list[str | None], np.ndarray]:
    """Parse VW lines into (feature texts, labels or None, importance weights)."""
    texts: list[str] = []
    labels: list[str | None] = []
    weights: list[float] = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        label, imp, _tag, feats = parse_vw_line(line)
        texts.append(feats)
        labels.append(label)
        weights.append(imp)
    return texts, labels, np.asarray(weights, dtype=np.float64)


def parse_cross(spec: str | Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Cross pairs like ``["ab", "aa"]`` (VW ``-q``) as arrays of namespace first bytes."""
    pairs = [spec] if isinstance(spec, str) else list(spec)
    a, b = [], []
    for p in pairs:
        raw = p.encode("utf-8")
        if len(raw) != 2:
            raise ValueError(f"a cross is two namespace letters like 'ab', got {p!r}")
        a.append(raw[0])
        b.append(raw[1])
    return np.asarray(a, np.int64), np.asarray(b, np.int64)


def new_table():
    """An empty lookup table (64-bit fingerprint → id)."""
    return Dict.empty(key_type=types.int64, value_type=types.int64)


class Featurizer:
    """Turn samples into CSR feature batches: hashing with `bits`, or an exact growing lookup.

    It holds the lookup table and the names of the features seen (index → ``ns^feature``, or
    ``ns^f*ns^g`` for crosses) so that models can be inspected by feature name.
    """

    def __init__(self, bits: int = 18, lookup: bool = False, cross: Sequence[str] = (),
                 ngram_range: tuple[int, int] | None = None, seed: int = 0,
                 keep_names: bool = True) -> None:
        if not 1 <= int(bits) <= 31:
            raise ValueError(f"bits must be in 1..31, got {bits}")
        self.bits = int(bits)
        self.lookup = bool(lookup)
        self.cross = tuple(cross)
        self.cross_a, self.cross_b = parse_cross(self.cross) if self.cross else (
            np.zeros(0, np.int64), np.zeros(0, np.int64))
        if ngram_range is not None:
            lo, hi = int(ngram_range[0]), int(ngram_range[1])
            if not 1 <= lo <= hi:
                raise ValueError(f"ngram_range must be (lo, hi) with 1 <= lo <= hi, got {ngram_range}")
            ngram_range = (lo, hi)
        self.ngram_range = ngram_range
        self.seed = int(seed) & 0xFFFFFFFF
        self.keep_names = bool(keep_names)
        self.table = new_table()
        self._name_chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._names_cache: dict[int, str] | None = None
        self._named = np.zeros(0 if self.lookup or not keep_names else 2**self.bits, np.bool_)

    @property
    def n_features(self) -> int:
        """Size of the weight table this featurizer indexes into."""
        return len(self.table) if self.lookup else 2**self.bits

    def transform(self, X: Sequence, grow: bool = False) -> SparseBatch:
        """Featurise a batch; in lookup mode unseen features are added only when `grow`."""
        ngrams = self.ngram_range is not None
        texts = [to_feature_text(x, ngrams) for x in X]
        return self.transform_texts(texts, grow=grow)

    def transform_texts(self, texts: Sequence[str], grow: bool = False) -> SparseBatch:
        """Featurise VW feature texts (or words in n-gram mode) already checked for newlines."""
        ngrams = self.ngram_range is not None
        joined = "\n".join(texts)
        data = joined.encode("utf-8")
        buf = np.frombuffer(data, dtype=np.uint8) if data else np.zeros(0, np.uint8)
        if len(texts) == 0:
            ends = np.zeros(0, np.int64)
        else:
            nl = np.flatnonzero(buf == 10)
            ends = np.append(nl, len(buf)).astype(np.int64)
            if len(ends) != len(texts):
                raise FeatureFormatError("a sample contains a newline")
        lo, hi = self.ngram_range if ngrams else (1, 1)
        indptr, indices, values, newrec, err = _parse_kernel(
            buf, ends, 1 if ngrams else 0, lo, hi, self.seed, self.cross_a, self.cross_b,
            self.lookup, np.uint64(2**self.bits - 1), self.table, grow, self.keep_names,
            self._named)
        if err < 0:
            bad = -err - 1
            raise FeatureFormatError(f"sample {bad}: bad number in {texts[bad][:80]!r}")
        if len(newrec):
            self._record_names(buf, ends, newrec, ngrams)
        return SparseBatch(indptr, indices, values)

    def _record_names(self, buf: np.ndarray, ends: np.ndarray, newrec: np.ndarray,
                      ngrams: bool) -> None:
        ids, offsets, raw = _build_names(buf, ends, newrec, ngrams)
        self._name_chunks.append((ids, offsets, raw))
        self._names_cache = None

    def add_names(self, ids: np.ndarray, offsets: np.ndarray, raw: np.ndarray) -> None:
        """Register names given as ids + UTF-8 bytes with offsets (as `name_arrays` returns)."""
        self._name_chunks.append((ids, offsets, raw))
        self._names_cache = None

    def name_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All recorded names as (ids, offsets, UTF-8 bytes): compact, for saving."""
        chunks = self._name_chunks
        if not chunks:
            return np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.uint8)
        ids = np.concatenate([c[0] for c in chunks])
        raw = np.concatenate([c[2] for c in chunks])
        shifts = np.cumsum([0] + [int(c[1][-1]) for c in chunks[:-1]])
        offs = np.concatenate([c[1][1:] + sh for c, sh in zip(chunks, shifts)])
        return ids, np.concatenate(([0], offs)).astype(np.int64), raw

    @property
    def names(self) -> dict[int, str]:
        """Feature index → name (first name seen for a hashed slot), built on demand."""
        if self._names_cache is None:
            ids, offs, raw = self.name_arrays()
            data = raw.tobytes()
            o = offs.tolist()
            self._names_cache = {i: data[o[j]:o[j + 1]].decode("utf-8", "replace")
                                 for j, i in enumerate(ids.tolist())}
        return self._names_cache

    def clone_empty(self) -> Featurizer:
        return Featurizer(self.bits, self.lookup, self.cross, self.ngram_range, self.seed,
                          self.keep_names)


@nb.njit(cache=True)
def _fill_table_kernel(table, keys, ids):
    for i in range(keys.shape[0]):
        table[keys[i]] = ids[i]
