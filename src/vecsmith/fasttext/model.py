"""`FastTextModel`: the official Python module's API over a memory-mapped model file.

Names follow `fasttext.FastText._FastText` so users can switch by changing one import; batch
forms (`get_word_vectors`, `get_word_ids`, `predict` on a list) run compiled loops over all
words at once.

Strings: the file holds bytes. Queries are encoded as UTF-8 (bytes are accepted as is) and
words are decoded with `on_unicode_error`, default ``"surrogateescape"``: invalid bytes
become lone surrogates that encode back to the same bytes, so a word read from `words` always
finds itself again. The official module defaults to ``"strict"`` and raises on such words.
"""

from __future__ import annotations

import os
import re
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
from vecsmith._mapping import populate
from vecsmith.fasttext import _kernels
from vecsmith.fasttext.format import (
    LEGACY,
    Args,
    DenseMatrix,
    ModelFile,
    QuantMatrix,
    read_model_file,
)
from vecsmith.fasttext.predict import CompiledPredictor

EOS = "</s>"
_NO_IDS = np.zeros(0, dtype=np.int32)  # tells the kernel to look words up itself
# `Dictionary::readWord` splits on these; `std::istream >> word` (unsupervised) on isspace.
_SUPERVISED_SEPARATORS = re.compile(b"[ \n\r\t\v\f\0]+")
_UNSUPERVISED_SEPARATORS = re.compile(b"[ \t\n\v\f\r]+")


def load_model(path: str | os.PathLike) -> FastTextModel:
    """Open a fastText `.bin` or `.ftz` file without reading its matrices into memory."""
    return FastTextModel(read_model_file(path))


class FastTextModel:
    """A fastText model opened from disk; see `load_model`."""

    def __init__(self, model: ModelFile):
        self._file = model
        self.args: Args = model.args
        self.path = model.path
        d = model.dictionary
        self._dict = d
        self._nwords = d.nwords
        hashes = _kernels.hash_entries(d.blob, d.offsets)
        self._table = _kernels.build_table(d.blob, d.offsets, hashes)
        self._input = _matrix_kernel_args(model.input)
        self._nn_matrix: np.ndarray | None = None
        self._eos_ngrams = model.version == LEGACY

    # -- metadata ----------------------------------------------------------------------------
    def get_dimension(self) -> int:
        return self.args.dim

    def is_quantized(self) -> bool:
        return self._file.quant_input

    @property
    def version(self) -> int:
        return self._file.version

    @property
    def nwords(self) -> int:
        return self._nwords

    @property
    def nlabels(self) -> int:
        return self._dict.nlabels

    @property
    def ntokens(self) -> int:
        return self._dict.ntokens

    @property
    def pruneidx_size(self) -> int:
        return self._dict.pruneidx_size

    def warm(self) -> FastTextModel:
        """Read the whole model file into memory now, in 2 MB pages where Linux allows
        (`vecsmith._mapping.populate`): a server's first batch then reads no disk, and rows
        cost fewer TLB misses. Needs the file's size in free memory. Returns self."""
        populate(self._file.buf)
        return self

    def __repr__(self) -> str:
        return (f"FastTextModel({os.path.basename(self.path)!r}, {self.args.model_name}, "
                f"dim={self.args.dim}, words={self.nwords}, labels={self.nlabels}, "
                f"quantized={self.is_quantized()})")

    # -- vocabulary --------------------------------------------------------------------------
    def _decode_entries(self, start: int, stop: int, errors: str) -> list[str]:
        d = self._dict
        if stop <= start:
            return []
        raw = d.blob[d.offsets[start] : d.offsets[stop] - 1].tobytes()
        return raw.decode("utf-8", errors).split("\0")

    @cached_property
    def words(self) -> list[str]:
        """Vocabulary words in id order (`</s>` included), decoded with surrogateescape."""
        return self._decode_entries(0, self._nwords, DEFAULT_ERRORS)

    @cached_property
    def labels(self) -> list[str]:
        """Labels of a supervised model; like the official module, the words otherwise."""
        return self.get_labels()

    def get_words(self, include_freq: bool = False, on_unicode_error: str = DEFAULT_ERRORS):
        words = self._decode_entries(0, self._nwords, on_unicode_error)
        if include_freq:
            return words, self._dict.counts[: self._nwords].copy()
        return words

    def get_labels(self, include_freq: bool = False, on_unicode_error: str = DEFAULT_ERRORS):
        if self.args.model != 3:  # the official module answers with the words here
            return self.get_words(include_freq, on_unicode_error)
        labels = self._decode_entries(self._nwords, self._dict.size, on_unicode_error)
        if include_freq:
            return labels, self._dict.counts[self._nwords :].copy()
        return labels

    def word_bytes(self, i: int) -> bytes:
        """Raw bytes of dictionary entry `i` (word or label)."""
        if not 0 <= i < self._dict.size:
            raise IndexError(f"entry {i} out of range 0..{self._dict.size - 1}")
        return self._dict.entry_bytes(i)

    def get_word_ids(self, words: Sequence[str | bytes]) -> np.ndarray:
        """Dictionary ids of many words at once (-1 when absent); labels resolve too."""
        blob, offsets = pack_words(words)
        d = self._dict
        return _kernels.lookup_ids(d.blob, d.offsets, self._table, blob, offsets)

    def get_word_id(self, word: str | bytes) -> int:
        return int(self.get_word_ids([word])[0])

    def get_label_id(self, label: str | bytes) -> int:
        i = self.get_word_id(label)
        return i - self._nwords if i >= self._nwords else -1

    def __contains__(self, word: str | bytes) -> bool:
        i = self.get_word_id(word)
        return 0 <= i < self._nwords

    # -- subwords ----------------------------------------------------------------------------
    def _ngram_spans(self, raw: bytes) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
        q = np.frombuffer(raw, dtype=np.uint8)
        n = len(raw) + 2
        cap = _kernels.ngram_capacity(len(raw), self.args.maxn)
        scratch = np.empty(n, np.uint8)
        s0, s1 = np.empty(cap, np.int64), np.empty(cap, np.int64)
        hs = np.empty(cap, np.uint32)
        if raw == EOS.encode() and not self._eos_ngrams:
            count = 0
        else:
            count = _kernels.char_ngrams(q, 0, len(raw), self.args.minn, self.args.maxn, scratch,
                                         s0, s1, hs)
        return b"<" + raw + b">", s0[:count], s1[:count], hs[:count]

    def _bucket_rows(self, hashes: np.ndarray) -> np.ndarray:
        d = self._dict
        return np.array(
            [_kernels.bucket_row(h, self.args.bucket, d.nwords, d.pruneidx_size, d.prune_keys,
                                 d.prune_values) for h in hashes], dtype=np.int64)

    def get_subwords(self, word: str | bytes, on_unicode_error: str = DEFAULT_ERRORS
                     ) -> tuple[list[str], np.ndarray]:
        """The word (if in the dictionary) and its character n-grams, with their input rows.

        Same order as fastText. In pruned models the official module returns every n-gram
        string but only the kept ids (the two lists misalign); here n-grams that pruning
        dropped are left out of both lists, so strings and ids stay aligned.
        """
        raw = encode(word)
        wid = self.get_word_id(raw)
        strings: list[str] = []
        ids: list[int] = []
        if wid >= 0:
            strings.append(self._dict.entry_bytes(wid).decode("utf-8", on_unicode_error))
            ids.append(wid)
        bracketed, s0, s1, hs = self._ngram_spans(raw)
        for a, b, row in zip(s0, s1, self._bucket_rows(hs)):
            if row >= 0:
                strings.append(bracketed[a:b].decode("utf-8", on_unicode_error))
                ids.append(int(row))
        return strings, np.array(ids, dtype=np.int32)

    def get_subword_id(self, subword: str | bytes) -> int:
        """`nwords + hash % bucket`, as fastText (ignores pruning, like the official code)."""
        raw = encode(subword)
        if self.args.bucket <= 0:
            raise ValueError("this model has no n-gram buckets (bucket = 0)")
        h = _kernels.fnv_hash(np.frombuffer(raw, np.uint8), 0, len(raw))
        return self._nwords + int(h % np.uint32(self.args.bucket))

    def get_ngram_vectors(self, words: Sequence[str | bytes], distinct: bool = False
                          ) -> list[tuple[str, np.ndarray]]:
        """(substring, input row) pairs for the words' subwords, as `print-ngrams` prints.

        With `distinct`, each n-gram string appears once over the whole word list (the bulk
        export fastText lacks). OOV words do not print a zero vector for themselves.
        """
        out: list[tuple[str, np.ndarray]] = []
        seen: set[str] = set()
        for w in words:
            strings, ids = self.get_subwords(w)
            for s, i in zip(strings, ids):
                if distinct:
                    if s in seen:
                        continue
                    seen.add(s)
                out.append((s, self.get_input_vector(int(i))))
        return out

    # -- vectors -----------------------------------------------------------------------------
    def get_word_vectors(self, words: Sequence[str | bytes],
                         out: np.ndarray | None = None) -> np.ndarray:
        """`get_word_vector` for many words: one (len(words), dim) float32 array.

        `out`: an array of that shape to write into and return (a server answering batch
        after batch can reuse one instead of having a new one allocated and zero-filled)."""
        blob, offsets = pack_words(words)
        return self._vectors_for(blob, offsets, _NO_IDS, out=out)

    @cached_property
    def _dictionary_args(self) -> tuple:
        """Every kernel argument after the query and ids (eos flag excluded), bound once:
        a single-word lookup then costs one compiled call."""
        a, d = self.args, self._dict
        return (d.blob, d.offsets, self._table, a.minn, a.maxn, a.bucket, d.nwords,
                d.pruneidx_size, d.prune_keys, d.prune_values, self._eos_ngrams)

    def _vectors_for(self, blob: np.ndarray, offsets: np.ndarray, wids: np.ndarray,
                     unit: bool = False, out: np.ndarray | None = None) -> np.ndarray:
        n = len(offsets) - 1
        out = output_array(out, n, self.args.dim)
        args = self._dictionary_args
        if n < 1024:  # threads only pay off on big batches
            _kernels.word_vectors_into(out, blob, offsets, wids, *args, unit, *self._input)
            return out

        def run(lo: int, hi: int) -> None:
            _kernels.word_vectors_into(out[lo:hi], blob, offsets[lo : hi + 1], wids[lo:hi],
                                       *args, unit, *self._input)

        parallel_chunks(run, n)
        return out

    def get_word_vector(self, word: str | bytes) -> np.ndarray:
        """Mean of the word's row (if known) and its n-gram rows; zeros when it has none."""
        raw = encode(word)
        blob = np.frombuffer(raw + b"\0", dtype=np.uint8)
        offsets = np.array([0, len(raw) + 1], dtype=np.int64)
        return self._vectors_for(blob, offsets, _NO_IDS)[0]

    def __getitem__(self, word: str | bytes) -> np.ndarray:
        return self.get_word_vector(word)

    def vocabulary_vectors(self, start: int = 0, stop: int | None = None,
                           unit: bool = False) -> np.ndarray:
        """Word vectors of dictionary words start..stop, as `getWordVector` gives them
        (scaled to unit length with `unit`, as fastText's neighbour search does)."""
        d = self._dict
        stop = self._nwords if stop is None else min(stop, self._nwords)
        base = d.offsets[start]
        offsets = d.offsets[start : stop + 1] - base
        blob = d.blob[base : d.offsets[stop]]
        wids = np.arange(start, stop, dtype=np.int32)
        return self._vectors_for(blob, offsets, wids, unit=unit)

    def get_input_vector(self, ind: int) -> np.ndarray:
        """Row `ind` of the input matrix (reconstructed for quantized models)."""
        rows = self._file.input.shape[0]
        if not 0 <= ind < rows:
            raise IndexError(f"input row {ind} out of range 0..{rows - 1}")
        return _kernels.mean_rows(np.array([ind], np.int64), *self._input, self.args.dim)

    def get_input_matrix(self) -> np.ndarray:
        """The dense input matrix as a read-only memory-mapped view (no copy)."""
        if self.is_quantized():
            raise ValueError("Can't get quantized Matrix")
        return self._file.input.data

    def get_output_matrix(self) -> np.ndarray:
        """The dense output matrix as a read-only memory-mapped view (no copy)."""
        if isinstance(self._file.output, QuantMatrix):
            raise ValueError("Can't get quantized Matrix")
        return self._file.output.data

    def rows_mean(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """float32 mean of input rows, in order (fastText's `computeHidden`)."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self._file.input.shape[0]):
            raise IndexError("input row out of range")
        return _kernels.mean_rows(rows, *self._input, self.args.dim)

    def line_rows(self, text: str | bytes) -> tuple[np.ndarray, list[int]]:
        """`Dictionary::getLine` for one line: input rows (subwords + word n-grams) and labels."""
        raw = encode(text)
        if b"\n" in raw:
            raise ValueError("one line at a time: remove '\\n' from the text")
        tokens = [t for t in _SUPERVISED_SEPARATORS.split(raw) if t]
        tokens.append(EOS.encode())
        blob, offsets = pack_words(tokens)
        d, a = self._dict, self.args
        wids = _kernels.lookup_ids(d.blob, d.offsets, self._table, blob, offsets)
        rows: list[int] = []
        labels: list[int] = []
        word_hashes: list[int] = []
        cap = _kernels.ngram_capacity(max(map(len, tokens)), a.maxn)
        scratch = np.empty(cap, np.uint8)
        s0, s1, hs = np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.uint32)
        buf = np.empty(cap, np.int64)
        for k, tok in enumerate(tokens):
            wid = int(wids[k])
            is_label = (d.types[wid] == 1) if wid >= 0 else tok.startswith(b"__label__")
            if not is_label:
                n = _kernels.subword_rows(blob, offsets[k], offsets[k + 1] - 1, wid, a.minn,
                                          a.maxn, a.bucket, d.nwords, d.pruneidx_size,
                                          d.prune_keys, d.prune_values, self._eos_ngrams,
                                          scratch, s0, s1, hs, buf)
                rows.extend(buf[:n].tolist())
                word_hashes.append(int(_kernels.fnv_hash(blob, offsets[k], offsets[k + 1] - 1)))
            elif wid >= 0:
                labels.append(wid - d.nwords)
        rows.extend(self._word_ngram_rows(word_hashes))
        return np.array(rows, dtype=np.int64), labels

    def _word_ngram_rows(self, hashes: list[int]) -> list[int]:
        """`addWordNgrams`: uint64 arithmetic on sign-extended int32 token hashes."""
        n, a, d = self.args.word_ngrams, self.args, self._dict
        out: list[int] = []
        if n <= 1 or a.bucket <= 0:
            return out
        mask = (1 << 64) - 1
        signed = [h - (1 << 32) if h >= 1 << 31 else h for h in hashes]
        for i in range(len(signed)):
            h = signed[i] & mask
            for j in range(i + 1, min(len(signed), i + n)):
                h = (h * 116049371 + (signed[j] & mask)) & mask
                b = h % a.bucket
                row = _kernels.bucket_row(np.uint32(b), a.bucket, d.nwords, d.pruneidx_size,
                                          d.prune_keys, d.prune_values)
                if row >= 0:
                    out.append(int(row))
        return out

    def get_sentence_vector(self, text: str | bytes) -> np.ndarray:
        """As fastText: supervised = mean of the line's input rows; otherwise the mean of the
        L2-normalised word vectors (zero-norm words skipped)."""
        raw = encode(text)
        if b"\n" in raw:
            raise ValueError("get_sentence_vector processes one line at a time (remove '\\n')")
        if self.args.model == 3:
            rows, _ = self.line_rows(raw)
            return self.rows_mean(rows)
        words = [t for t in _UNSUPERVISED_SEPARATORS.split(raw) if t]
        out = np.zeros(self.args.dim, dtype=np.float32)
        if not words:
            return out
        count = 0
        for v in self.get_word_vectors(words):
            norm = _float_norm(v)
            if norm > 0:
                out += v * np.float32(1.0 / norm)
                count += 1
        if count:
            out *= np.float32(1.0 / count)
        return out

    # -- neighbours --------------------------------------------------------------------------
    def _neighbour_matrix(self) -> np.ndarray:
        """Unit-length word vectors of the whole vocabulary, computed on first use."""
        if self._nn_matrix is None:
            self._nn_matrix = self.vocabulary_vectors(unit=True)
        return self._nn_matrix

    def _search(self, query: np.ndarray, k: int, banned: Sequence[str | bytes]
                ) -> list[tuple[float, str]]:
        mat = self._neighbour_matrix()
        qnorm = _float_norm(query)
        if abs(qnorm) < 1e-8:
            qnorm = np.float32(1.0)
        scores = (mat @ query) / qnorm
        for i in self.get_word_ids(list(banned)):
            if 0 <= i < self._nwords:
                scores[i] = -np.inf
        k = min(k, int(np.isfinite(scores).sum()))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]
        words = self.words
        return [(float(scores[i]), words[i]) for i in top]

    def get_nearest_neighbors(self, word: str | bytes, k: int = 10,
                              on_unicode_error: str = DEFAULT_ERRORS) -> list[tuple[float, str]]:
        """The k words with the highest cosine to `word` (which may be OOV), as (score, word)."""
        return self._search(self.get_word_vector(word), k, [word])

    def get_analogies(self, wordA: str | bytes, wordB: str | bytes, wordC: str | bytes,
                      k: int = 10, on_unicode_error: str = DEFAULT_ERRORS
                      ) -> list[tuple[float, str]]:
        """Words closest to A - B + C (each L2-normalised), A, B and C excluded."""
        query = np.zeros(self.args.dim, dtype=np.float32)
        for w, sign in ((wordA, 1.0), (wordB, -1.0), (wordC, 1.0)):
            v = self.get_word_vector(w)
            query += v * np.float32(sign / (float(_float_norm(v)) + 1e-8))
        return self._search(query, k, [wordA, wordB, wordC])

    # -- supervised --------------------------------------------------------------------------
    @cached_property
    def _predictor(self) -> CompiledPredictor:
        if self.args.model != 3:
            raise ValueError("predict needs a supervised model; this one is "
                             f"{self.args.model_name}")
        return CompiledPredictor(self._file, self._table, self._eos_ngrams)

    def predict(self, text: str | bytes | Sequence[str | bytes], k: int = 1,
                threshold: float = 0.0, on_unicode_error: str = DEFAULT_ERRORS, *,
                threads: int | None = None):
        """Top-k labels and probabilities of one line, or of a list of lines in one compiled
        call, as the official `predict`: a str gives ``(labels_tuple, probs)``; a list gives
        ``(labels, probs)`` with ``labels[i]`` the list of labels of text i (best first,
        equal scores in the official order) and ``probs[i]`` its float64 array. `k=-1`: all
        labels. `threads`: worker threads for large lists (default: one per core)."""
        labels = self.labels if on_unicode_error == DEFAULT_ERRORS else self.get_labels(
            on_unicode_error=on_unicode_error)
        return self._predictor.predict(text, k, threshold, labels, threads)


def _float_norm(v: np.ndarray) -> np.float32:
    return np.float32(np.sqrt(np.dot(v, v)))


def _matrix_kernel_args(m: DenseMatrix | QuantMatrix) -> tuple:
    """The argument tuple the kernels take for either kind of matrix."""
    empty_u8 = np.zeros((1, 1), np.uint8)
    empty_f = np.zeros(1, np.float32)
    if isinstance(m, DenseMatrix):
        return (False, m.data, empty_u8, empty_f, 1, 1, 1, np.zeros(1, np.uint8), empty_f, False)
    nc = m.norm_codes if m.qnorm else np.zeros(1, np.uint8)
    ncent = m.npq.centroids if m.qnorm else empty_f
    return (True, np.zeros((1, 1), np.float32), m.codes, m.pq.centroids, m.pq.nsubq, m.pq.dsub,
            m.pq.lastdsub, nc, ncent, bool(m.qnorm))
