"""`Vectors`: word vectors served from a memory-mapped store, out-of-vocabulary words included.

Opening maps the file and checks its structure; nothing is copied and no Python dict is built,
so it takes milliseconds and many processes share the same pages. Lookups of known words
return the stored rows; unknown words average their n-gram rows exactly as fastText does.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Sequence
from functools import cached_property

import numpy as np

from vecsmith._batch import (
    DEFAULT_ERRORS,
    encode,
    output_array,
    pack_words,
    parallel_chunks,
)
from vecsmith._deps import require, resolve_device
from vecsmith._mapping import populate
from vecsmith.neighbours import analogy_query, rank
from vecsmith.store.format import StoreFile, StoreFormatError, read_store
from vecsmith.store.search import SEARCH_TENSORS, exact_top_k, pool_size
from vecsmith.subwords import (
    SubwordScheme,
    WordTable,
    check_lengths,
    compiled,
    compiled_available,
    is_compiled,
    mean_of_rows,
    use_compiled,
)


def _kernels():
    """The compiled kernels (numba) load on the first large batch: opening, and the first
    single-word answers, stay cheap (they take the numpy path of `vecsmith.subwords`)."""
    compiled()  # checks numba is there, with a message naming the extra
    from vecsmith.store import _kernels as kernels

    return kernels


BLOCK_ROWS = 1 << 16
# Matrices up to this many values are searched with numpy alone while the compiled kernels
# are not loaded (a first neighbour query then imports neither numba nor torch).
SMALL_SEARCH = 1 << 23


def _cosines(dots: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """dots / norms as float32: 0 for zero rows, -inf for rows whose norm (or dot) is not
    finite (a vector holding inf or NaN never ranks as a neighbour)."""
    out = np.zeros(len(norms), dtype=np.float32)
    with np.errstate(invalid="ignore"):
        np.divide(dots, norms, out=out, where=norms > 0)
    out[~(np.isfinite(norms) & np.isfinite(out))] = -np.inf
    return out


def _torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def open(path: str | os.PathLike) -> Vectors:
    """Open a store written by `vecsmith convert` or `vecsmith compress` (`store.format`)."""
    store = read_store(path)
    if "pq_word_codes" in store.tensors:  # a compressed store: `vecsmith.store.pq`
        from vecsmith.store.pq import CompressedVectors

        return CompressedVectors(store)
    return Vectors(store)


class Vectors:
    """Read-only word vectors: `v["word"]`, `"word" in v`, `v.get_many(words)`,
    `v.most_similar(word_or_vector, k)`, `v.analogy(a, b, c, k)`, `v.words`, `v.dim`."""

    def __init__(self, store: StoreFile):
        self._store = store
        self.path = store.path
        t = store.tensors
        meta = store.metadata
        need = ("vectors", "norms", "vocab_blob", "vocab_offsets", "word_table")
        missing = [n for n in need if n not in t]
        if missing:
            raise StoreFormatError(self.path, 8, f"store lacks tensors {missing}")
        self._vectors = t["vectors"]
        self._half = self._vectors.dtype == np.float16
        self.nwords, self.dim = (int(s) for s in self._vectors.shape) if self._vectors.ndim == 2 \
            else (0, 0)
        self._blob, self._offsets, self._table = t["vocab_blob"], t["vocab_offsets"], \
            t["word_table"]
        self._norms = t["norms"]
        self._ngrams = t.get("ngrams")
        self.minn, self.maxn = int(meta.get("minn", 0)), int(meta.get("maxn", 0))
        self.bucket = int(meta.get("bucket", 0))
        self._eos_ngrams = meta.get("eos_ngrams", "0") == "1"
        # "fasttext": unknown words get their n-gram mean, zeros when they have none (as
        # fastText answers); "error": unknown words are a KeyError (no n-grams to build from).
        self._oov_error = meta.get("oov", "error") == "error"
        keys, rows = t.get("ngram_keys"), t.get("ngram_rows")
        if self._ngrams is None or self.bucket <= 0:
            self._prune = (0, np.zeros(0, np.int32), np.zeros(0, np.int32))
        elif keys is None:
            self._prune = (-1, np.zeros(0, np.int32), np.zeros(0, np.int32))
        else:
            self._prune = (max(len(keys), 0) or 0, keys, rows)
        self.subword_scheme = SubwordScheme(self.minn, self.maxn, self.bucket, 0, *self._prune,
                                            eos_ngrams=self._eos_ngrams)
        self._keys, self._rows = keys, rows
        self._index_checked = self._search_checked = False
        search = [t.get(name) for name in SEARCH_TENSORS]
        self._search_index = tuple(search) if all(x is not None for x in search) else None
        self._validate_shapes()
        self._device_matrix = None

    def _bad(self, msg: str) -> StoreFormatError:
        return StoreFormatError(self.path, 8, msg)

    def _validate_shapes(self) -> None:
        """Checks that read no data (shapes, dtypes, ends): done at open."""
        v, o, b = self._vectors, self._offsets, self._blob
        if v.ndim != 2 or v.dtype not in (np.float16, np.float32):
            raise self._bad(f"'vectors' must be a float16/float32 matrix, got {v.dtype} "
                            f"{v.shape}")
        if self._norms.shape != (self.nwords,) or o.shape != (self.nwords + 1,):
            raise self._bad("'norms'/'vocab_offsets' lengths disagree with 'vectors'")
        if self.nwords and (o[0] != 0 or o[-1] != len(b) or len(self._table) <= self.nwords):
            raise self._bad("'vocab_offsets'/'word_table' do not fit 'vocab_blob'")
        if (b.dtype, o.dtype, self._table.dtype) != (np.uint8, np.int64, np.int32) or \
                b.ndim != 1 or o.ndim != 1 or self._table.ndim != 1:
            raise self._bad("'vocab_blob'/'vocab_offsets'/'word_table' must be 1-D uint8/int64/"
                            "int32")
        hashes = self._store.tensors.get("word_table_hashes")
        if hashes is not None and (hashes.dtype != np.uint32
                                   or hashes.shape != self._table.shape):
            raise self._bad("'word_table_hashes' must be uint32 and as long as 'word_table'")
        keys, rows = self._keys, self._rows
        if self._ngrams is not None:
            g = self._ngrams
            if g.ndim != 2 or g.dtype != v.dtype or (len(g) and g.shape[1] != self.dim):
                raise self._bad(f"'ngrams' must be {v.dtype} (rows, {self.dim}), got {g.dtype} "
                                f"{g.shape}")
            if self._prune[0] == -1 and len(g) != self.bucket:
                raise self._bad(f"'ngrams' has {len(g)} rows, expected bucket = {self.bucket}")
            if keys is not None and keys.shape != rows.shape:
                raise self._bad("'ngram_keys'/'ngram_rows' lengths disagree")
        if self.maxn > 1 << 16 or self.minn < 0:
            raise self._bad(f"minn/maxn {self.minn}/{self.maxn} out of range")
        if self._search_index is not None:
            codes, scales, slack = self._search_index
            if (codes.dtype != np.int8 or codes.shape != v.shape or scales.shape != (self.nwords,)
                    or slack.shape != (self.nwords,) or scales.dtype != np.float32
                    or slack.dtype != np.float32):
                raise self._bad("'search_codes'/'search_scales'/'search_slack' do not match "
                                "'vectors'")

    def _check_index(self) -> None:
        """Checks that scan the index (~30 MB for 2M words), so that a corrupt store fails
        with a typed error instead of crashing a kernel. They run once, before the index is
        first used, which keeps `open` at a few milliseconds."""
        if self._index_checked:
            return
        o, b, tb = self._offsets, self._blob, self._table
        if self.nwords and (np.any(np.diff(o) < 1) or np.any(b[o[1:] - 1] != 0)):
            raise self._bad("'vocab_offsets' do not index NUL-terminated words in 'vocab_blob'")
        if self.nwords and (tb.max() >= self.nwords or tb.min() < -1 or not np.any(tb == -1)):
            raise self._bad("'word_table' is not a valid word index")
        keys, rows = self._keys, self._rows
        if self._ngrams is not None and keys is not None and len(rows) and (
                rows.min() < 0 or rows.max() >= len(self._ngrams) or np.any(np.diff(keys) <= 0)):
            raise self._bad("'ngram_keys'/'ngram_rows' do not map sorted buckets to rows")
        self._index_checked = True

    # -- facts ---------------------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, str]:
        return dict(self._store.metadata)

    @property
    def dtype(self) -> np.dtype:
        return self._vectors.dtype

    @property
    def has_ngrams(self) -> bool:
        return self._prune[0] != 0

    def __len__(self) -> int:
        return self.nwords

    def describe(self) -> dict:
        """What this store is, as plain values (the `VectorSource` protocol)."""
        meta = self._store.metadata
        return {"kind": "store", "path": self.path, "format": meta.get("format", ""),
                "dim": self.dim, "words": self.nwords, "dtype": str(self.dtype),
                "source": meta.get("source", ""), "source_format": meta.get("source_format", ""),
                "ngram_rows": 0 if self._ngrams is None else len(self._ngrams),
                "subwords": self.subword_scheme.describe() if self.has_ngrams else None}

    def warm(self) -> Vectors:
        """Read the whole store into memory now, in 2 MB pages where Linux allows
        (`vecsmith._mapping.populate`): a server's first batch then reads no disk, and rows
        cost fewer TLB misses. Needs the file's size in free memory. Returns self."""
        populate(self._store.buf)
        return self

    def __repr__(self) -> str:
        return (f"Vectors({os.path.basename(self.path)!r}, words={self.nwords}, dim={self.dim}, "
                f"dtype={self.dtype}, ngram_rows={0 if self._ngrams is None else len(self._ngrams)})")

    @cached_property
    def words(self) -> list[str]:
        """All words in id order (decoded with surrogateescape, so they find themselves)."""
        if not self.nwords:
            return []
        self._check_index()
        return self._blob[:-1].tobytes().decode("utf-8", DEFAULT_ERRORS).split("\0")

    def word(self, i: int) -> str:
        """Word number i (decoding one word: `words` decodes all of them, ~0.2 s for 2M)."""
        if not 0 <= i < self.nwords:
            raise IndexError(f"word id {i} out of range 0..{self.nwords - 1}")
        self._check_index()
        start, end = int(self._offsets[i]), int(self._offsets[i + 1]) - 1
        return self._blob[start:end].tobytes().decode("utf-8", DEFAULT_ERRORS)

    def word_id(self, word: str | bytes) -> int:
        """Id of `word`, or -1."""
        return int(self.word_ids([word])[0])

    def word_ids(self, words: Sequence[str | bytes]) -> np.ndarray:
        self._store.check()  # a truncated map would SIGBUS (vecsmith._mapping.FileStamp)
        blob, offsets = pack_words(list(words))
        if not self.nwords:
            return np.full(len(offsets) - 1, -1, dtype=np.int64)
        return self.word_table.find_many(blob, offsets)

    def __contains__(self, word: str | bytes) -> bool:
        return self.word_id(word) >= 0

    @cached_property
    def word_table(self) -> WordTable:
        """The stored word hash table (`vecsmith.subwords.WordTable`), checked once. Stores
        written before `word_table_hashes` existed get the hashes computed when needed."""
        self._check_index()
        return WordTable(self._blob, self._offsets, self._table,
                         self._store.tensors.get("word_table_hashes"))

    # -- vectors -------------------------------------------------------------------------
    @cached_property
    def _kernel(self):
        """The lookup kernel and every argument after the query, bound once."""
        kernels = _kernels()
        size, keys, rows = self._prune
        ngrams = self._ngrams if self._ngrams is not None else self._vectors[:0]
        params = (self.minn, self.maxn, self.bucket, size, keys, rows, self._eos_ngrams)
        slots = self.word_table.arrays
        if self._half:
            return kernels.store_vectors_into, (
                self._blob, self._offsets, slots, self._vectors.view(np.uint16),
                ngrams.view(np.uint16), *params)
        return kernels.store_vectors_into, (
            self._blob, self._offsets, slots, self._vectors, ngrams, *params)

    def _lookup_small(self, raws: list[bytes], out: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """The numpy path (`vecsmith.subwords`) for a few words: the same bits as the kernel,
        no compiler import."""
        n = len(raws)
        out = output_array(out, n, self.dim)
        found = np.full(n, -1, dtype=np.int64)
        scheme = self.subword_scheme
        for i, raw in enumerate(raws):
            wid = self.word_table.find(raw) if self.nwords else -1
            found[i] = wid
            if wid >= 0:
                mean_of_rows(self._vectors, [wid], out=out[i])  # 0.0 + row, as fastText adds
            else:
                mean_of_rows(self._ngrams, scheme.rows(raw), out=out[i])
        return out, found

    def _lookup(self, blob: np.ndarray, offsets: np.ndarray,
                out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        self._store.check()  # a truncated map would SIGBUS (vecsmith._mapping.FileStamp)
        n = len(offsets) - 1
        if not use_compiled(n):
            raw = blob.tobytes()
            return self._lookup_small([raw[offsets[i] : offsets[i + 1] - 1] for i in range(n)],
                                      out)
        out = output_array(out, n, self.dim)
        found = np.empty(n, dtype=np.int64)
        if n:
            check_lengths(int(np.diff(offsets).max()) - 1, self.maxn)
        kernel, args = self._kernel
        if n < 1024:  # one call; threads only pay off on big batches
            kernel(out, found, blob, offsets, *args)
            return out, found

        def run(lo: int, hi: int) -> None:
            kernel(out[lo:hi], found[lo:hi], blob, offsets[lo : hi + 1], *args)

        parallel_chunks(run, n)
        return out, found

    def get_many(self, words: Sequence[str | bytes], missing: str = "ngrams",
                 out: np.ndarray | None = None) -> np.ndarray:
        """Vectors of many words as one (len(words), dim) float32 array.

        `missing`: "ngrams" (default) averages n-gram rows for unknown words (zeros when a word
        has none); "zero" gives unknown words zeros; "error" raises KeyError. `out`: an array
        of that shape to write into and return (reusing one across batches saves allocating
        and zero-filling a new one each time).
        """
        if missing not in ("ngrams", "zero", "error"):
            raise ValueError(f"missing must be 'ngrams', 'zero' or 'error', not {missing!r}")
        blob, offsets = pack_words(list(words))
        out, found = self._lookup(blob, offsets, out)
        if missing == "ngrams" and self._oov_error and np.any(found < 0):
            missing = "error"
        if missing != "ngrams" and np.any(found < 0):
            unknown = [words[i] for i in np.flatnonzero(found < 0)[:5]]
            if missing == "error":
                why = "" if self.has_ngrams else " (this store has no n-grams: run `vecsmith " \
                                                  "transfer` to add them)"
                raise KeyError(f"not in vocabulary: {unknown}{why}")
            out[found < 0] = 0
        return out

    def __getitem__(self, word: str | bytes) -> np.ndarray:
        raw = encode(word)
        if is_compiled():
            blob = np.frombuffer(raw + b"\0", dtype=np.uint8)
            out, found = self._lookup(blob, np.array([0, len(raw) + 1], dtype=np.int64))
        else:
            out, found = self._lookup_small([raw])
        if found[0] < 0 and self._oov_error:
            raise KeyError(f"{word!r} is not in the vocabulary, and this store has no n-grams "
                           "to build it from (run `vecsmith transfer` to add them)")
        return out[0]

    # fastText-style names, so code and the CLI can use a store where they used a model
    get_word_vector = __getitem__

    def get_word_vectors(self, words: Sequence[str | bytes],
                         out: np.ndarray | None = None) -> np.ndarray:
        return self.get_many(words, out=out)

    @property
    def vectors(self) -> np.ndarray:
        """The stored word matrix (memory-mapped, read-only; float16 or float32)."""
        return self._vectors

    @property
    def counts(self) -> np.ndarray | None:
        """Word frequencies when the source had them (memory-mapped), else None."""
        return self._store.tensors.get("counts")

    def bucket_rows(self, buckets: np.ndarray) -> np.ndarray:
        """float32 n-gram rows of bucket ids (hash % bucket); zeros for buckets this store does
        not keep. For writers that rebuild a model's table (`vecsmith.fasttext.writer`)."""
        buckets = np.asarray(buckets, dtype=np.int64)
        out = np.zeros((len(buckets), self.dim), dtype=np.float32)
        if self._ngrams is None or self.bucket <= 0 or not len(buckets):
            return out
        if self._keys is None:
            out[:] = self._ngrams[buckets]
            return out
        self._check_index()
        pos = np.minimum(np.searchsorted(self._keys, buckets), max(len(self._keys) - 1, 0))
        ok = (len(self._keys) > 0) & (self._keys[pos] == buckets)
        out[ok] = self._ngrams[self._rows[pos[ok]]]
        return out

    def get_subwords(self, word: str | bytes) -> tuple[list[str], np.ndarray]:
        """The word (if known) and its kept character n-grams, with their `ngrams` rows."""
        raw = encode(word)
        strings: list[str] = []
        ids: list[int] = []
        wid = self.word_id(raw)
        if wid >= 0:
            strings.append(raw.decode("utf-8", DEFAULT_ERRORS))
            ids.append(wid)
        if not self.has_ngrams or (raw == b"</s>" and not self._eos_ngrams):
            return strings, np.array(ids, dtype=np.int64)
        bracketed = b"<" + raw + b">"
        grams = self.subword_scheme.ngrams(raw)
        for (a, b, _), r in zip(grams, self._subword_rows([h for _, _, h in grams])):
            if r >= 0:
                strings.append(bracketed[a:b].decode("utf-8", DEFAULT_ERRORS))
                ids.append(int(r))
        return strings, np.array(ids, dtype=np.int64)

    def _subword_rows(self, hashes: list[int]) -> list[int]:
        """The `ngrams` row of each n-gram hash, -1 where the store keeps none."""
        return [self.subword_scheme.bucket_row(h) for h in hashes]

    def _subword_vectors(self, ids: np.ndarray) -> np.ndarray:
        """float32 rows of `get_subwords` ids (after the word's own id)."""
        if self._ngrams is None or not len(ids):  # (a store without n-grams lists none)
            return np.zeros((len(ids), self.dim), np.float32)
        return self._ngrams[ids].astype(np.float32)

    def get_ngram_vectors(self, words: Sequence[str | bytes], distinct: bool = False
                          ) -> list[tuple[str, np.ndarray]]:
        """(n-gram, vector) for each word's character n-grams; `distinct`: each n-gram once.

        Unlike a `.bin`, a store keeps a known word's final vector, not its raw input row, so
        only the n-gram lines are given (the word's own line of `print-ngrams` is left out).
        """
        out: list[tuple[str, np.ndarray]] = []
        seen: set[str] = set()
        for w in words:
            strings, ids = self.get_subwords(w)
            skip = 1 if self.word_id(w) >= 0 else 0
            for s, row in zip(strings[skip:], self._subword_vectors(ids[skip:])):
                if distinct and s in seen:
                    continue
                seen.add(s)
                out.append((s, row))
        return out

    # -- neighbours ----------------------------------------------------------------------
    def _query_vector(self, word_or_vector) -> tuple[np.ndarray, list]:
        if isinstance(word_or_vector, (str, bytes)):
            return self[word_or_vector], [word_or_vector]
        q = np.asarray(word_or_vector, dtype=np.float32)
        if q.shape != (self.dim,):
            raise ValueError(f"query vector must have shape ({self.dim},), got {q.shape}")
        return q, []

    def most_similar(self, word_or_vector, k: int = 10, device: str = "auto",
                     exclude: Sequence[str | bytes] = ()) -> list[tuple[str, float]]:
        """The k words of highest cosine to a word (known or not) or a vector, best first.

        Exact search: matrix-vector products over the memory-mapped matrix on the CPU; on a
        GPU (device="auto" finds one) the matrix is uploaded once and kept there; with
        device="faiss" a faiss flat inner-product index is built once (float32, in RAM) for
        many repeated queries. The query word itself is excluded, as fastText does.
        """
        q, banned = self._query_vector(word_or_vector)
        return self._search(q, k, [*banned, *exclude], device)

    def analogy(self, a: str | bytes, b: str | bytes, c: str | bytes, k: int = 10,
                device: str = "auto") -> list[tuple[str, float]]:
        """Words closest to a - b + c (each unit-normalised), a, b and c excluded."""
        return self._search(analogy_query([self[w] for w in (a, b, c)]), k, [a, b, c], device)

    def get_nearest_neighbors(self, word: str | bytes, k: int = 10) -> list[tuple[float, str]]:
        return [(s, w) for w, s in self.most_similar(word, k)]

    def get_analogies(self, a, b, c, k: int = 10) -> list[tuple[float, str]]:
        return [(s, w) for w, s in self.analogy(a, b, c, k)]

    def _search(self, q: np.ndarray, k: int, banned: Sequence, device: str
                ) -> list[tuple[str, float]]:
        """Rows whose vector holds inf or NaN (non-finite stored norm) are never neighbours:
        every backend scores them -inf, and they are dropped from the answer (which can then
        hold fewer than k words)."""
        self._store.check()  # a truncated map would SIGBUS (vecsmith._mapping.FileStamp)
        if not np.all(np.isfinite(q)):
            raise ValueError("the query vector holds inf or NaN: it has no neighbours")
        qnorm = float(np.sqrt(np.dot(q, q)))
        qn = q / (qnorm if qnorm >= 1e-8 else 1.0)
        ban = [int(i) for i in self.word_ids(list(banned))] if banned else []
        ban = [i for i in ban if i >= 0]
        k = max(0, min(k, self.nwords - len(set(ban))))
        if k == 0:
            return []
        if device == "faiss" or (device != "cpu" and resolve_device(device) == "cuda"):
            search = self._search_faiss if device == "faiss" else self._search_torch
            ids, scores = search(qn, k, ban)
            # the backend's k best, ordered by the shared rules (vecsmith.neighbours; equal
            # scores in fastText's heap order among them)
            order = np.argsort(ids, kind="stable")
            ids, scores = rank(np.asarray(scores, np.float32)[order], k,
                               ids=np.asarray(ids, np.int64)[order])
        else:
            ids, scores = self._search_cpu(qn, k, ban)
        return [(self.word(int(i)), float(s)) for i, s in zip(ids, scores)
                if np.isfinite(s) and np.isfinite(self._norms[i])]

    def cosines(self, q_unit: np.ndarray, start: int, stop: int) -> np.ndarray:
        """Cosine of rows start..stop to a unit query (zero rows score 0, rows holding inf or
        NaN -inf)."""
        block = self._vectors[start:stop]
        with np.errstate(invalid="ignore", over="ignore"):
            dots = block @ q_unit.astype(block.dtype) if not self._half else (
                block.astype(np.float32) @ q_unit)
        return _cosines(dots, self._norms[start:stop])

    def _search_cpu(self, qn: np.ndarray, k: int, ban: list[int]):
        if self._search_index is not None:
            return self._search_int8(qn, k, ban)
        small = self._vectors.size <= SMALL_SEARCH and not is_compiled()
        if self._half and not small and _torch_available():
            return self._search_half_torch_cpu(qn, k, ban)
        scores = np.empty(self.nwords, dtype=np.float32)  # 4 bytes a word, in blocks
        for s in range(0, self.nwords, BLOCK_ROWS):
            e = min(self.nwords, s + BLOCK_ROWS)
            scores[s:e] = self.cosines(qn, s, e)
        return rank(scores, k, ban)

    def _search_int8(self, qn: np.ndarray, k: int, ban: list[int]):
        """Exact search with the store's int8 first pass (`vecsmith.store.search`)."""
        codes, scales, slack = self._search_index
        if not self._search_checked:  # the bound is only as good as the file: check it once
            if not (np.all(np.isfinite(scales)) and np.all(slack >= 0)
                    and np.all(np.isfinite(slack))):
                raise self._bad("'search_scales'/'search_slack' hold negative or non-finite "
                                "values")
            self._search_checked = True
        q = np.ascontiguousarray(qn, dtype=np.float32)
        if not compiled_available() or (codes.size <= SMALL_SEARCH and not is_compiled()):
            # numpy's product rounds within the same bound as the kernel's (the slack)
            approx = (codes.astype(np.float32) @ q) * scales
        else:  # each chunk, still in cache, gives its best rows: no pass over n for them
            kernels = _kernels()
            approx = np.empty(self.nwords, dtype=np.float32)
            pool = pool_size(k, ban)
            found: list[np.ndarray] = []

            def scan(lo: int, hi: int) -> None:
                kernels.int8_scores_into(approx, codes, scales, q, lo, hi)
                for b in ban:
                    if lo <= b < hi:
                        approx[b] = -np.inf
                ids = np.empty(pool, dtype=np.int64)
                found.append(ids[: kernels.best_rows(approx, lo, hi, pool, ids)])

            parallel_chunks(scan, self.nwords)
            best = np.concatenate(found)
            if len(best) > pool:
                best = best[np.argpartition(approx[best], len(best) - pool)[len(best) - pool :]]
            return exact_top_k(approx, slack, lambda ids: self._exact_cosines(ids, q), k, ban,
                               best=best, reaching=lambda t: kernels.rows_reaching(
                                   approx, slack, np.float32(t)))
        return exact_top_k(approx, slack, lambda ids: self._exact_cosines(ids, q), k, ban)

    def _exact_cosines(self, ids: np.ndarray, qn: np.ndarray) -> np.ndarray:
        """Cosines of rows `ids` (sorted) to a unit query, from the stored vectors in float32."""
        with np.errstate(invalid="ignore", over="ignore"):
            dots = self._vectors[ids].astype(np.float32) @ qn
        return _cosines(dots, self._norms[ids])

    def _search_half_torch_cpu(self, qn: np.ndarray, k: int, ban: list[int]):
        """float16 matrix-vector product straight off the map (torch has a vectorised kernel
        numpy lacks), then the best candidates re-scored exactly in float32."""
        import torch

        with warnings.catch_warnings():  # the map is read-only; torch only reads it
            warnings.simplefilter("ignore", UserWarning)
            mat = torch.from_numpy(self._vectors)
        dots = torch.mv(mat, torch.from_numpy(qn).half()).float().numpy()
        norms = self._norms
        approx = _cosines(dots, norms)
        approx[ban] = -np.inf
        # float16 dot products resolve cosines to about 5e-4: re-score a pool wide enough that
        # every word within that distance of the k-th best is in it.
        pool = min(len(approx), 64 * k + 1024)
        cand = np.argpartition(-approx, pool - 1)[:pool]
        cand = np.sort(cand[np.isfinite(approx[cand])])
        return rank(self._exact_cosines(cand, qn), k, ids=cand)

    def _search_faiss(self, qn: np.ndarray, k: int, ban: list[int]):
        faiss = require("faiss", "repeated neighbour queries with device='faiss'")
        if getattr(self, "_faiss_index", None) is None:
            index = faiss.IndexFlatIP(self.dim)
            for s in range(0, self.nwords, BLOCK_ROWS):
                block = self._vectors[s : s + BLOCK_ROWS].astype(np.float32)
                norms = self._norms[s : s + BLOCK_ROWS]
                inv = np.zeros_like(norms)
                np.divide(1.0, norms, out=inv, where=np.isfinite(norms) & (norms > 0))
                with np.errstate(invalid="ignore"):
                    block *= inv[:, None]
                block[~np.isfinite(norms)] = 0.0  # inf/NaN rows: scored 0, then dropped
                index.add(np.ascontiguousarray(block))
            self._faiss_index = index
        scores, ids = self._faiss_index.search(qn[None, :].astype(np.float32), k + len(ban))
        banned = set(ban)
        keep = [(i, sc) for i, sc in zip(ids[0], scores[0]) if i >= 0 and i not in banned][:k]
        return np.array([i for i, _ in keep], dtype=np.int64), np.array([sc for _, sc in keep])

    def _search_torch(self, qn: np.ndarray, k: int, ban: list[int]):
        torch = require("torch", "GPU neighbour search")
        if self._device_matrix is None:
            mat = torch.from_numpy(np.ascontiguousarray(self._vectors)).to("cuda")
            norms = torch.from_numpy(np.ascontiguousarray(self._norms)).to("cuda")
            inv = torch.where(norms > 0, 1.0 / norms, torch.zeros_like(norms))
            self._device_matrix = (mat * inv[:, None].to(mat.dtype)).contiguous()
        mat = self._device_matrix
        scores = (mat @ torch.from_numpy(qn).to(mat.device, mat.dtype)).float()
        scores[~torch.isfinite(scores)] = -float("inf")  # rows holding inf or NaN
        if ban:
            scores[torch.tensor(ban, device=scores.device)] = -float("inf")
        top = torch.topk(scores, k)
        return top.indices.cpu().numpy(), top.values.cpu().numpy()
