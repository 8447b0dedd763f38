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
from vecsmith.fasttext.format import (
    LEGACY,
    Args,
    DenseMatrix,
    ModelFile,
    QuantMatrix,
    read_model_file,
)
from vecsmith.fasttext.predict import CompiledPredictor, matrix_args
from vecsmith.neighbours import analogy_query, rank
from vecsmith.subwords import (
    SMALL_BATCH,
    QuantRows,
    SubwordScheme,
    WordTable,
    check_lengths,
    compiled,
    compiled_available,
    fnv1a,
    is_compiled,
    mean_of_rows,
    means_of_rows,
    unit_rows,
    use_compiled,
)

EOS = "</s>"
# Vocabularies up to this size get their vectors (e.g. for neighbour search) from the numpy
# path while the compiled kernels are not loaded: faster than importing numba for them.
SMALL_VOCABULARY = 5000
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
        a = model.args
        self.subword_scheme = SubwordScheme(
            minn=a.minn, maxn=a.maxn, bucket=a.bucket, first_row=d.nwords,
            pruneidx_size=d.pruneidx_size, prune_keys=d.prune_keys,
            prune_values=d.prune_values, eos_ngrams=model.version == LEGACY)
        self._nn_matrix: np.ndarray | None = None

    # -- public views of the file (what other packages use instead of private fields) ----
    @property
    def model_file(self) -> ModelFile:
        """The parsed file: header, dictionary, memory-mapped matrices."""
        return self._file

    @property
    def dictionary(self):
        """The dictionary block (`vecsmith.fasttext.format.Dictionary`): entry bytes,
        counts, types, prune map."""
        return self._dict

    @cached_property
    def word_table(self) -> WordTable:
        """fastText's word hash table over the dictionary, built on first use (numpy for
        small dictionaries, compiled for large ones)."""
        d = self._dict
        return WordTable.build(d.blob, d.offsets)

    @cached_property
    def _input(self) -> tuple:
        return matrix_args(self._file.input)

    @cached_property
    def _input_rows(self):
        """Input rows for the numpy path: the dense matrix, or a `QuantRows` over codes."""
        return _row_source(self._file.input)

    def input_rows(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Rows `ids` of the input matrix as float32 (n, dim), reconstructed when quantized."""
        ids = np.asarray(ids, dtype=np.int64)
        n = self._file.input.shape[0]
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            raise IndexError(f"input row out of range 0..{n - 1}")
        out = np.zeros((len(ids), self.args.dim), dtype=np.float32)
        if len(ids):
            out += self._input_rows[ids]  # onto zeros, as fastText adds a row (-0.0 -> 0.0)
        return out

    def describe(self) -> dict:
        """What this model is, as plain values (the `VectorSource` protocol)."""
        return {"kind": "fasttext", "path": self.path, "format": f"fasttext-v{self.version}",
                "model": self.args.model_name, "dim": self.args.dim, "words": self.nwords,
                "labels": self.nlabels, "quantized": self.is_quantized(),
                "subwords": self.subword_scheme.describe()}

    # -- metadata ----------------------------------------------------------------------------
    def get_dimension(self) -> int:
        return self.args.dim

    @property
    def dim(self) -> int:
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
        return self.word_table.find_many(blob, offsets)

    def get_word_id(self, word: str | bytes) -> int:
        return self.word_table.find(encode(word))

    def get_label_id(self, label: str | bytes) -> int:
        i = self.get_word_id(label)
        return i - self._nwords if i >= self._nwords else -1

    def __contains__(self, word: str | bytes) -> bool:
        i = self.get_word_id(word)
        return 0 <= i < self._nwords

    # -- subwords ----------------------------------------------------------------------------
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
        bracketed = b"<" + raw + b">"
        scheme = self.subword_scheme
        for a, b, h in scheme.ngrams(raw):
            row = scheme.bucket_row(h)
            if row >= 0:
                strings.append(bracketed[a:b].decode("utf-8", on_unicode_error))
                ids.append(row)
        return strings, np.array(ids, dtype=np.int32)

    def get_subword_id(self, subword: str | bytes) -> int:
        """`nwords + hash % bucket`, as fastText (ignores pruning, like the official code)."""
        raw = encode(subword)
        if self.args.bucket <= 0:
            raise ValueError("this model has no n-gram buckets (bucket = 0)")
        return self._nwords + fnv1a(raw) % self.args.bucket

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
        if not isinstance(words, (list, tuple)):
            words = list(words)
        if not use_compiled(len(words)):
            self._file.check()  # the numpy path reads the map too
            raws = [encode(w) for w in words]
            out = output_array(out, len(raws), self.args.dim)
            return means_of_rows(self._input_rows, [self._word_rows(r) for r in raws], out)
        blob, offsets = pack_words(words)
        return self._vectors_for(blob, offsets, _NO_IDS, out=out)

    @cached_property
    def _dictionary_args(self) -> tuple:
        """Every kernel argument after the query and ids (eos flag excluded), bound once:
        a single-word lookup then costs one compiled call."""
        d = self._dict
        return (d.blob, d.offsets, self.word_table.arrays, *self.subword_scheme.kernel_args())

    def _vectors_for(self, blob: np.ndarray, offsets: np.ndarray, wids: np.ndarray,
                     unit: bool = False, out: np.ndarray | None = None) -> np.ndarray:
        """The compiled batch path (numba, loaded on first use)."""
        self._file.check()  # a truncated map would SIGBUS (vecsmith._mapping.FileStamp)
        n = len(offsets) - 1
        out = output_array(out, n, self.args.dim)
        if n:
            check_lengths(int(np.diff(offsets).max()) - 1, self.args.maxn)
        args = self._dictionary_args
        kernel = _compiled().word_vectors_into
        if n < 1024:  # threads only pay off on big batches
            kernel(out, blob, offsets, wids, *args, unit, *self._input)
            return out

        def run(lo: int, hi: int) -> None:
            kernel(out[lo:hi], blob, offsets[lo : hi + 1], wids[lo:hi], *args, unit,
                   *self._input)

        parallel_chunks(run, n)
        return out

    def _word_rows(self, raw: bytes) -> list[int]:
        """`getSubwords`: the word's id (if known) and its n-gram rows (the numpy path)."""
        wid = self.word_table.find(raw)
        if wid >= self._file.input.shape[0]:
            wid = -1  # a label past the input matrix counts as an unknown word
        rows = self.subword_scheme.rows(raw)
        return [wid, *rows] if wid >= 0 else rows

    def get_word_vector(self, word: str | bytes) -> np.ndarray:
        """Mean of the word's row (if known) and its n-gram rows; zeros when it has none.

        Before the compiled kernels are loaded, one word takes the numpy path (the same
        bits, no compiler import): a fresh process answers in milliseconds."""
        raw = encode(word)
        if not is_compiled():
            self._file.check()
            return mean_of_rows(self._input_rows, self._word_rows(raw))
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
        if not is_compiled() and (stop - start <= SMALL_VOCABULARY or not compiled_available()):
            self._file.check()
            raws = d.blob[d.offsets[start] : d.offsets[stop]].tobytes().split(b"\0")[:-1]
            rows = [[w, *self.subword_scheme.rows(r)] for w, r in zip(range(start, stop), raws)]
            out = np.empty((len(rows), self.args.dim), dtype=np.float32)
            means_of_rows(self._input_rows, rows, out)
            return unit_rows(out) if unit else out
        return self._vectors_for(blob, offsets, wids, unit=unit)

    def get_input_vector(self, ind: int) -> np.ndarray:
        """Row `ind` of the input matrix (reconstructed for quantized models)."""
        rows = self._file.input.shape[0]
        if not 0 <= ind < rows:
            raise IndexError(f"input row {ind} out of range 0..{rows - 1}")
        return mean_of_rows(self._input_rows, [ind])

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
        self._file.check()  # a truncated map would SIGBUS (vecsmith._mapping.FileStamp)
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self._file.input.shape[0]):
            raise IndexError("input row out of range")
        if is_compiled() or (len(rows) > 256 and compiled_available()):
            return _compiled().mean_rows(rows, *self._input, self.args.dim)
        return mean_of_rows(self._input_rows, rows.tolist())

    def line_rows(self, text: str | bytes) -> tuple[np.ndarray, list[int]]:
        """`Dictionary::getLine` for one line: input rows (subwords + word n-grams) and labels."""
        raw = encode(text)
        if b"\n" in raw:
            raise ValueError("one line at a time: remove '\\n' from the text")
        tokens = [t for t in _SUPERVISED_SEPARATORS.split(raw) if t]
        tokens.append(EOS.encode())
        blob, offsets = pack_words(tokens)
        d = self._dict
        wids = self.word_table.find_many(blob, offsets)
        rows: list[int] = []
        labels: list[int] = []
        word_hashes: list[int] = []
        scheme = self.subword_scheme
        if is_compiled() or (compiled_available() and len(tokens) > SMALL_BATCH):
            check_lengths(max(map(len, tokens)), self.args.maxn)
            known = wids >= 0
            is_label = np.zeros(len(tokens), dtype=np.bool_)
            is_label[known] = d.types[wids[known]] == 1
            for k in np.flatnonzero(~known):
                is_label[k] = tokens[k].startswith(b"__label__")
            token_rows, hashes = _compiled().line_token_rows(
                blob, offsets, wids, is_label, *scheme.kernel_args())
            labels = [int(w) - d.nwords for w in wids[is_label & known]]
            rows = token_rows.tolist()
            rows.extend(self._word_ngram_rows(hashes[~is_label].tolist()))
            return np.array(rows, dtype=np.int64), labels
        for k, tok in enumerate(tokens):
            wid = int(wids[k])
            is_label = (d.types[wid] == 1) if wid >= 0 else tok.startswith(b"__label__")
            if not is_label:
                if wid >= 0:
                    rows.append(wid)
                rows.extend(scheme.rows(tok))
                word_hashes.append(fnv1a(tok))
            elif wid >= 0:
                labels.append(wid - d.nwords)
        rows.extend(self._word_ngram_rows(word_hashes))
        return np.array(rows, dtype=np.int64), labels

    def _word_ngram_rows(self, hashes: list[int]) -> list[int]:
        """`addWordNgrams`: uint64 arithmetic on sign-extended int32 token hashes."""
        n, a = self.args.word_ngrams, self.args
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
                row = self.subword_scheme.bucket_row(b)
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
        ban = [int(i) for i in self.get_word_ids(list(banned)) if 0 <= i < self._nwords]
        ids, top = rank(scores, k, ban)
        words = self.words
        return [(float(s), words[i]) for i, s in zip(ids.tolist(), top)]

    def most_similar(self, word_or_vector, k: int = 10,
                     exclude: Sequence[str | bytes] = ()) -> list[tuple[str, float]]:
        """The k words of highest cosine to a word (known or not) or a vector, best first, as
        (word, score) like `vecsmith.store.Vectors.most_similar`; the query word and
        `exclude` are left out."""
        if isinstance(word_or_vector, (str, bytes)):
            query, banned = self.get_word_vector(word_or_vector), [word_or_vector]
        else:
            query = np.asarray(word_or_vector, dtype=np.float32)
            if query.shape != (self.args.dim,):
                raise ValueError(f"query vector must have shape ({self.args.dim},), got "
                                 f"{query.shape}")
            banned = []
        return [(w, s) for s, w in self._search(query, k, [*banned, *exclude])]

    def analogy(self, a: str | bytes, b: str | bytes, c: str | bytes, k: int = 10
                ) -> list[tuple[str, float]]:
        """`get_analogies` as (word, score) pairs, like `vecsmith.store.Vectors.analogy`."""
        return [(w, s) for s, w in self.get_analogies(a, b, c, k)]

    def get_nearest_neighbors(self, word: str | bytes, k: int = 10,
                              on_unicode_error: str = DEFAULT_ERRORS) -> list[tuple[float, str]]:
        """The k words with the highest cosine to `word` (which may be OOV), as (score, word)."""
        return self._search(self.get_word_vector(word), k, [word])

    def get_analogies(self, wordA: str | bytes, wordB: str | bytes, wordC: str | bytes,
                      k: int = 10, on_unicode_error: str = DEFAULT_ERRORS
                      ) -> list[tuple[float, str]]:
        """Words closest to A - B + C (each L2-normalised), A, B and C excluded."""
        query = analogy_query([self.get_word_vector(w) for w in (wordA, wordB, wordC)])
        return self._search(query, k, [wordA, wordB, wordC])

    # -- supervised --------------------------------------------------------------------------
    @cached_property
    def _predictor(self) -> CompiledPredictor:
        if self.args.model != 3:
            raise ValueError("predict needs a supervised model; this one is "
                             f"{self.args.model_name}")
        table = self.word_table
        return CompiledPredictor(self._file, (table.ids, table.slot_hashes),
                                 self.subword_scheme.eos_ngrams)

    def predict(self, text: str | bytes | Sequence[str | bytes], k: int = 1,
                threshold: float = 0.0, on_unicode_error: str = DEFAULT_ERRORS, *,
                threads: int | None = None):
        """Top-k labels and probabilities of one line, or of a list of lines in one compiled
        call, as the official `predict`: a str gives ``(labels_tuple, probs)``; a list gives
        ``(labels, probs)`` with ``labels[i]`` the list of labels of text i (best first,
        equal scores in the official order) and ``probs[i]`` its float64 array. `k=-1`: all
        labels. `threads`: worker threads for large lists (default: one per core)."""
        self._file.check()  # a truncated map would SIGBUS (vecsmith._mapping.FileStamp)
        labels = self.labels if on_unicode_error == DEFAULT_ERRORS else self.get_labels(
            on_unicode_error=on_unicode_error)
        return self._predictor.predict(text, k, threshold, labels, threads)


def _float_norm(v: np.ndarray) -> np.float32:
    return np.float32(np.sqrt(np.dot(v, v)))


def _compiled():
    """The reader's compiled kernels (numba), loaded on the first large batch."""
    compiled()  # checks numba is there, with a message naming the extra
    from vecsmith.fasttext import _compiled as kernels

    return kernels


def _row_source(m: DenseMatrix | QuantMatrix):
    if isinstance(m, DenseMatrix):
        return m.data
    return QuantRows(m.codes, m.pq.centroids, m.pq.nsubq, m.pq.dsub, m.pq.lastdsub,
                     m.norm_codes if m.qnorm else None, m.npq.centroids if m.qnorm else None)

