"""Write a fastText `.bin` (version 12) from a store, so the official tool can read it.

fastText answers `get_word_vector(w)` for a known word with the mean of the word's own input
row and its n-gram rows, ``(row_w + Σ rows_g) / (n + 1)``. A store keeps the final vector
``v_w`` and the n-gram rows, so the word's input row is solved for:
``row_w = (n + 1)·v_w − Σ rows_g`` (in float64, then rounded to float32). Loaded by the
official `fasttext`, gensim's `load_facebook_model` or vecsmith, every vocabulary word then
gives the store's vector to float32 rounding (about 1e-7 relative, see the tests). Unknown words
get the mean of their n-gram rows, as in the store, when the store keeps every bucket; a store
that keeps only some buckets (``ngram_keys``) is written with zero rows for the others, which
fastText counts in an unknown word's mean while the store leaves them out.

The output matrix (unused by word vectors) is written as zeros, so the file loads everywhere;
with ``output=False`` it has no rows, which the official tool loads but gensim does not.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from vecsmith._atomic import atomic_open
from vecsmith._batch import pack_words
from vecsmith.fasttext.format import MAGIC
from vecsmith.subwords import compiled

__all__ = ["FastTextWriteError", "save_fasttext_bin", "save_fasttext_ftz"]

VERSION = 12
CHUNK_ROWS = 1 << 15
_LOSS_NS, _MODEL_CBOW = 2, 1


class FastTextWriteError(ValueError):
    """The store cannot be written as a fastText model (says which word or what part)."""


def _open(source):
    if isinstance(source, (str, os.PathLike)):
        from vecsmith import store

        return store.open(source)
    return source


def _args_block(dim: int, bucket: int, minn: int, maxn: int) -> bytes:
    # dim, ws, epoch, minCount, neg, wordNgrams, loss, model, bucket, minn, maxn, lrUpdateRate
    ints = (dim, 5, 5, 1, 5, 1, _LOSS_NS, _MODEL_CBOW, bucket, minn, maxn, 100)
    return struct.pack("<12i", *ints) + struct.pack("<d", 1e-4)


def _dictionary_block(words: list[str], counts: np.ndarray) -> bytes:
    parts = [struct.pack("<3i", len(words), len(words), 0),
             struct.pack("<2q", int(counts.sum()), -1)]
    entry = struct.Struct("<qb")
    for w, c in zip(words, counts):
        raw = w.encode("utf-8", "surrogateescape")
        if b"\0" in raw or not raw:
            raise FastTextWriteError(f"word {w!r} is empty or holds a NUL byte: fastText "
                                     "cannot store it")
        parts.append(raw + b"\0" + entry.pack(int(c), 0))
    return b"".join(parts)


def save_fasttext_bin(vectors_or_store, path: str | os.PathLike, output: bool = True) -> Path:
    """Write `vectors_or_store` (an opened store or its path) as a fastText `.bin` v12.

    Written atomically. The model is labelled cbow / negative sampling with fastText's default
    hyper-parameters; only `dim`, `minn`, `maxn` and `bucket` come from the store. Counts are
    the store's when it has them, else decreasing by rank (fastText sorts by count).
    """
    v = _open(vectors_or_store)
    words = v.words
    n, dim = len(words), v.dim
    if n == 0:
        raise FastTextWriteError("the store has no words")
    bucket = v.bucket if v.has_ngrams else 0
    minn, maxn = (v.minn, v.maxn) if bucket else (0, 0)
    counts = getattr(v, "counts", None)
    counts = np.arange(n, 0, -1, dtype=np.int64) if counts is None else np.asarray(counts)
    blob, offsets = pack_words(words)
    # the n-gram ids fastText's initNgrams gives each vocabulary word (none for `</s>`)
    ids, offs = compiled().word_bucket_ids(blob, offsets, minn, maxn, bucket, False) if bucket else (
        np.zeros(0, np.int64), np.zeros(n + 1, np.int64))

    path = Path(path)
    with atomic_open(path, "wb") as fh:
        fh.write(struct.pack("<2i", MAGIC, VERSION))
        fh.write(_args_block(dim, bucket, minn, maxn))
        fh.write(_dictionary_block(words, counts))
        fh.write(b"\0")  # quant_input = false
        fh.write(struct.pack("<2q", n + bucket, dim))
        for s in range(0, n, CHUNK_ROWS):
            e = min(n, s + CHUNK_ROWS)
            fh.write(_word_rows(v, words[s:e], ids, offs[s : e + 1], bucket).tobytes())
        for s in range(0, bucket, CHUNK_ROWS):
            rows = v.bucket_rows(np.arange(s, min(bucket, s + CHUNK_ROWS), dtype=np.int64))
            fh.write(np.ascontiguousarray(rows, dtype="<f4").tobytes())
        fh.write(b"\0")  # qout = false
        fh.write(struct.pack("<2q", n if output else 0, dim))
        if output:
            zeros = np.zeros((min(n, CHUNK_ROWS), dim), dtype="<f4").tobytes()
            for s in range(0, n, CHUNK_ROWS):
                fh.write(zeros[: (min(n, s + CHUNK_ROWS) - s) * dim * 4])
    return path


def _word_rows(v, words: list[str], ids: np.ndarray, offs: np.ndarray, bucket: int
               ) -> np.ndarray:
    """Input rows that make fastText's mean give the store's vector for each word."""
    target = v.get_many(words).astype(np.float64)
    if not bucket:
        return target.astype("<f4")
    lo, hi = int(offs[0]), int(offs[-1])
    counts = np.diff(offs)
    sums = np.zeros_like(target)
    if hi > lo:
        chunk_ids = ids[lo:hi]
        uniq, inverse = np.unique(chunk_ids, return_inverse=True)
        rows = v.bucket_rows(uniq).astype(np.float64)[inverse]
        has = counts > 0
        sums[has] = np.add.reduceat(rows, (offs[:-1] - lo)[has], axis=0)
    return ((counts[:, None] + 1) * target - sums).astype("<f4")


def _kept_buckets(v, ids: np.ndarray) -> np.ndarray:
    """Sorted buckets the `.ftz` keeps: a compressed store's kept n-grams, else those the
    vocabulary reaches."""
    kept = getattr(v, "kept_buckets", None)
    return np.asarray(kept, np.int64) if kept is not None else np.unique(ids)


def save_fasttext_ftz(vectors_or_store, path: str | os.PathLike, dsub: int = 2,
                      output: bool = True, seed: int = 0) -> Path:
    """Write `vectors_or_store` as a quantized, pruned fastText `.ftz` (version 12).

    The input matrix is one product quantizer (`dsub` values a byte, 256 float32 centroids per
    sub-vector, no norm quantizer) over the kept n-gram rows and the words' input rows; the
    prune index maps each kept bucket to its row, and fastText leaves the other n-grams out of
    a word's mean, as compressed stores do. The n-gram rows are quantized first and each
    word's row is then solved against the *quantized* n-gram rows, so a word's only error is
    its own row's quantization divided by its n-gram count + 1. Kept n-grams: a compressed
    store's (`kept_buckets`), else every bucket a vocabulary word reaches. The output matrix
    (unused by word vectors) is a quantized zero matrix, one byte a word plus 256·dim floats,
    which vecsmith's reader wants; ``output=False`` writes none (the official tool loads it).
    """
    from vecsmith.store.compress import encode_rows, train_codebooks
    from vecsmith.store.pq import decode

    v = _open(vectors_or_store)
    words = v.words
    n, dim = len(words), v.dim
    if n == 0:
        raise FastTextWriteError("the store has no words")
    if dsub < 1 or dsub > dim:
        raise FastTextWriteError(f"dsub={dsub} must be in 1..dim ({dim})")
    if dim % dsub:
        raise FastTextWriteError(f"dsub={dsub} must divide dim={dim} (vecsmith writes equal "
                                 "sub-vectors)")
    bucket = v.bucket if v.has_ngrams else 0
    minn, maxn = (v.minn, v.maxn) if bucket else (0, 0)
    counts = getattr(v, "counts", None)
    counts = np.arange(n, 0, -1, dtype=np.int64) if counts is None else np.asarray(counts)
    blob, offsets = pack_words(words)
    ids, offs = compiled().word_bucket_ids(blob, offsets, minn, maxn, bucket, False) if bucket else (
        np.zeros(0, np.int64), np.zeros(n + 1, np.int64))
    keys = _kept_buckets(v, ids) if bucket else np.zeros(0, np.int64)
    m = dim // dsub
    rng = np.random.default_rng(seed)

    def quantize(x: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray]:
        sample = x[rng.choice(len(x), 65536, replace=False)] if len(x) > 65536 else x
        books = train_codebooks(sample, m, min(256, len(sample)), s)
        codes = encode_rows(x, books)
        return codes, decode(codes, books), books

    grows = v.bucket_rows(keys) if len(keys) else np.zeros((0, dim), np.float32)
    gcodes = np.zeros((0, m), np.uint8)
    gdec = grows
    if len(keys):
        gcodes, gdec, _ = quantize(grows, seed)
    # word rows against the decoded n-gram rows, kept n-grams only (the pruned model's mean)
    pos = np.minimum(np.searchsorted(keys, ids), max(len(keys) - 1, 0))
    ok = (len(keys) > 0) & (keys[pos] == ids) if len(ids) else np.zeros(0, bool)
    owner = np.repeat(np.arange(n), np.diff(offs))
    kept_n = np.bincount(owner[ok], minlength=n)
    sums = np.zeros((n, dim), np.float64)
    np.add.at(sums, owner[ok], gdec[pos[ok]].astype(np.float64))
    target = v.get_many(words).astype(np.float64)
    wrows = ((kept_n[:, None] + 1) * target - sums).astype(np.float32)
    allrows = np.concatenate([wrows, grows])
    codes, _, books = quantize(allrows, seed + 1)
    # one quantizer for the file: re-encode the n-gram rows with it (same rows as decoded
    # above only when both books agree, so solve the word rows once more against these)
    gcodes = codes[n:]
    gdec = decode(gcodes, books)
    sums[:] = 0
    np.add.at(sums, owner[ok], gdec[pos[ok]].astype(np.float64))
    wrows = ((kept_n[:, None] + 1) * target - sums).astype(np.float32)
    codes = np.concatenate([encode_rows(wrows, books), gcodes])
    centroids = np.zeros((m, 256, dsub), np.float32)
    centroids[:, : books.shape[1]] = books

    path = Path(path)
    with atomic_open(path, "wb") as fh:
        fh.write(struct.pack("<2i", MAGIC, VERSION))
        fh.write(_args_block(dim, bucket, minn, maxn))
        block = _dictionary_block(words, counts)
        # pruneidx_size: kept buckets (0 would mean "no n-grams at all", as fastText reads it)
        prune = len(keys) if bucket else -1
        fh.write(block[:20] + struct.pack("<q", prune) + block[28:])
        if len(keys):
            pairs = np.stack([keys, np.arange(len(keys))], axis=1).astype("<i4")
            fh.write(pairs.tobytes())
        fh.write(b"\1")  # quant_input
        fh.write(b"\0")  # qnorm
        rows = n + len(keys)
        fh.write(struct.pack("<2q", rows, dim))
        fh.write(struct.pack("<i", rows * m))
        fh.write(np.ascontiguousarray(codes, dtype=np.uint8).tobytes())
        fh.write(struct.pack("<4i", dim, m, dsub, dsub))
        fh.write(centroids.astype("<f4").tobytes())
        if output:  # a quantized zero output matrix: one code a word, one sub-vector
            fh.write(b"\1\0" + struct.pack("<2qi", n, dim, n) + bytes(n))
            fh.write(struct.pack("<4i", dim, 1, dim, dim) + bytes(dim * 256 * 4))
        else:
            fh.write(b"\0" + struct.pack("<2q", 0, dim))
    return path
