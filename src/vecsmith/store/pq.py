"""Reading compressed stores: product-quantized word and n-gram rows (`vecsmith.store.compress`).

A compressed store has no `vectors`/`ngrams` matrices. Each kept word row is a unit vector
coded by a product quantizer (one uint8 code per sub-vector, float16 codebooks) times its
float16 length; each kept n-gram row is coded raw by a second quantizer. Tensors (beside the
vocabulary tensors of every store, `vecsmith.store.format`):

| name | dtype, shape | what |
|---|---|---|
| `pq_word_codes` | U8 (nwords − F, M) | codes of the unit rows of words F..nwords−1; the first F |
| | | words (F ≤ the dense tier's rows; no word residual stages then) have none |
| `pq_word_codebooks` | F16 (M, ksub, dsub) | centroids of each sub-vector |
| `pq_word_scales` | F16 (nwords,) | length of each original word vector |
| `norms` | F32 (nwords,) | length of each decoded word vector (what search divides by) |
| `pq_ngram_codes` | U8 (rows, M) | codes of the kept n-gram rows, in `ngram_keys` order |
| `pq_ngram_codebooks` | F16 (M, ksub, dsub) | their centroids |
| `ngram_keys` | I32 (rows,) | sorted bucket ids (hash % bucket) of the kept rows |
| `pq_rotation` | F32 (dim, dim) | optional: orthogonal A, rows were coded as x·Aᵀ (OPQ) |
| `pq_word_res{s}_codes` | U8 (R_s, M) | optional stage s = 1, 2, …: codes of what stages < s left |
| | | of the unit rows of words 0..R_s−1 (the most frequent), R_s non-increasing |
| `pq_word_res{s}_codebooks` | F16 (M, ksub, dsub) | their centroids (not rotated) |
| `pq_ngram_res{s}_codes` | U8 (R, M) | optional: the same for the n-gram rows at `ngram_res{s}_rows` |
| `pq_ngram_res{s}_codebooks` | F16 (M, ksub, dsub) | their centroids |
| `ngram_res{s}_rows` | I32 (R,) | sorted positions in `ngram_keys` that stage s refines |
| `word_dense` | F32 (D, dim) | optional: the exact vectors of words 0..D−1 (large budgets) |
| `word_q16` | I16 (D, dim) | optional dense tier: words 0..D−1 as int16 × `word_q16_scales` |
| `word_q16_scales` | F32 (D,) | one finite scale ≥ 0 a row (absmax / 32767) |
| `ngram_q16` | I16 (R, dim) | optional dense tier: the n-gram rows at `ngram_q16_rows`, int16 |
| `ngram_q16_scales` | F32 (R,) | their scales (absmax / 32767) |
| `ngram_q16_rows` | I32 (R,) | sorted positions in `ngram_keys`; `pq_ngram_codes` then holds only |
| | | the other rows, in order (position p is code row p − #dense rows before p) |
| `ngram_init` | U8 (⌈B/8⌉,) | optional: bit b (little-endian in each byte) set when bucket b's row |
| | | is still fastText's initial value; B = `InitLayout.drawn_buckets`, layout in |
| | | metadata `init_rows` (`vecsmith.fasttext.init_rows`) |

Unknown words: the mean of their **kept** n-gram rows; dropped n-grams are left out of the
mean (fastText's own rule for pruned `.ftz` models), so they do not pull the vector to zero.
A word none of whose n-grams is kept gets zeros. Rows training never moved (`ngram_init`)
are regenerated bit for bit from fastText's seed and count in the mean, as in fastText.
Residual stages (more bytes for the rows most lookups hit) add their decoded centroids to
the rows they cover. The dense tier (int16 and a float32 scale a row: 16 significant bits
against float16's 11, for 4 bytes more a row) holds the rows most lookups hit when the budget
is large; its words need no codes, search scores them from their int16 rows. Metadata `compression` (JSON) says what was
kept and the quality measured when the store was written.
"""

from __future__ import annotations

import json
from functools import cached_property

import numpy as np

from vecsmith._batch import output_array, pack_words
from vecsmith.store.format import StoreFile, StoreFormatError
from vecsmith.store.vectors import Vectors
from vecsmith.subwords import SubwordScheme

PQ_TENSORS = ("pq_word_codes", "pq_word_codebooks", "pq_word_scales")
BLOCK = 1 << 15
MAX_STAGES = 8


def is_compressed(store: StoreFile) -> bool:
    return "pq_word_codes" in store.tensors


def decode(codes: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """float32 rows from uint8 codes: sub-vector m of row i is codebooks[m, codes[i, m]]."""
    m = codebooks.shape[0]
    return codebooks[np.arange(m), codes.astype(np.intp)].reshape(len(codes), -1)


def quantize16(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int16 rows and one float32 scale a row (absmax / 32767): the dense tier's coding."""
    x = np.asarray(x, np.float32)
    scales = (np.abs(x).max(axis=1) / np.float32(32767)).astype(np.float32) if len(x) else \
        np.zeros(0, np.float32)
    safe = np.where(scales > 0, scales, np.float32(1))[:, None]
    q = np.clip(np.rint(x / safe), -32767, 32767).astype(np.int16)
    return q, scales


def dequantize16(q: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """float32 rows of the dense tier: q * scale."""
    return q.astype(np.float32) * scales.astype(np.float32)[:, None]


def _increasing_within(values: np.ndarray, stop: int) -> bool:
    """Strictly increasing integers in [0, stop) (an empty array is)."""
    return not len(values) or bool(np.all(np.diff(values) > 0) and values[0] >= 0
                                   and values[-1] < stop)


class CompressedVectors(Vectors):
    """`Vectors` over a compressed store: the same API (`v[w]`, `get_many`, `most_similar`,
    OOV words through kept n-grams); rows are decoded on demand, search scores the codes."""

    def __init__(self, store: StoreFile):
        self._store = store
        self.path = store.path
        t, meta = store.tensors, store.metadata
        need = (*PQ_TENSORS, "norms", "vocab_blob", "vocab_offsets", "word_table")
        missing = [n for n in need if n not in t]
        if missing:
            raise StoreFormatError(self.path, 8, f"compressed store lacks tensors {missing}")
        self.dim = int(meta.get("dim", 0))
        codes, books = t["pq_word_codes"], t["pq_word_codebooks"]
        self._scales = t["pq_word_scales"]
        self.nwords = len(self._scales) if self._scales.ndim == 1 else 0
        self._codes, self._books = codes, books
        # codes cover the last len(codes) words; the first ones live in the dense tier only
        self._first_coded = self.nwords - len(codes) if codes.ndim == 2 else 0
        self._blob, self._offsets, self._table = (t["vocab_blob"], t["vocab_offsets"],
                                                  t["word_table"])
        self._norms = t["norms"]
        self._ngram_codes = t.get("pq_ngram_codes")
        self._ngram_books = t.get("pq_ngram_codebooks")
        self._keys = t.get("ngram_keys")
        self._rows = None
        self._rotation = t.get("pq_rotation")
        self._dense = t.get("word_dense")
        self._wq16, self._wq16_s = t.get("word_q16"), t.get("word_q16_scales")
        self._gq16, self._gq16_s = t.get("ngram_q16"), t.get("ngram_q16_scales")
        self._gq16_at = t.get("ngram_q16_rows")
        self._init_bits = t.get("ngram_init")
        self._init = None  # InitLayout, parsed in _validate_pq
        self._word_res = []  # (codes, codebooks) of words 0..len(codes)-1, per stage
        self._ngram_res = []  # (codes, codebooks, positions), per stage
        for st in range(1, MAX_STAGES + 1):
            if f"pq_word_res{st}_codes" in t:
                self._word_res.append((t[f"pq_word_res{st}_codes"],
                                       t.get(f"pq_word_res{st}_codebooks")))
            if f"pq_ngram_res{st}_codes" in t:
                self._ngram_res.append((t[f"pq_ngram_res{st}_codes"],
                                        t.get(f"pq_ngram_res{st}_codebooks"),
                                        t.get(f"ngram_res{st}_rows")))
        self.minn, self.maxn = int(meta.get("minn", 0)), int(meta.get("maxn", 0))
        self.bucket = int(meta.get("bucket", 0))
        self._eos_ngrams = meta.get("eos_ngrams", "0") == "1"
        has = self._ngram_codes is not None and self._keys is not None and self.bucket > 0
        self._oov_error = not has
        self._ngrams = None
        self._prune = (len(self._keys), self._keys, self._keys) if has else (
            0, np.zeros(0, np.int32), np.zeros(0, np.int32))
        # kept buckets map to themselves (get_subwords lists n-grams by bucket id)
        self.subword_scheme = SubwordScheme(self.minn, self.maxn, self.bucket, 0, *self._prune,
                                            eos_ngrams=self._eos_ngrams)
        self._index_checked = self._search_checked = False
        self._search_index = None
        self._device_matrix = None
        self._half = False
        self._validate_pq()

    def _validate_pq(self) -> None:
        t = self._store.tensors
        c, b = self._codes, self._books

        def books_ok(codes, books) -> bool:
            return (codes.dtype == np.uint8 and codes.ndim == 2 and books.dtype == np.float16
                    and books.ndim == 3 and books.shape[0] == codes.shape[1]
                    and books.shape[0] * books.shape[2] == self.dim and 1 <= books.shape[1] <= 256)

        if not books_ok(c, b):
            raise self._bad(f"'pq_word_codes' {c.dtype} {c.shape} / 'pq_word_codebooks' {b.dtype} "
                            f"{b.shape} do not make {self.dim}-dim rows")
        if self._scales.ndim != 1 or self._norms.shape != (self.nwords,):
            raise self._bad("'pq_word_scales'/'norms' are not one value a word")
        o = self._offsets
        if o.shape != (self.nwords + 1,) or o.dtype != np.int64 or (
                self.nwords and (o[0] != 0 or o[-1] != len(self._blob)
                                 or len(self._table) <= self.nwords)):
            raise self._bad("'vocab_offsets'/'word_table' do not fit the vocabulary")
        hashes = t.get("word_table_hashes")
        if hashes is not None and (hashes.dtype != np.uint32 or hashes.shape != self._table.shape):
            raise self._bad("'word_table_hashes' must be uint32 and as long as 'word_table'")
        if self._ngram_codes is not None:
            if self._ngram_books is None or self._keys is None or not books_ok(
                    self._ngram_codes, self._ngram_books):
                raise self._bad("'pq_ngram_codes'/'pq_ngram_codebooks'/'ngram_keys' disagree")
            n_q16 = 0 if self._gq16_at is None else len(self._gq16_at)
            if (self._keys.dtype != np.int32 or self._keys.ndim != 1
                    or len(self._keys) != len(self._ngram_codes) + n_q16):
                raise self._bad("'ngram_keys' must be int32, one per row of 'pq_ngram_codes' "
                                "and 'ngram_q16'")
        d = self._dense
        if d is not None and (d.dtype != np.float32 or d.ndim != 2 or d.shape[1] != self.dim
                              or len(d) > self.nwords):
            raise self._bad(f"'word_dense' {d.dtype} {d.shape} does not fit the word rows")
        self._validate_q16()
        self._validate_init()
        first = self._first_coded  # words without codes must be in a dense tier, unrefined
        tier = max(0 if d is None else len(d), 0 if self._wq16 is None else len(self._wq16))
        if first < 0 or first > tier or (first and self._word_res):
            raise self._bad(f"'pq_word_codes' has {len(c)} rows for {self.nwords} words, and "
                            f"the dense tier holds {tier}" + (" with residual stages"
                                                              if first and self._word_res else ""))
        last = self.nwords
        for codes, books in self._word_res:
            if books is None or not books_ok(codes, books) or len(codes) > last:
                raise self._bad("a 'pq_word_res*' stage does not fit the word rows before it")
            last = len(codes)
        for codes, books, rows in self._ngram_res:
            if (books is None or rows is None or self._keys is None
                    or not books_ok(codes, books) or rows.dtype != np.int32
                    or rows.shape != (len(codes),)):
                raise self._bad("a 'pq_ngram_res*' stage does not fit the n-gram rows")
        r = self._rotation
        if r is not None and (r.shape != (self.dim, self.dim) or r.dtype != np.float32):
            raise self._bad(f"'pq_rotation' must be float32 ({self.dim}, {self.dim})")
        if self.maxn > 1 << 16 or self.minn < 0:
            raise self._bad(f"minn/maxn {self.minn}/{self.maxn} out of range")

    def _validate_q16(self) -> None:
        """The dense tier: int16 rows of the store's width, one finite scale >= 0 each."""
        parts = (("word_q16", self._wq16, self._wq16_s, None),
                 ("ngram_q16", self._gq16, self._gq16_s, self._gq16_at))
        for name, rows, scales, at in parts:
            if rows is None and scales is None and at is None:
                continue
            if rows is None or scales is None or (name == "ngram_q16") != (at is not None):
                raise self._bad(f"'{name}' needs its rows, scales (and positions) together")
            if rows.dtype != np.int16 or rows.ndim != 2 or rows.shape[1] != self.dim:
                raise self._bad(f"'{name}' {rows.dtype} {rows.shape} is not int16 (rows, "
                                f"{self.dim})")
            if scales.dtype != np.float32 or scales.shape != (len(rows),):
                raise self._bad(f"'{name}_scales' {scales.dtype} {scales.shape} is not float32, "
                                "one per row")
            if len(scales) and not (np.all(np.isfinite(scales)) and scales.min() >= 0):
                raise self._bad(f"'{name}_scales' holds a negative, inf or NaN scale")
            if at is None:
                if len(rows) > self.nwords:
                    raise self._bad("'word_q16' has more rows than the vocabulary")
                continue
            if self._keys is None or at.dtype != np.int32 or at.shape != (len(rows),):
                raise self._bad("'ngram_q16_rows' must be int32, one per row of 'ngram_q16'")
            if not _increasing_within(at, len(self._keys)):
                raise self._bad("'ngram_q16_rows' are not sorted positions in 'ngram_keys'")

    def _validate_init(self) -> None:
        """Untrained rows: a layout that fits the store and a bitmap as long as it says."""
        text = self._store.metadata.get("init_rows")
        bits = self._init_bits
        if text is None and bits is None:
            return
        if text is None or bits is None or self._keys is None:
            raise self._bad("'ngram_init' needs metadata 'init_rows' and n-gram rows, together")
        from vecsmith.fasttext.init_rows import InitLayout

        try:
            lay = InitLayout.from_json(text)
        except (ValueError, RecursionError) as e:  # JSONDecodeError included; deep nesting
            raise self._bad(f"metadata 'init_rows': {e}") from None
        if lay.dim != self.dim or lay.matrix_rows - lay.word_rows != self.bucket:
            raise self._bad(f"metadata 'init_rows' is for {lay.matrix_rows - lay.word_rows} "
                            f"buckets of {lay.dim} dims, the store has {self.bucket} of "
                            f"{self.dim}")
        n_bits = min(lay.drawn_buckets, self.bucket)
        want = (n_bits + 7) // 8
        if bits.dtype != np.uint8 or bits.shape != (want,):
            raise self._bad(f"'ngram_init' {bits.dtype} {bits.shape} is not uint8 ({want},)")
        if n_bits % 8 and int(bits[-1]) >> (n_bits % 8):
            raise self._bad(f"'ngram_init' marks buckets past the {n_bits} drawn ones")
        self._init = lay

    def _check_index(self) -> None:
        """Vocabulary checks (as `Vectors`), plus codes within each codebook and sorted keys."""
        if self._index_checked:
            return
        o, b, tb = self._offsets, self._blob, self._table
        if self.nwords and (np.any(np.diff(o) < 1) or np.any(b[o[1:] - 1] != 0)):
            raise self._bad("'vocab_offsets' do not index NUL-terminated words in 'vocab_blob'")
        if self.nwords and (tb.max() >= self.nwords or tb.min() < -1 or not np.any(tb == -1)):
            raise self._bad("'word_table' is not a valid word index")
        stages = [(c, b, "pq_word_res") for c, b in self._word_res]
        stages += [(c, b, "pq_ngram_res") for c, b, _ in self._ngram_res]
        for codes, books, name in ((self._codes, self._books, "pq_word_codes"),
                                   (self._ngram_codes, self._ngram_books, "pq_ngram_codes"),
                                   *stages):
            # a full codebook takes every uint8: only smaller ones need the scan of all codes
            if (codes is not None and codes.size and books.shape[1] < 256
                    and int(codes.max()) >= books.shape[1]):
                raise self._bad(f"'{name}' holds codes beyond its codebook")
        n_keys = 0 if self._keys is None else len(self._keys)
        for _, _, rows in self._ngram_res:
            if not _increasing_within(rows, n_keys):
                raise self._bad("'ngram_res*_rows' are not sorted positions in 'ngram_keys'")
        if self._keys is not None and not _increasing_within(self._keys, self.bucket):
            raise self._bad("'ngram_keys' are not sorted bucket ids below 'bucket'")
        self._index_checked = True

    # -- facts -----------------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32)  # what lookups return; the file holds codes

    @cached_property
    def compression(self) -> dict:
        """What `compress` kept and the quality it measured (from the metadata)."""
        try:
            report = json.loads(self._store.metadata.get("compression", "{}"))
        except (json.JSONDecodeError, RecursionError):
            return {}
        return report if isinstance(report, dict) else {}

    def describe(self) -> dict:
        """File facts and the compression report, for `vecsmith info` and humans."""
        sizes = {k: int(v.nbytes) for k, v in self._store.tensors.items()}
        meta = self._store.metadata
        subwords = None if self._keys is None else {
            "minn": self.minn, "maxn": self.maxn, "bucket": self.bucket,
            "dropped_ngrams": "left out of the mean"}
        if self._init is not None:
            subwords["untrained_ngrams"] = (
                f"{int(np.unpackbits(self._init_bits).sum())} rows regenerated from fastText's "
                f"seeded init (seed {self._init.seed}, {self._init.blocks} blocks)")
        return {"kind": "store", "path": self.path, "format": meta.get("format", ""),
                "dim": self.dim, "words": self.nwords, "dtype": "pq",
                "source": meta.get("source", ""), "source_format": meta.get("source_format", ""),
                "ngram_rows": 0 if self._keys is None else len(self._keys),
                "subwords": subwords, "file_size": self._store.file_size,
                "search": ("exact for the dense tier's words, " if self._first_coded else "")
                + "asymmetric distance on the word codes, best candidates re-scored exactly "
                  "from the decoded rows",
                "tensor_bytes": sizes, **self.compression}

    def __repr__(self) -> str:
        rows = 0 if self._keys is None else len(self._keys)
        return (f"CompressedVectors({self.path!r}, words={self.nwords}, dim={self.dim}, "
                f"subvectors={self._books.shape[0]}, ngram_rows={rows})")

    # -- decoding --------------------------------------------------------------------------
    @cached_property
    def _word_books(self) -> np.ndarray:
        return self._books.astype(np.float32)

    @cached_property
    def _ngram_books32(self) -> np.ndarray:
        return self._ngram_books.astype(np.float32)

    def _unrotate(self, rows: np.ndarray) -> np.ndarray:
        return rows if self._rotation is None else rows @ self._rotation

    def word_rows(self, ids: np.ndarray) -> np.ndarray:
        """Decoded float32 vectors of word ids."""
        ids = np.asarray(ids, dtype=np.int64)
        self._check_index()
        first = self._first_coded
        if first:  # words before `first` have no codes: the dense tier sets them below
            unit = np.zeros((len(ids), self.dim), np.float32)
            coded = np.flatnonzero(ids >= first)
            if len(coded):
                unit[coded] = self._unrotate(decode(self._codes[ids[coded] - first],
                                                    self._word_books))
        else:
            unit = self._unrotate(decode(self._codes[ids], self._word_books))
        for codes, books in self._word_res:
            sel = np.flatnonzero(ids < len(codes))
            if not len(sel):
                break
            unit[sel] += decode(codes[ids[sel]], self._books32(books))
        out = unit * self._scales[ids].astype(np.float32)[:, None]
        if self._wq16 is not None and len(self._wq16):
            sel = np.flatnonzero(ids < len(self._wq16))
            out[sel] = dequantize16(self._wq16[ids[sel]], self._wq16_s[ids[sel]])
        if self._dense is not None and len(self._dense):
            sel = np.flatnonzero(ids < len(self._dense))
            out[sel] = self._dense[ids[sel]]
        return out

    def ngram_rows(self, rows: np.ndarray) -> np.ndarray:
        """Decoded float32 n-gram rows (positions in `ngram_keys`)."""
        self._check_index()
        rows = np.asarray(rows, np.int64)
        q16 = self._gq16_at
        if q16 is None or not len(q16):
            out = self._unrotate(decode(self._ngram_codes[rows], self._ngram_books32))
        else:  # dense rows have no codes: code row = position - dense rows before it
            before = np.searchsorted(q16, rows)
            dense = (before < len(q16)) & (q16[np.minimum(before, len(q16) - 1)] == rows)
            out = np.empty((len(rows), self.dim), np.float32)
            pq = np.flatnonzero(~dense)
            if len(pq):
                out[pq] = self._unrotate(decode(self._ngram_codes[rows[pq] - before[pq]],
                                                self._ngram_books32))
            d = np.flatnonzero(dense)
            out[d] = 0.0  # set after the residual stages, which do not cover them
        for codes, books, at in self._ngram_res:
            if not len(at):
                continue
            pos = np.minimum(np.searchsorted(at, rows), len(at) - 1)
            sel = np.flatnonzero(at[pos] == rows)
            if len(sel):
                out[sel] += decode(codes[pos[sel]], self._books32(books))
        if q16 is not None and len(q16):
            out[d] = dequantize16(self._gq16[before[d]], self._gq16_s[before[d]])
        return out

    def _books32(self, books: np.ndarray) -> np.ndarray:
        cache = self.__dict__.setdefault("_books32_cache", {})
        key = id(books)
        if key not in cache:
            cache[key] = books.astype(np.float32)
        return cache[key]

    def bucket_rows(self, buckets: np.ndarray) -> np.ndarray:
        """Rows of bucket ids: kept rows decoded, untrained ones regenerated, dropped ones 0."""
        buckets = np.asarray(buckets, dtype=np.int64)
        out = np.zeros((len(buckets), self.dim), dtype=np.float32)
        pos, ok = self._kept(buckets)
        if ok.any():
            out[ok] = self.ngram_rows(pos[ok])
        init = ~ok & self._untrained(buckets)
        if init.any():
            out[init] = self._init.rows(buckets[init])
        return out

    def _untrained(self, buckets: np.ndarray) -> np.ndarray:
        """Which bucket ids hold rows training never moved (regenerated, not stored)."""
        bits = self._init_bits
        if self._init is None or not len(bits):
            return np.zeros(len(buckets), bool)
        inside = (buckets >= 0) & (buckets < min(8 * len(bits), self.bucket))  # bits past
        # the drawn buckets are zero (checked at open)
        b = np.where(inside, buckets, 0)
        return inside & ((bits[b >> 3] >> (b & 7).astype(np.uint8)) & 1).astype(bool)

    def _subword_rows(self, hashes: list[int]) -> list[int]:
        """`get_subwords` lists the n-grams an unknown word's mean counts (kept or
        regenerated), by bucket id; -1 for dropped ones."""
        if self._oov_error or not hashes:
            return [-1] * len(hashes)
        buckets = np.asarray(hashes, np.int64) % self.bucket
        counted = self._kept(buckets)[1] | self._untrained(buckets)
        return np.where(counted, buckets, -1).tolist()

    def _subword_vectors(self, ids: np.ndarray) -> np.ndarray:
        return self.bucket_rows(ids)

    def _kept(self, buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys = self._keys
        if keys is None or not len(keys):
            return np.zeros(len(buckets), np.int64), np.zeros(len(buckets), bool)
        pos = np.minimum(np.searchsorted(keys, buckets), len(keys) - 1)
        return pos, keys[pos] == buckets

    @property
    def kept_buckets(self) -> np.ndarray:
        """Sorted bucket ids whose n-gram rows this store keeps."""
        return np.zeros(0, np.int32) if self._keys is None else self._keys

    @property
    def vectors(self) -> np.ndarray:
        """Every word vector, decoded (a new float32 array of nwords × dim)."""
        return self.word_rows(np.arange(self.nwords))

    # -- lookups ---------------------------------------------------------------------------
    def _lookup_small(self, raws: list[bytes], out: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """A few words (`v[w]` before the compiler is loaded): the same path as batches, whose
        n-gram ids take the pure-Python route for a few words."""
        return self._lookup(*pack_words(raws), out=out)

    def _lookup(self, blob: np.ndarray, offsets: np.ndarray,
                out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        n = len(offsets) - 1
        out = output_array(out, n, self.dim)
        out[:] = 0.0
        if self.nwords:
            found = self.word_table.find_many(blob, offsets).astype(np.int64)
        else:
            found = np.full(n, -1, dtype=np.int64)
        known = found >= 0
        if known.any():
            out[known] = self.word_rows(found[known])
        if self._oov_error or known.all():
            return out, found
        ids, offs = self.subword_scheme.packed_bucket_ids(blob, offsets)
        owner = np.repeat(np.arange(n), np.diff(offs))
        pos, ok = self._kept(ids)
        init = ~ok & self._untrained(ids)
        sel = (ok | init) & ~known[owner]
        if not sel.any():
            return out, found
        owner, pos, ok, ids = owner[sel], pos[sel], ok[sel], ids[sel]
        # kept rows by their position, untrained ones after them by their bucket id
        key = np.where(ok, pos, len(self._keys) + ids)
        uniq, inverse = np.unique(key, return_inverse=True)
        split = int(np.searchsorted(uniq, len(self._keys)))
        rows = np.empty((len(uniq), self.dim), np.float32)
        if split:
            rows[:split] = self.ngram_rows(uniq[:split])
        if split < len(uniq):
            rows[split:] = self._init.rows(uniq[split:] - len(self._keys))
        rows = rows[inverse]
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        who = owner[starts]
        counts = np.diff(np.r_[starts, len(owner)]).astype(np.float32)
        out[who] = np.add.reduceat(rows, starts, axis=0) * (np.float32(1.0) / counts)[:, None]
        return out, found

    # -- neighbours ------------------------------------------------------------------------
    def cosines(self, q_unit: np.ndarray, start: int, stop: int) -> np.ndarray:
        """Cosine of words start..stop to a unit query: exact for the dense tier's words (no
        codes), else by asymmetric distance, a table of the query's dot product with every
        centroid summed over each row's codes."""
        q = np.asarray(q_unit, dtype=np.float32)
        first = min(max(self._first_coded, start), stop)
        scores = np.empty(stop - start, np.float32)
        if first > start:  # the dense tier's words: exact cosines of the decoded rows
            with np.errstate(invalid="ignore", divide="ignore"):
                scores[: first - start] = (self.word_rows(np.arange(start, first)) @ q
                                           ) / self._norms[start:first]
        if stop > first:
            if self._rotation is not None:
                q = self._rotation @ q
            books = self._word_books
            m, _, dsub = books.shape
            table = np.einsum("mkd,md->mk", books, q.reshape(m, dsub))
            codes = self._codes[first - self._first_coded : stop - self._first_coded]
            dots = table[np.arange(m), codes.astype(np.intp)].sum(axis=1)
            scores[first - start :] = dots * self._unit_ratio[first:stop]
        scores[~np.isfinite(scores)] = -np.inf
        return scores

    @cached_property
    def _unit_ratio(self) -> np.ndarray:
        """scale / norm of each word: turns a dot with the decoded unit row into a cosine."""
        self._check_index()
        scales = self._scales.astype(np.float32)
        out = np.zeros(self.nwords, dtype=np.float32)
        np.divide(scales, self._norms, out=out, where=self._norms > 0)
        return out

    def _search(self, q: np.ndarray, k: int, banned, device: str) -> list[tuple[str, float]]:
        """Neighbours by asymmetric distance on the first-stage codes (every device: the codes
        are small), best candidates re-scored from their decoded rows (all stages)."""
        if not np.all(np.isfinite(q)):
            raise ValueError("the query vector holds inf or NaN: it has no neighbours")
        qnorm = float(np.sqrt(np.dot(q, q)))
        qn = (q / (qnorm if qnorm >= 1e-8 else 1.0)).astype(np.float32)
        ban = [int(i) for i in self.word_ids(list(banned))] if banned else []
        ban = [i for i in ban if i >= 0]
        k = max(0, min(k, self.nwords - len(set(ban))))
        if k == 0:
            return []
        scores = np.concatenate([self.cosines(qn, s, min(self.nwords, s + BLOCK))
                                 for s in range(0, self.nwords, BLOCK)])
        scores[ban] = -np.inf
        pool = min(self.nwords, k + 32)
        cand = np.argpartition(-scores, pool - 1)[:pool]
        cand = np.sort(cand[np.isfinite(scores[cand])])
        rows = self.word_rows(cand)
        with np.errstate(invalid="ignore", divide="ignore"):
            exact = (rows @ qn) / self._norms[cand]
        exact[~np.isfinite(exact)] = -np.inf
        order = np.lexsort((cand, -exact))[:k]
        return [(self.word(int(cand[i])), float(exact[i])) for i in order
                if np.isfinite(exact[i])]
