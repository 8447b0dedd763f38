"""fastText's subword scheme, in one public place: hashing, character n-grams, bucket rows,
the word table and exact row means.

The reader (`vecsmith.fasttext`), the store (`vecsmith.store`) and subword transfer
(`vecsmith.transfer`) all embed a word the same way:

- FNV-1a over the word's UTF-8 bytes, with bytes >= 0x80 sign-extended (fastText hashes
  through `int8_t`; released models were trained so);
- the n-grams of ``"<" + word + ">"`` of minn..maxn characters (an n-gram never starts on a
  UTF-8 continuation byte), none for ``</s>`` except in pre-2017 files;
- row ``first_row + hash % bucket`` of the table, or the prune map's row, or none;
- the float32 mean of the rows, summed in order onto +0.0 and then multiplied by the float32
  reciprocal of their count, bit-identical to fastText.

This module is numpy only, so a fresh process answers its first query in milliseconds. The
same arithmetic compiled for large batches lives in `vecsmith.subword_kernels` (numba),
loaded by `compiled()` on the first large batch; both give the same bits (tests/test_subwords).

Bounded work: a word has at most `ngram_count_bound(len, maxn)` n-grams, quadratic in its
length when maxn is large. A query whose bound exceeds `MAX_NGRAMS_PER_WORD` raises
`SubwordLimitError` before anything is allocated (a model with maxn=65536 would otherwise let
one 20,000-character query allocate gigabytes). With fastText's usual maxn <= 6 the limit is
a word of about 150,000 bytes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import cached_property
from types import ModuleType

import numpy as np

__all__ = ["EOS", "FNV_OFFSET", "FNV_PRIME", "MAX_NGRAMS_PER_WORD", "SMALL_BATCH",
           "QuantRows", "SubwordLimitError", "SubwordScheme", "WordTable", "check_lengths",
           "compiled", "compiled_available", "fnv1a", "hash_entries", "is_compiled", "mean_of_rows", "means_of_rows",
           "ngram_count_bound", "unit_rows", "use_compiled"]

FNV_OFFSET = 2166136261
FNV_PRIME = 16777619
EOS = b"</s>"
MAX_NGRAMS_PER_WORD = 1 << 20
# Batches up to this many words take the numpy path while the compiled kernels are not loaded
# yet: importing and loading them costs about a second, the numpy path ~20-100 us a word.
SMALL_BATCH = 16
# Tables of up to this many entries are built and hashed with numpy; larger ones compiled.
SMALL_TABLE = 20_000
_U32 = 0xFFFFFFFF
# fastText's `uint32_t(int8_t(byte))`: what each byte XORs into the hash
_SIGNED = tuple(b | 0xFFFFFF00 if b >= 0x80 else b for b in range(256))


class SubwordLimitError(ValueError):
    """A query word would need more n-grams than `MAX_NGRAMS_PER_WORD` allows."""


def compiled() -> ModuleType:
    """The numba kernels (`vecsmith.subword_kernels`), imported on first use."""
    mod = sys.modules.get("vecsmith.subword_kernels")
    if mod is not None:
        return mod
    from vecsmith._deps import require

    require("numba", "compiled batch lookups")
    import vecsmith.subword_kernels as mod

    return mod


def is_compiled() -> bool:
    """Whether the compiled kernels are loaded in this process already."""
    return "vecsmith.subword_kernels" in sys.modules


def compiled_available() -> bool:
    """Whether numba is installed (the `fast` extra); without it every path is numpy's."""
    global _AVAILABLE
    if _AVAILABLE is None:
        import importlib.util

        _AVAILABLE = importlib.util.find_spec("numba") is not None
    return _AVAILABLE


_AVAILABLE: bool | None = None


def use_compiled(n: int) -> bool:
    """Whether a batch of `n` words should take the compiled path: always once the kernels are
    loaded (they are faster per word), else for batches above `SMALL_BATCH` when numba is
    installed. Both paths give the same bits."""
    return is_compiled() or (n > SMALL_BATCH and compiled_available())


def fnv1a(data: bytes) -> int:
    """fastText's `Dictionary::hash`: FNV-1a, 32 bits, bytes >= 0x80 sign-extended."""
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ _SIGNED[b]) * FNV_PRIME) & _U32
    return h


def ngram_count_bound(length: int, maxn: int) -> int:
    """Room for every n-gram of a word of `length` bytes, plus its own id (the compiled
    kernels allocate this much per word)."""
    return (length + 2) * max(1, min(maxn, length + 2)) + 1


def check_lengths(max_length: int, maxn: int) -> None:
    """Raise `SubwordLimitError` when a word of `max_length` bytes may have too many n-grams."""
    if ngram_count_bound(max_length, maxn) > MAX_NGRAMS_PER_WORD:
        raise SubwordLimitError(
            f"a query word of {max_length} bytes may have up to "
            f"{ngram_count_bound(max_length, maxn)} character n-grams with maxn={maxn}; the "
            f"limit is {MAX_NGRAMS_PER_WORD} (vecsmith.subwords.MAX_NGRAMS_PER_WORD)")


def _is_eos(raw: bytes) -> bool:
    return raw == EOS


def hash_entries(blob: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """`fnv1a` of every entry (entry i is blob[offsets[i]:offsets[i+1]-1]) as uint32; numpy,
    one pass per byte position (compiled for large tables)."""
    n = len(offsets) - 1
    if n > SMALL_TABLE and compiled_available():
        return compiled().hash_entries(blob, offsets)
    h = np.full(n, FNV_OFFSET, dtype=np.uint32)
    if n == 0:
        return h
    starts = offsets[:-1]
    lengths = np.diff(offsets) - 1
    signed = blob.astype(np.uint32)
    signed[blob >= 0x80] |= np.uint32(0xFFFFFF00)
    active = np.arange(n)
    prime = np.uint32(FNV_PRIME)
    for p in range(int(lengths.max(initial=0))):
        active = active[lengths[active] > p]
        h[active] = (h[active] ^ signed[starts[active] + p]) * prime  # uint32 wraps, as C
    return h


@dataclass(frozen=True, eq=False)
class SubwordScheme:
    """How a model maps a word to table rows: n-gram lengths, buckets, pruning, `</s>`.

    `first_row` is the row of bucket 0 (a `.bin` input matrix puts the words first, so it is
    nwords there; a store's n-gram table starts at 0). `pruneidx_size` is fastText's: -1 all
    buckets kept, 0 none (no n-grams at all), > 0 only the buckets in `prune_keys` (sorted),
    at rows `first_row + prune_values`. `eos_ngrams`: pre-2017 files give `</s>` n-grams like
    any word.
    """

    minn: int
    maxn: int
    bucket: int
    first_row: int = 0
    pruneidx_size: int = -1
    prune_keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    prune_values: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    eos_ngrams: bool = False

    @property
    def has_ngrams(self) -> bool:
        return self.bucket > 0 and self.pruneidx_size != 0 and self.maxn > 0

    def with_first_row(self, first_row: int) -> SubwordScheme:
        """The same scheme for a table whose bucket 0 sits at `first_row`."""
        return SubwordScheme(self.minn, self.maxn, self.bucket, first_row, self.pruneidx_size,
                             self.prune_keys, self.prune_values, self.eos_ngrams)

    def describe(self) -> dict:
        return {"minn": self.minn, "maxn": self.maxn, "bucket": self.bucket,
                "pruned_buckets": max(self.pruneidx_size, 0) if self.pruneidx_size else 0,
                "has_ngrams": self.has_ngrams, "eos_ngrams": self.eos_ngrams}

    def kernel_args(self) -> tuple:
        """(minn, maxn, bucket, first_row, pruneidx_size, keys, values, eos_ngrams): the
        compiled kernels' arguments, in their order."""
        return (self.minn, self.maxn, self.bucket, self.first_row, self.pruneidx_size,
                self.prune_keys, self.prune_values, self.eos_ngrams)

    @cached_property
    def _prune_map(self) -> dict[int, int]:
        return dict(zip(self.prune_keys.tolist(), self.prune_values.tolist()))

    def ngrams(self, word: bytes) -> list[tuple[int, int, int]]:
        """`computeSubwords("<" + word + ">")`: (start, end, hash) of each n-gram of the
        bracketed word, in fastText's order; none for `</s>` (unless `eos_ngrams`)."""
        if not self.eos_ngrams and _is_eos(word):
            return []
        check_lengths(len(word), self.maxn)
        s = b"<" + word + b">"
        length = len(s)
        minn, maxn = self.minn, self.maxn
        signed = _SIGNED
        out = []
        for i in range(length):
            if s[i] & 0xC0 == 0x80:
                continue
            h = FNV_OFFSET
            j = i
            n = 1
            while j < length and n <= maxn:
                h = ((h ^ signed[s[j]]) * FNV_PRIME) & _U32
                j += 1
                while j < length and s[j] & 0xC0 == 0x80:
                    h = ((h ^ signed[s[j]]) * FNV_PRIME) & _U32
                    j += 1
                if n >= minn and not (n == 1 and (i == 0 or j == length)):
                    out.append((i, j, h))
                n += 1
        return out

    def bucket_row(self, h: int) -> int:
        """`pushHash(hash % bucket)`: the table row of a hash, or -1 when there is none."""
        if self.bucket <= 0 or self.pruneidx_size == 0:
            return -1
        b = h % self.bucket
        if self.pruneidx_size > 0:
            b = self._prune_map.get(b, -1)
            if b < 0:
                return -1
        return self.first_row + b

    def rows(self, word: bytes) -> list[int]:
        """Table rows of the word's n-grams that the scheme keeps, in order."""
        if not self.has_ngrams:
            return []
        rows = (self.bucket_row(h) for _, _, h in self.ngrams(word))
        return [r for r in rows if r >= 0]

    def bucket_ids(self, words: list[str | bytes]) -> tuple[np.ndarray, np.ndarray]:
        """Bucket ids (hash % bucket, before any prune map) of each word's n-grams,
        concatenated, and (n+1) offsets: word i owns ids[offsets[i]:offsets[i+1]]."""
        from vecsmith._batch import pack_words

        return self.packed_bucket_ids(*pack_words(words))

    def packed_bucket_ids(self, blob: np.ndarray, offsets: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
        """`bucket_ids` of packed words (`vecsmith._batch.pack_words`): a few words take the
        pure-Python path (no numba import in a fresh process), batches the compiled one."""
        if len(offsets) > 1:
            check_lengths(int(np.diff(offsets).max()) - 1, self.maxn)
        if use_compiled(len(offsets) - 1):
            return compiled().word_bucket_ids(blob, offsets, self.minn, self.maxn,
                                              self.bucket, self.eos_ngrams)
        raw = blob.tobytes()
        ids: list[int] = []
        ends = np.zeros(len(offsets), dtype=np.int64)
        for i in range(len(offsets) - 1):
            if self.bucket > 0:
                word = raw[offsets[i] : offsets[i + 1] - 1]
                ids.extend(h % self.bucket for _, _, h in self.ngrams(word))
            ends[i + 1] = len(ids)
        return np.array(ids, dtype=np.int64), ends


def mean_of_rows(mat, rows: list[int], out: np.ndarray | None = None) -> np.ndarray:
    """float32 mean of `mat[rows]` as fastText computes it: zeros, each row added in order,
    then one multiply by the float32 reciprocal of the count (zeros when there are no rows).
    float16 tables are widened exactly. Bit-identical to the compiled `sum_rows_into` path.
    `mat` is anything whose `mat[r]` is a float16/float32 row (e.g. `QuantRows`)."""
    x = np.zeros(mat.shape[1], dtype=np.float32) if out is None else out
    if out is not None:
        x[:] = 0.0
    for r in rows:
        x += mat[r]  # float16 rows widen exactly in the float32 add
    if rows:
        x *= np.float32(1.0 / len(rows))
    return x


def means_of_rows(mat, row_lists: list[list[int]], out: np.ndarray) -> np.ndarray:
    """`mean_of_rows` of many row lists into `out` (n, dim), vectorised over the words: the
    k-th rows of all words are added in one step, so each word still sums in its own order."""
    counts = np.fromiter(map(len, row_lists), dtype=np.int64, count=len(row_lists))
    out[:] = 0.0
    width = int(counts.max(initial=0))
    if width == 0:
        return out
    padded = np.zeros((len(row_lists), width), dtype=np.int64)
    for i, rows in enumerate(row_lists):
        padded[i, : len(rows)] = rows
    for k in range(width):
        sel = np.flatnonzero(counts > k)
        out[sel] += np.asarray(mat[padded[sel, k]], dtype=np.float32)
    has = counts > 0
    # float64 1/count rounded to float32, as the kernels compute the scale
    out[has] *= (1.0 / counts[has]).astype(np.float32)[:, None]
    return out


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Scale each row of float32 `x` to unit length in place, as `precomputeWordVectors`
    (and the compiled kernels): float32 norm summed in order, times the float32 of the
    float64 reciprocal; zero rows stay zero."""
    with np.errstate(over="ignore", invalid="ignore"):
        sq = np.add.accumulate(x * x, axis=1, dtype=np.float32)[:, -1] if x.shape[1] else (
            np.zeros(len(x), np.float32))
        norm = np.sqrt(sq)
        scale = np.zeros(len(x), dtype=np.float32)
        pos = norm > 0
        scale[pos] = (1.0 / norm[pos].astype(np.float64)).astype(np.float32)
        x[pos] *= scale[pos, None]
    return x


class QuantRows:
    """Rows of a product-quantized matrix (`QuantMatrix::addRowToVector`), reconstructed on
    demand: `q[r]` is norm * centroids, as float32, element for element as fastText adds
    them. Also takes an array of rows (a matrix back)."""

    def __init__(self, codes, centroids, nsubq, dsub, lastdsub, norm_codes=None,
                 norm_centroids=None):
        self.codes, self.centroids = codes, centroids
        self.norm_codes, self.norm_centroids = norm_codes, norm_centroids
        dim = (nsubq - 1) * dsub + lastdsub
        self.shape = (codes.shape[0], dim)
        m = np.repeat(np.arange(nsubq), [dsub] * (nsubq - 1) + [lastdsub])
        k = np.arange(dim) - m * dsub
        self._base = m * 256 * dsub + k
        self._step = np.where(m == nsubq - 1, lastdsub, dsub).astype(np.int64)
        self._m = m

    def __getitem__(self, r):
        codes = np.asarray(self.codes[r], dtype=np.int64)  # (nsubq,) or (n, nsubq)
        idx = self._base + codes[..., self._m] * self._step
        vec = self.centroids[idx].astype(np.float32)
        if self.norm_codes is not None:
            alpha = self.norm_centroids[self.norm_codes[r]].astype(np.float32)
            vec = vec * (alpha[..., None] if np.ndim(alpha) else alpha)
        return vec


class WordTable:
    """fastText's `word2int_`: linear probing over ceil(size / 0.7) slots, later duplicates
    win. `ids` holds a word id per slot (-1 = empty); `slot_hashes` the hash of each slot's
    word (lets a probe reject a slot without reading the word), or None where a store was
    written without them."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray, ids: np.ndarray,
                 slot_hashes: np.ndarray | None = None):
        self.blob, self.offsets, self.ids = blob, offsets, ids
        self._slot_hashes = slot_hashes

    @classmethod
    def build(cls, blob: np.ndarray, offsets: np.ndarray) -> WordTable:
        """The table of entries blob/offsets (numpy and a Python loop for small tables,
        compiled for large ones; the same slots either way)."""
        n = len(offsets) - 1
        if n > SMALL_TABLE and compiled_available():
            kern = compiled()
            ids, slot_hashes = kern.build_table(blob, offsets, kern.hash_entries(blob, offsets))
            return cls(blob, offsets, ids, slot_hashes)
        hashes = hash_entries(blob, offsets)
        tsize = max(1, int(np.ceil(n / 0.7)))
        ids = [-1] * tsize
        words = blob.tobytes().split(b"\0")
        for i, h in enumerate(hashes.tolist()):
            slot = h % tsize
            while ids[slot] != -1 and words[ids[slot]] != words[i]:
                slot = (slot + 1) % tsize
            ids[slot] = i
        ids_arr = np.array(ids, dtype=np.int32)
        slot_hashes = np.zeros(tsize, dtype=np.uint32)
        used = ids_arr >= 0
        slot_hashes[used] = hashes[ids_arr[used]]
        return cls(blob, offsets, ids_arr, slot_hashes)

    @property
    def slot_hashes(self) -> np.ndarray:
        """Hash of each slot's word (0 where empty), computed once when the file lacks them."""
        if self._slot_hashes is None:
            out = np.zeros(len(self.ids), dtype=np.uint32)
            used = self.ids >= 0
            out[used] = hash_entries(self.blob, self.offsets)[self.ids[used]]
            self._slot_hashes = out
        return self._slot_hashes

    @property
    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, slot_hashes), the form the compiled kernels take."""
        return self.ids, self.slot_hashes

    def entry(self, i: int) -> bytes:
        return self.blob[self.offsets[i] : self.offsets[i + 1] - 1].tobytes()

    def find(self, word: bytes) -> int:
        """Id of `word`, or -1 (a Python probe: no compiled code)."""
        tsize = len(self.ids)
        if tsize == 0:
            return -1
        h = fnv1a(word)
        slot = h % tsize
        ids, hashes = self.ids, self._slot_hashes
        while True:
            w = int(ids[slot])
            if w == -1:
                return -1
            if (hashes is None or int(hashes[slot]) == h) and self.entry(w) == word:
                return w
            slot = (slot + 1) % tsize

    def find_many(self, blob: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Ids (int32, -1 when absent) of the NUL-separated query words blob/offsets."""
        n = len(offsets) - 1
        if use_compiled(n):
            return compiled().lookup_ids(self.blob, self.offsets, self.arrays, blob, offsets)
        raw = blob.tobytes()
        return np.array([self.find(raw[offsets[i] : offsets[i + 1] - 1]) for i in range(n)],
                        dtype=np.int32)
