"""Tiny stores: prune words and n-grams, refit the kept n-grams, product-quantize the rows.

Seven steps, each measured in `benchmarks/RESULTS.md`:

1. **Words**: the most frequent words are kept; their final vectors (as `get_word_vector` gives
   them) are stored as unit rows coded by a product quantizer plus a float16 length.
2. **N-grams**: a dropped word is rebuilt from its n-grams, so an n-gram row is worth what the
   dropped words that use it are worth: score(g) = Σ_w u_w · ‖row_g‖ / n_w over dropped words
   w holding g (n_w n-grams each), with u_w the word's token share plus a uniform floor that
   stands for unseen words. compress-fasttext ranks by count × norm instead, which counts
   n-grams of kept words that never need them.
3. **Refit**: the kept rows X are re-solved by damped least squares so that the mean of each
   dropped word's *kept* n-gram rows reproduces its original vector,
   min Σ_w u_w ‖mean_{g∈K_w} x_g − v_w‖² + λ‖X − X₀‖², by block CGLS from the original rows
   X₀, stopped at the best weighted cosine on held-out dropped words (which stand for unseen
   words). A dropped n-gram is left out of an unknown word's mean (the reader's rule,
   `vecsmith.store.pq`), not counted as a zero row. Skipped by default when the source's rows
   were themselves fitted to its words (`vecsmith transfer`): refitting those to the dropped
   words moves unknown words away from the source (GloVe: OOV cosine 0.86 against 0.999).
4. **Product quantization**: k-means per sub-vector (faiss), uint8 codes, float16 codebooks,
   optionally an OPQ rotation learned first.
5. **More bytes where lookups land**: residual PQ stages (each codes what the stages before
   left) for the most frequent words and the n-gram rows with the highest score, chosen
   greedily by weight per byte in `residual_share` of the room plus whatever is left; when
   every word fits twice over in what is left, the words are stored exactly (float32).
6. **Dense tier**: when residual stages on every row would still leave room, the most used
   rows are stored as int16 with one float32 scale a row (absmax / 32767), the rest as before;
   the tier's words keep no PQ code (search scores them from their int16 rows).
7. **Untrained rows**: buckets no vocabulary n-gram hashes to keep fastText's seeded initial
   values; one bit a bucket marks them and the reader regenerates them bit for bit
   (`vecsmith.fasttext.init_rows`), so unknown words made of them match fastText. Only the
   blocks fastText drew are marked (all of them unless it trained with `-thread` < 10): the
   other untrained rows are zero, and are left out of the mean like dropped rows — the same
   direction as fastText's vector, not the same length.

`size="25MB"` picks the word and n-gram counts so that the whole file fits; the store records
what it kept and the quality measured against the source (`CompressedVectors.describe()`,
`vecsmith info`).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vecsmith._batch import pack_words
from vecsmith._deps import require
from vecsmith.fasttext.init_rows import InitLayout, find_layout, untrained_rows
from vecsmith.store.convert import _vocab_specs, _vocab_tensors, _write, file_sha256
from vecsmith.store.format import FORMAT, FORMAT_VERSION, TensorSpec
from vecsmith.store.pq import dequantize16, quantize16
from vecsmith.subwords import compiled

__all__ = ["CompressError", "compress", "encode_rows", "parse_size", "train_codebooks"]

HEADER_RESERVE = 6 * 1024  # JSON header incl. the compression report (about 3 kB); checked after
MAX_FIT_WORDS = 200_000
MAX_TRAIN_ROWS = 32_768  # k-means sample per quantizer (128 points a centroid)


class CompressError(ValueError):
    """Bad compression settings (size too small, dimensions that do not split...)."""


def parse_size(size: str | int) -> int:
    """Bytes from 25MB / 1.5 GB / 300kB / 12MiB / a plain integer (MB = 10⁶ bytes)."""
    if isinstance(size, int):
        return size
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgG]?)(i?)[bB]?\s*", str(size))
    if not m:
        raise CompressError(f"size {size!r} is not like 25MB, 300kB or 1.5GB")
    base = 1024 if m.group(3) else 1000
    power = {"": 0, "k": 1, "m": 2, "g": 3}[m.group(2).lower()]
    return int(float(m.group(1)) * base**power)


# ------------------------------------------------------------------------------- sources


@dataclass
class _Source:
    """What compression reads from a model or store (final word vectors, bucket rows)."""

    words: list[str]
    counts: np.ndarray | None
    dim: int
    minn: int
    maxn: int
    bucket: int
    eos_ngrams: bool
    name: str
    fmt: str
    word_vectors: object  # (ids) -> float32 rows
    bucket_rows: object  # (bucket ids) -> float32 rows (zeros where the source has none)
    matrix_words: int  # word rows before the buckets in the fastText matrix it came from
    fitted_ngrams: bool = False  # n-gram rows fitted to the words (`vecsmith transfer`)


def _open_source(source) -> _Source:
    from vecsmith import store as store_pkg
    from vecsmith.fasttext.model import FastTextModel

    if isinstance(source, (str, os.PathLike)):
        path = str(source)
        if store_pkg.is_store(path):
            source = store_pkg.open(path)
        else:
            from vecsmith.fasttext import load_model

            source = load_model(path)
    if isinstance(source, FastTextModel):
        m = source
        if m.is_quantized() or m.pruneidx_size >= 0:
            raise CompressError(f"{m.path} is quantized or pruned: convert it to a store first "
                                "(vecsmith convert) and compress the store")
        a = m.args
        words, counts = m.get_words(include_freq=True)
        mat = m.get_input_matrix()
        nwords = m.nwords

        def vecs(ids):
            ids = np.asarray(ids)
            if len(ids) and np.all(np.diff(ids) == 1):
                return m.vocabulary_vectors(int(ids[0]), int(ids[-1]) + 1).astype(np.float32)
            return m.get_word_vectors([words[int(i)] for i in ids]).astype(np.float32)

        def rows(b):
            return np.asarray(mat[nwords + np.asarray(b, np.int64)], dtype=np.float32)

        return _Source(words, np.asarray(counts, np.int64), a.dim, a.minn, a.maxn,
                       a.bucket if a.maxn > 0 else 0, bool(m.subword_scheme.eos_ngrams),
                       os.path.basename(m.path), f"fasttext-v{m.version}", vecs, rows, nwords)
    v = source
    from vecsmith.store.pq import CompressedVectors

    if isinstance(v, CompressedVectors):
        vecs = v.word_rows
    else:
        def vecs(ids):
            return np.asarray(v.vectors[np.asarray(ids, np.int64)], dtype=np.float32)
    counts = v.counts
    init = getattr(v, "_init", None)  # a compressed store remembers its source's layout
    # n-gram rows are fastText's own in a store converted from a .bin (and in a compressed
    # store of one, which says so); a store made by `vecsmith transfer` has fitted ones
    meta = v.metadata
    fitted = meta.get("ngram_source", "fitted" if v.has_ngrams and not meta.get(
        "source_format", "").startswith("fasttext") else "fasttext") == "fitted"
    return _Source(v.words, None if counts is None else np.asarray(counts, np.int64), v.dim,
                   v.minn, v.maxn, v.bucket if v.has_ngrams else 0,
                   meta.get("eos_ngrams", "0") == "1", os.path.basename(v.path),
                   "vecsmith-store", vecs, v.bucket_rows,
                   len(v.words) if init is None else init.word_rows, fitted)


# ------------------------------------------------------------------------------- sizing


def _subvectors(dim: int, wanted: int | None) -> int:
    if wanted is not None:
        if wanted < 1 or dim % wanted:
            raise CompressError(f"pq_subvectors={wanted} must divide dim={dim}")
        return wanted
    for dsub in (3, 2, 4, 5, 1):  # 3 values a byte is compress-fasttext's choice at 300 dims
        if dim % dsub == 0:
            return dim // dsub
    return dim


def _word_bytes(words: list[str], n: int, m: int, with_counts: bool) -> int:
    """Bytes the first n words take in a compressed store (codes, lengths, vocabulary)."""
    text = sum(len(w.encode("utf-8", "surrogateescape")) + 1 for w in words[:n])
    table = math.ceil(n / 0.7) * 8  # word_table + word_table_hashes
    return n * (m + 2 + 4 + 8 + (8 if with_counts else 0)) + 8 + text + table


def _plan(src: _Source, budget: int | None, max_words: int | None, max_ngrams: int | None,
          m: int, ksub: int, opq: bool, word_share: float, used_buckets: int,
          extra: int = 0) -> tuple[int, int]:
    n_all = len(src.words)
    fixed = 2 * ksub * src.dim * 2 + (src.dim * src.dim * 4 if opq else 0) + HEADER_RESERVE \
        + extra
    with_counts = src.counts is not None
    if budget is None:
        nw = n_all if max_words is None else min(max_words, n_all)
        ng = used_buckets if max_ngrams is None else min(max_ngrams, used_buckets)
        return nw, (ng if src.bucket else 0)
    room = budget - fixed
    if room <= _word_bytes(src.words, 1, m, with_counts):
        raise CompressError(f"size {budget} bytes cannot hold the codebooks and one word "
                            f"(fixed part {fixed} bytes)")
    if max_words is not None:
        nw = min(max_words, n_all)
    else:  # the largest n whose words fit word_share of the room (all of it without n-grams)
        share = word_share if src.bucket else 1.0
        lo, hi = 1, n_all
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if _word_bytes(src.words, mid, m, with_counts) <= share * room:
                lo = mid
            else:
                hi = mid - 1
        nw = lo
    left = room - _word_bytes(src.words, nw, m, with_counts)
    if left < 0:
        raise CompressError(f"max_words={nw} does not fit in {budget} bytes")
    ng = min(left // (m + 4), used_buckets) if src.bucket else 0
    if max_ngrams is not None:
        ng = min(ng, max_ngrams)
    if max_words is None and nw < n_all and ng * (m + 4) < left - (m + 64):
        # every n-gram that fits is kept: what is left goes to more words
        lo, hi = nw, n_all
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if _word_bytes(src.words, mid, m, with_counts) <= room - ng * (m + 4):
                lo = mid
            else:
                hi = mid - 1
        nw = lo
    return nw, int(ng)


# ------------------------------------------------------------------------------- quantizer


def train_codebooks(x: np.ndarray, m: int, ksub: int, seed: int, niter: int = 12) -> np.ndarray:
    """(m, ksub, dsub) float32 centroids: k-means on each sub-vector (faiss)."""
    faiss = require("faiss", "product quantization in vecsmith compress")
    d = x.shape[1]
    dsub = d // m
    books = np.empty((m, ksub, dsub), dtype=np.float32)
    for j in range(m):
        sub = np.ascontiguousarray(x[:, j * dsub : (j + 1) * dsub], dtype=np.float32)
        km = faiss.Kmeans(dsub, ksub, niter=niter, seed=seed + j, verbose=False,
                          min_points_per_centroid=1, max_points_per_centroid=1 << 30)
        km.train(sub)
        books[j] = km.centroids
    return books


def encode_rows(x: np.ndarray, books: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """Nearest centroid of every sub-vector: (n, m) uint8 codes (faiss's encoder; codebooks
    with fewer than 256 centroids are padded with far-away ones that are never nearest)."""
    faiss = require("faiss", "product quantization in vecsmith compress")
    m, ksub, dsub = books.shape
    padded = np.full((m, 256, dsub), 1e18, dtype=np.float32)
    padded[:, :ksub] = books
    pq = faiss.ProductQuantizer(m * dsub, m, 8)
    faiss.copy_array_to_vector(padded.ravel(), pq.centroids)
    codes = np.empty((len(x), m), dtype=np.uint8)
    for s in range(0, len(x), chunk):
        part = np.ascontiguousarray(x[s : s + chunk], dtype=np.float32)
        codes[s : s + len(part)] = pq.compute_codes(part)
    return codes


@dataclass
class _Quantizer:
    books: np.ndarray  # float16-rounded, float32
    rotation: np.ndarray | None

    def encode(self, x: np.ndarray) -> np.ndarray:
        return encode_rows(x if self.rotation is None else x @ self.rotation.T, self.books)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        from vecsmith.store.pq import decode

        y = decode(codes, self.books)
        return y if self.rotation is None else y @ self.rotation


def _train(x: np.ndarray, m: int, bits: int, rotation: np.ndarray | None, seed: int
           ) -> _Quantizer:
    rng = np.random.default_rng(seed)
    sample = x[rng.choice(len(x), MAX_TRAIN_ROWS, replace=False)] if len(x) > MAX_TRAIN_ROWS \
        else x
    ksub = max(1, min(1 << bits, len(sample)))
    y = sample if rotation is None else sample @ rotation.T
    books = train_codebooks(y, m, ksub, seed).astype(np.float16).astype(np.float32)
    return _Quantizer(books, rotation)


def _opq_rotation(x: np.ndarray, m: int, seed: int) -> np.ndarray:
    faiss = require("faiss", "the OPQ rotation in vecsmith compress")
    rng = np.random.default_rng(seed)
    sample = x[rng.choice(len(x), MAX_TRAIN_ROWS, replace=False)] if len(x) > MAX_TRAIN_ROWS \
        else x
    opq = faiss.OPQMatrix(x.shape[1], m)
    opq.niter = 20
    opq.train(np.ascontiguousarray(sample, dtype=np.float32))
    return faiss.vector_to_array(opq.A).reshape(x.shape[1], x.shape[1]).astype(np.float32)


# ------------------------------------------------------------------------------- refit


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    num = np.einsum("ij,ij->i", a, b)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    out = np.zeros(len(a))
    np.divide(num, den, out=out, where=den > 0)
    return out


def _mean_matrix(ids: np.ndarray, offs: np.ndarray, words: np.ndarray, keys: np.ndarray):
    """Sparse (len(words), len(keys)) matrix: row w averages w's kept n-grams (duplicates
    count, as in the reader); and which words have at least one kept n-gram."""
    sp = require("scipy.sparse", "the least-squares refit in vecsmith compress")
    starts, ends = offs[words], offs[words + 1]
    lens = ends - starts
    owner = np.repeat(np.arange(len(words)), lens)
    flat = ids[np.repeat(starts - np.r_[0, np.cumsum(lens)[:-1]], lens) + np.arange(lens.sum())]
    pos = np.minimum(np.searchsorted(keys, flat), max(len(keys) - 1, 0))
    ok = (len(keys) > 0) & (keys[pos] == flat) if len(flat) else np.zeros(0, bool)
    owner, pos = owner[ok], pos[ok]
    kept = np.bincount(owner, minlength=len(words))
    data = 1.0 / kept[owner]
    mat = sp.csr_matrix((data.astype(np.float32), (owner, pos)), shape=(len(words), len(keys)))
    return mat, kept > 0


def _refit(a, b: np.ndarray, x0: np.ndarray, weights: np.ndarray, held: np.ndarray,
           iters: int, damping: float, heldout_weight: float = 0.5
           ) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Damped block CGLS from x0 (one step size per column). Keeps the iterate with the best
    mix of the weighted cosine on the fitted words (the dropped vocabulary, which queries
    hit) and on the held-out ones (which stand for unseen words). Returns (rows, [(fitted,
    held-out cosine)] per iterate, the first for x0)."""
    fit = ~held
    sw = np.sqrt(weights)[:, None].astype(np.float32)
    af = a[fit].multiply(sw[fit]).tocsr()
    bf = b[fit] * sw[fit]
    ah, bh, wh = a[held], b[held], weights[held]

    def score(x, fitted):  # row scaling by sqrt(w) leaves cosines alone
        f = float(np.average(_cosines(fitted, bf), weights=weights[fit])) if len(bf) else 0.0
        h = float(np.average(_cosines(ah @ x, bh), weights=wh)) if len(bh) else f
        return (f, h), (1 - heldout_weight) * f + heldout_weight * h

    colsq = np.asarray(af.multiply(af).sum(axis=0)).ravel()
    lam = np.float32(damping * (colsq.mean() if len(colsq) else 1.0))
    y = np.zeros_like(x0)
    fitted = af @ x0
    r = bf - fitted
    s = af.T @ r
    p = s.copy()
    gamma = np.einsum("ij,ij->j", s, s)
    pair, best = score(x0, fitted)
    best_x, history, best_at = x0, [pair], 0
    for it in range(1, iters + 1):
        q = af @ p
        delta = np.einsum("ij,ij->j", q, q) + lam * np.einsum("ij,ij->j", p, p)
        alpha = np.divide(gamma, delta, out=np.zeros_like(gamma), where=delta > 0)
        y += alpha * p
        r -= alpha * q
        s = af.T @ r - lam * y
        gnew = np.einsum("ij,ij->j", s, s)
        beta = np.divide(gnew, gamma, out=np.zeros_like(gnew), where=gamma > 0)
        p = s + beta * p
        gamma = gnew
        pair, c = score(x0 + y, bf - r)
        history.append(pair)
        if c > best:
            best, best_x, best_at = c, x0 + y, it
        elif it - best_at >= 3:
            break
    return best_x.astype(np.float32), history


def _ngram_recon_cosines(src: _Source, words: np.ndarray, ids: np.ndarray, offs: np.ndarray,
                         chunk: int = 1 << 14) -> np.ndarray:
    """Cosine between each word's vector and the mean of its (original) n-gram rows: how well
    the word would come back if it were dropped (0 for words without n-grams)."""
    out = np.zeros(len(words))
    if not src.bucket:
        return out
    for s in range(0, len(words), chunk):
        w = words[s : s + chunk]
        lens = offs[w + 1] - offs[w]
        has = lens > 0
        if not has.any():
            continue
        w, lens = w[has], lens[has]
        flat = np.concatenate([ids[offs[i] : offs[i + 1]] for i in w])
        uniq, inverse = np.unique(flat, return_inverse=True)
        rows = src.bucket_rows(uniq)[inverse]
        starts = np.r_[0, np.cumsum(lens)[:-1]]
        means = np.add.reduceat(rows, starts, axis=0)
        part = np.zeros(len(has))
        part[has] = _cosines(means, src.word_vectors(w))
        out[s : s + len(has)] = part
    return out


def _choose_words(src: _Source, order: np.ndarray, nw: int, tok: np.ndarray, ids: np.ndarray,
                  offs: np.ndarray, m: int) -> np.ndarray:
    """Half the word budget goes to the most frequent words (what neighbour queries and most
    tokens hit); the other half to the words n-grams rebuild worst, weighted by frequency:
    tok_w · (1 − cos(n-gram mean, v_w)) — e.g. short words without n-grams, which would
    otherwise come back as zeros. Trimmed so the chosen words take no more bytes than the
    plan's (the most frequent nw words)."""
    n_all = len(order)
    if nw >= n_all:
        return np.arange(n_all)
    head = order[: nw // 2]
    rest = order[nw // 2 :]
    limit = _word_bytes(src.words, nw, m, src.counts is not None)
    benefit = tok[rest] * (1.0 - _ngram_recon_cosines(src, rest, ids, offs))
    extra = rest[np.argsort(-benefit, kind="stable")[: nw - len(head)]]
    while True:
        chosen = np.sort(np.concatenate([head, extra]))
        if len(extra) == 0 or _words_bytes([src.words[i] for i in chosen], m,
                                           src.counts is not None) <= limit:
            return chosen
        extra = extra[: len(extra) - max(1, len(extra) // 200)]


def _untrained(src: _Source, used: np.ndarray, budget: int | None
               ) -> tuple[InitLayout | None, np.ndarray | None]:
    """The bucket rows still at fastText's seeded initial values, as a little-endian bitmap
    over the drawn buckets (`vecsmith.fasttext.init_rows`): unknown words made of n-grams no
    vocabulary word holds then come back as in fastText, for a bit a bucket instead of a row.
    (None, None) when the source's rows are not fastText's init (another seed, float16) or
    the bitmap would take more than 5% of the budget."""
    if not src.bucket:
        return None, None
    cand = np.setdiff1d(np.arange(src.bucket, dtype=np.int64), used, assume_unique=True)
    lay = find_layout(src.bucket_rows, cand, src.matrix_words, src.bucket, src.dim)
    try:  # a layout the reader would refuse (beyond its bounds) is not written
        lay = lay and InitLayout.from_json(lay.to_json())
    except ValueError:
        lay = None
    if lay is None:
        return None, None
    n_bits = min(lay.drawn_buckets, src.bucket)
    if budget is not None and (n_bits + 7) // 8 > budget // 20:
        return None, None
    mask = np.zeros(n_bits, dtype=bool)
    mask[untrained_rows(src.bucket_rows, cand, lay)] = True
    if not mask.any():
        return None, None
    return lay, np.packbits(mask, bitorder="little")


def _residual_plan(word_w: np.ndarray, ngram_w: np.ndarray, room: int, m: int,
                   books_bytes: int, max_stages: int, shrink: float = 0.3
                   ) -> tuple[list[int], list[np.ndarray]]:
    """Which rows get residual stages, greedily by weight per byte: a word's weight is its
    token share, an n-gram row's its share of the n-gram score (both sum to 1), and stage s
    is worth shrink^(s-1) of stage 1 (each stage leaves about that much of the error). A word
    stage costs m bytes a row and covers the first n words (the most frequent kept); an n-gram
    stage m + 4 (its row index); each stage's codebooks cost `books_bytes`. Returns the word
    count per stage and the sorted n-gram positions per stage."""
    n_w: list[int] = []
    g_at: list[np.ndarray] = []
    ww = np.asarray(word_w, np.float64)
    ww = ww / ww.sum() if len(ww) and ww.sum() > 0 else ww
    gw = np.asarray(ngram_w, np.float64)
    gw = gw / gw.sum() if len(gw) and gw.sum() > 0 else gw
    worder = np.arange(len(ww))  # the store's word order is the source's (by frequency)
    gorder = np.argsort(-gw, kind="stable")
    wsorted = np.minimum.accumulate(ww[worder]) if len(ww) else ww  # stages cover a prefix
    gsorted = gw[gorder]
    for st in range(max_stages):
        f = shrink**st
        # candidates of this stage: per-byte benefit, best first, each list already sorted
        cand_w = wsorted[: n_w[-1] if n_w else len(wsorted)] * f / m
        cand_g = gsorted[: len(g_at[-1]) if g_at else len(gsorted)] * f / (m + 4)
        if room <= books_bytes or not (len(cand_w) or len(cand_g)):
            break
        # the cutoff benefit t such that rows with benefit >= t fit (two codebooks at most)
        both = np.sort(np.concatenate([cand_w, cand_g]))[::-1]
        both = both[both > 0]  # rows of no weight (e.g. words already stored dense) get none
        if not len(both):
            break
        lo, hi = 0, len(both)
        while lo < hi:  # most rows whose cost (rows + books) fits
            mid = (lo + hi + 1) // 2
            t = both[mid - 1]
            nw_ = int(np.sum(cand_w >= t))
            ng_ = int(np.sum(cand_g >= t))
            cost = nw_ * m + ng_ * (m + 4) + books_bytes * ((nw_ > 0) + (ng_ > 0))
            if cost <= room:
                lo = mid
            else:
                hi = mid - 1
        if lo == 0:
            break
        t = both[lo - 1]
        nw_, ng_ = int(np.sum(cand_w >= t)), int(np.sum(cand_g >= t))
        nw_ = nw_ if nw_ >= 16 else 0  # too few rows to train a codebook on
        ng_ = ng_ if ng_ >= 16 else 0
        if not nw_ and not ng_:
            break
        room -= nw_ * m + ng_ * (m + 4) + books_bytes * ((nw_ > 0) + (ng_ > 0))
        if nw_:
            n_w.append(nw_)
        if ng_:
            g_at.append(np.sort(gorder[:ng_]))
        if (n_w and nw_ == 0) or (g_at and ng_ == 0):
            break  # a stage must cover a subset of the one before: stop where one kind stops
    return n_w, g_at


def _dense_plan(word_w: np.ndarray, ngram_w: np.ndarray, room: int, dim: int, m: int
                ) -> tuple[int, np.ndarray]:
    """Which rows go to the dense tier (int16 + a float32 scale), greedily by weight per byte
    (weights as in `_residual_plan`). A word costs 2·dim + 4 bytes less its code (search scores
    the tier's words exactly); an n-gram row 2·dim + 8 less its code (the caller's reserve for
    residual stages shrinks by the stages dense rows no longer need).
    Returns the count of the first words and the sorted n-gram positions."""
    ww = np.asarray(word_w, np.float64)
    ww = np.minimum.accumulate(ww / ww.sum()) if len(ww) and ww.sum() > 0 else np.zeros(len(ww))
    gw = np.asarray(ngram_w, np.float64)
    gw = gw / gw.sum() if len(gw) and gw.sum() > 0 else np.zeros(len(gw))
    cw, cg = 2 * dim + 4 - m, 2 * dim + 8 - m
    gorder = np.argsort(-gw, kind="stable")
    benefit = np.concatenate([ww / cw, gw[gorder] / cg])
    cost = np.concatenate([np.full(len(ww), cw), np.full(len(gw), cg)])
    pick = np.argsort(-benefit, kind="stable")
    fits = pick[: int(np.searchsorted(np.cumsum(cost[pick]), room, side="right"))]
    fits = fits[benefit[fits] > 0]
    n_w = int(np.sum(fits < len(ww)))
    return n_w, np.sort(gorder[fits[fits >= len(ww)] - len(ww)])


def _words_bytes(words: list[str], m: int, with_counts: bool) -> int:
    return _word_bytes(words, len(words), m, with_counts)


# ------------------------------------------------------------------------------- compress


def compress(source, out: str | os.PathLike, size: str | int | None = "25MB", *,
             max_words: int | None = None, max_ngrams: int | None = None,
             pq_subvectors: int | None = None, bits: int = 8, opq: bool = False,
             refit: bool | None = None, refit_iters: int = 30, damping: float = 0.01,
             word_share: float | None = None, oov_floor: float = 1.0, holdout: float = 0.05,
             heldout_weight: float = 0.5, residual_share: float = 0.1, max_stages: int = 3,
             dense_tier: bool = True, untrained: bool = True, checksum: bool = True,
             seed: int = 0) -> Path:
    """Write a compressed store of `source` (fastText `.bin`, a store or an opened one) at `out`.

    `size`: the whole file's bound (e.g. "25MB"; None: only `max_words`/`max_ngrams` bound it).
    `pq_subvectors` (default dim/3 when it divides) sub-vectors of `bits` bits each;
    `word_share` of the room goes to the vocabulary, the rest to n-gram rows (default 0.04 for
    fastText's own n-grams, whose dropped words come back at cosine ≈ 0.99; 0.3 for n-grams
    fitted by `vecsmith transfer`, from which dropped words come back only as well as the fit
    did, so words are worth more of the room); `oov_floor` is
    the weight unseen words get in n-gram scoring and refit, against 1 for the tokens;
    `refit` (default: on unless the source's n-gram rows were fitted to its words, as
    `vecsmith transfer` fits them: refitting those to the dropped words costs unknown words
    more than it gains);
    `holdout` of the dropped words are kept out of the refit to measure quality on words it did
    not see; the refit keeps the iterate with the best mix of fitted and held-out cosine
    (`heldout_weight` on the held-out side). `residual_share` of the room (and whatever the
    words and n-grams leave) buys residual stages, up to `max_stages` more codes for the rows
    that carry the most tokens (words) or the most n-gram score (`_residual_plan`); when that
    saturates, `dense_tier` stores the rows that matter most as int16 with a float32 scale a
    row (`_dense_plan`), which beats float16 at 4 bytes more a row. `untrained`: rows training
    never moved are marked (one bit a bucket) and regenerated from fastText's seed when read,
    instead of dropped (`_untrained`). `checksum` records the source file's SHA-256.
    Returns the path; the file is written atomically.
    """
    t0 = time.perf_counter()
    if not 1 <= bits <= 8:
        raise CompressError(f"bits must be 1..8 (codes are one byte), got {bits}")
    if not (word_share is None or 0.0 < word_share <= 1.0) or not 0.0 <= holdout < 1.0:
        raise CompressError("need 0 < word_share <= 1 and 0 <= holdout < 1")
    if not 0.0 <= residual_share < 1.0 or not 0 <= max_stages <= 8:
        raise CompressError("need 0 <= residual_share < 1 and 0 <= max_stages <= 8")
    budget = None if size is None else parse_size(size)
    src = _open_source(source)
    if refit is None:
        refit = not src.fitted_ngrams
    if word_share is None:
        word_share = 0.3 if src.fitted_ngrams else 0.04
    n_all, dim = len(src.words), src.dim
    if n_all == 0:
        raise CompressError("the source has no words")
    m = _subvectors(dim, pq_subvectors)
    rng = np.random.default_rng(seed)

    # token shares: real counts, else Zipf's 1/rank for a frequency-ranked list
    freq = src.counts.astype(np.float64) if src.counts is not None else \
        1.0 / np.arange(1, n_all + 1, dtype=np.float64)
    tok = freq / freq.sum() if freq.sum() > 0 else np.full(n_all, 1.0 / n_all)
    order = np.argsort(-freq, kind="stable")  # keep the most frequent words
    if src.counts is None:
        order = np.arange(n_all)

    blob, offsets = pack_words(src.words)
    if src.bucket:
        ids, offs = compiled().word_bucket_ids(blob, offsets, src.minn, src.maxn, src.bucket,
                                               False)
    else:
        ids, offs = np.zeros(0, np.int64), np.zeros(n_all + 1, np.int64)
    used = np.unique(ids)
    init, init_bits = _untrained(src, used, budget) if untrained and max_ngrams != 0 else (
        None, None)
    init_bytes = 0 if init_bits is None else len(init_bits)
    plan_budget = budget
    if budget is not None and max_stages and residual_share:
        fixed = 2 * (1 << bits) * dim * 2 + HEADER_RESERVE
        if budget - fixed > 20 * fixed:  # small files spend all on rows: stages need codebooks
            plan_budget = budget - int(residual_share * (budget - fixed))
    nw, ng = _plan(src, plan_budget, max_words, max_ngrams, m, 1 << bits, opq, word_share,
                   len(used), init_bytes)
    kept_words = _choose_words(src, order, nw, tok, ids, offs, m)
    nw = len(kept_words)
    dropped = np.setdiff1d(np.arange(n_all), kept_words)

    # n-gram scores over dropped words: token share plus a uniform floor for unseen words
    u = np.full(n_all, oov_floor / n_all)  # unseen words look like any vocabulary word
    if len(dropped):
        u[dropped] += tok[dropped] / max(tok[dropped].sum(), 1e-300)
    keys = np.zeros(0, np.int64)
    key_score = np.zeros(0)
    if ng and len(used):
        lens = np.diff(offs)
        per = np.repeat(u / np.maximum(lens, 1), lens)
        score = np.bincount(ids, weights=per, minlength=src.bucket)[used]
        norms = np.empty(len(used))
        for s in range(0, len(used), 1 << 16):
            norms[s : s + (1 << 16)] = np.linalg.norm(src.bucket_rows(used[s : s + (1 << 16)]),
                                                      axis=1)
        score *= norms
        top = np.argsort(-score, kind="stable")[:ng]
        top = top[score[top] > 0]
        keys = np.sort(used[top])
        key_score = score[top][np.argsort(used[top])]
    x0 = src.bucket_rows(keys) if len(keys) else np.zeros((0, dim), np.float32)

    # refit the kept rows on dropped words (the most frequent ones plus a random sample)
    report: dict = {"kept_words": int(nw), "source_words": n_all, "kept_ngrams": len(keys),
                    "source_buckets": int(src.bucket), "subvectors": m, "bits": bits,
                    "opq": opq, "refit": bool(refit and len(keys)), "word_share": word_share,
                    "dropped_ngram_rule": "left out of the mean",
                    "untrained_ngrams": 0 if init is None or not len(keys) else int(
                        np.unpackbits(init_bits).sum())}
    fit_words = dropped
    if len(fit_words) > MAX_FIT_WORDS:
        by_freq = fit_words[np.argsort(-u[fit_words], kind="stable")]
        rest = rng.choice(by_freq[MAX_FIT_WORDS // 2 :], MAX_FIT_WORDS // 2, replace=False)
        fit_words = np.sort(np.concatenate([by_freq[: MAX_FIT_WORDS // 2], rest]))
    x = x0
    held_cos_words = np.zeros(0, np.int64)
    if len(keys) and len(fit_words):
        a, covered = _mean_matrix(ids, offs, fit_words, keys)
        fit_words, a = fit_words[covered], a[covered]
        targets = src.word_vectors(fit_words)
        held = rng.random(len(fit_words)) < holdout
        if refit:
            x, hist = _refit(a, targets, x0, u[fit_words] / u[fit_words].mean(), held,
                             refit_iters, damping, heldout_weight)
            report["refit_fitted_cosine"] = [round(f, 5) for f, _ in hist]
            report["refit_heldout_cosine"] = [round(h, 5) for _, h in hist]
        held_cos_words = fit_words[held]

    # product quantization: unit word rows (+ float16 lengths), raw n-gram rows
    wv = src.word_vectors(kept_words)
    scales = np.linalg.norm(wv, axis=1).astype(np.float32)
    unit = wv / np.where(scales > 0, scales, 1.0)[:, None]
    rot = _opq_rotation(unit, m, seed) if opq and nw >= 256 else None
    wq = _train(unit, m, bits, rot, seed)
    wcodes = wq.encode(unit)
    scales16 = scales.astype(np.float16)
    decoded_w = wq.decode(wcodes) * scales16.astype(np.float32)[:, None]
    wnorms = np.linalg.norm(decoded_w, axis=1).astype(np.float32)
    gq = gcodes = None
    if len(keys):
        gq = _train(x, m, bits, rot, seed + 1000)
        gcodes = gq.encode(x)

    # residual stages for the rows that matter most, in what the budget leaves
    dense = None
    q16_words, q16_at = 0, np.zeros(0, np.int64)
    stages_w: list[tuple[np.ndarray, _Quantizer]] = []
    stages_g: list[tuple[np.ndarray, np.ndarray, _Quantizer]] = []
    if budget is not None and max_stages:
        text = sum(len(src.words[i].encode("utf-8", "surrogateescape")) + 1 for i in kept_words)
        spent = (HEADER_RESERVE + wq.books.size * 2 + nw * (m + 2 + 4 + 8) + 8 + text
                 + math.ceil(nw / 0.7) * 8 + (nw * 8 if src.counts is not None else 0)
                 + (0 if gq is None else gq.books.size * 2 + len(keys) * (m + 4))
                 + (0 if rot is None else rot.size * 4) + init_bytes)
        room = budget - spent - 4096
        dense_bytes = nw * dim * 4
        if nw == n_all and room >= 2 * dense_bytes:  # every word fits exactly: store it so
            dense = wv
            room -= dense_bytes - nw * m  # (without its codes)
        # the dense tier, once residual stages on every row would still leave room
        full_res = max_stages * (nw * m + len(keys) * (m + 4) + 2 * wq.books.size * 2)
        if dense_tier and room > full_res:
            reserve = full_res  # then less: dense words end the word stages (they cover a prefix)
            for _ in range(4):
                w_, at_ = _dense_plan(tok[kept_words] if dense is None else np.zeros(nw),
                                      key_score, room - reserve, dim, m)
                q16_words, q16_at = w_, at_
                reserve = max_stages * ((len(keys) - len(at_)) * (m + 4) + wq.books.size * 2
                                        + (0 if w_ else nw * m + wq.books.size * 2))
            room -= q16_words * (2 * dim + 4 - m) + len(q16_at) * (2 * dim + 8 - m)
        word_w = np.zeros(nw) if dense is not None or q16_words else tok[kept_words]
        ngram_w = key_score.copy()
        ngram_w[q16_at] = 0.0
        n_res_w, res_g = _residual_plan(word_w, ngram_w, room, m, wq.books.size * 2,
                                        max_stages)
        res_g = [a for a in (np.setdiff1d(a, q16_at) for a in res_g) if len(a) >= 16]
        gq16 = quantize16(x[q16_at])
        unit_dec = wq.decode(wcodes)
        for st, n in enumerate(n_res_w):
            q = _train(unit[:n] - unit_dec[:n], m, bits, None, seed + 2000 + st)
            c = q.encode(unit[:n] - unit_dec[:n])
            unit_dec[:n] += q.decode(c)
            stages_w.append((c, q))
        if res_g:
            g_dec = gq.decode(gcodes)
            for st, at in enumerate(res_g):
                q = _train(x[at] - g_dec[at], m, bits, None, seed + 3000 + st)
                c = q.encode(x[at] - g_dec[at])
                g_dec[at] += q.decode(c)
                stages_g.append((at.astype(np.int32), c, q))
        decoded_w = unit_dec * scales16.astype(np.float32)[:, None]
        if q16_words:
            wq16 = quantize16(wv[:q16_words])
            decoded_w[:q16_words] = dequantize16(*wq16)
        if dense is not None:
            decoded_w = dense
        report["dense_tier"] = {"words": int(q16_words), "ngram_rows": len(q16_at),
                                "coding": "int16 x float32 scale a row"}
        wnorms = np.linalg.norm(decoded_w, axis=1).astype(np.float32)
        report["dense_word_rows"] = 0 if dense is None else nw
        report["residual_word_rows"] = [int(n) for n in n_res_w]
        report["residual_ngram_rows"] = [len(a) for a in res_g]

    # measured quality against the source
    cos_kept = _cosines(decoded_w, wv)
    report["cosine_kept_words"] = round(float(np.average(cos_kept, weights=tok[kept_words])), 5)
    cos_all = np.zeros(n_all)
    cos_all[kept_words] = cos_kept
    if gq is not None and len(fit_words):
        xg = gq.decode(gcodes)
        for at, c, q in stages_g:
            xg[at] += q.decode(c)
        if len(q16_at):
            xg[q16_at] = dequantize16(*gq16)
        sample = dropped if len(dropped) <= MAX_FIT_WORDS else np.sort(
            np.concatenate([fit_words, rng.choice(dropped, MAX_FIT_WORDS // 4, replace=False)]))
        sample = np.unique(sample)
        a_s, _ = _mean_matrix(ids, offs, sample, keys)
        cos_all[sample] = _cosines(a_s @ xg, src.word_vectors(sample))
        if len(held_cos_words):
            report["cosine_heldout_dropped_words"] = round(float(cos_all[held_cos_words].mean()),
                                                           5)
    report["cosine_token_weighted"] = round(float(np.sum(tok * cos_all) / tok.sum()), 5)
    report["seconds"] = round(time.perf_counter() - t0, 2)

    # write
    kept_list = [src.words[i] for i in kept_words]
    kblob, koffsets = pack_words(kept_list)
    vocab = _vocab_tensors(kblob.copy(), koffsets)
    books = wq.books.reshape(m, -1, dim // m).astype(np.float16)
    specs: list[TensorSpec] = []
    chunks: list[tuple[str, np.ndarray]] = []

    def put(name: str, array: np.ndarray, dtype) -> None:
        """One tensor of the file: its spec and its data, in the dtype the format names."""
        array = np.ascontiguousarray(array, dtype=dtype)
        specs.append(TensorSpec(name, array.dtype, array.shape))
        chunks.append((name, array))

    # the dense tier's words need no codes (the reader scores them exactly)
    put("pq_word_codes", wcodes[nw if dense is not None else q16_words :], np.uint8)
    put("pq_word_codebooks", books, np.float16)
    put("pq_word_scales", scales16, np.float16)
    put("norms", wnorms, np.float32)
    specs += _vocab_specs(vocab)
    chunks += vocab.items()
    if src.counts is not None:
        put("counts", src.counts[kept_words], np.int64)
    if gq is not None:
        put("pq_ngram_codes", np.delete(gcodes, q16_at, axis=0) if len(q16_at) else gcodes,
            np.uint8)
        put("pq_ngram_codebooks", gq.books, np.float16)
        put("ngram_keys", keys, np.int32)
    if q16_words:
        put("word_q16", wq16[0], np.int16)
        put("word_q16_scales", wq16[1], np.float32)
    if len(q16_at):
        put("ngram_q16", gq16[0], np.int16)
        put("ngram_q16_scales", gq16[1], np.float32)
        put("ngram_q16_rows", q16_at, np.int32)
    if dense is not None:
        put("word_dense", dense, np.float32)
    for st, (c, q) in enumerate(stages_w, 1):
        put(f"pq_word_res{st}_codes", c, np.uint8)
        put(f"pq_word_res{st}_codebooks", q.books, np.float16)
    for st, (at, c, q) in enumerate(stages_g, 1):
        put(f"pq_ngram_res{st}_codes", c, np.uint8)
        put(f"pq_ngram_res{st}_codebooks", q.books, np.float16)
        put(f"ngram_res{st}_rows", at, np.int32)
    if rot is not None:
        put("pq_rotation", rot, np.float32)
    if gq is not None and init is not None:
        put("ngram_init", init_bits, np.uint8)
    src_path = source if isinstance(source, (str, os.PathLike)) else None
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "dim": dim, "minn": src.minn,
            "maxn": src.maxn, "bucket": src.bucket if gq is not None else 0, "dtype": "pq",
            "nwords": nw, "ngram_rows": len(keys), "eos_ngrams": int(src.eos_ngrams),
            "oov": "fasttext-kept" if gq is not None else "error", "search_index": "pq-adc",
            "source": src.name, "source_format": src.fmt,
            "ngram_source": "fitted" if src.fitted_ngrams else "fasttext",
            "source_sha256": file_sha256(src_path) if checksum and src_path and os.path.isfile(src_path) else "",
            "compression": json.dumps(report, separators=(",", ":"))}
    if gq is not None and init is not None:
        meta["init_rows"] = init.to_json()
    path = _write(out, specs, meta, iter(chunks), src_path)
    if budget is not None and path.stat().st_size > budget:  # the plan's reserve was too small
        size_now = path.stat().st_size
        path.unlink()
        raise CompressError(f"the store came out at {size_now} bytes, over the {budget} asked")
    return path
