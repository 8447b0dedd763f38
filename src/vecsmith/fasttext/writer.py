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
from vecsmith.fasttext._kernels import word_bucket_ids
from vecsmith.fasttext.format import MAGIC

__all__ = ["FastTextWriteError", "save_fasttext_bin"]

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
    ids, offs = word_bucket_ids(blob, offsets, minn, maxn, bucket, False) if bucket else (
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
