"""Write stores: from fastText models (streaming, bounded memory) and from plain word vectors.

A store keeps what queries need: the word matrix precomputed exactly as fastText's
`get_word_vector`, and the n-gram (bucket) table for out-of-vocabulary words. Optionally only
the most frequent words (`max_words`), only the n-gram rows a word list reaches
(`ngrams_for`), or no n-grams at all.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from vecsmith._atomic import atomic_open
from vecsmith._batch import pack_words
from vecsmith._mapping import release
from vecsmith._progress import progress
from vecsmith.fasttext.model import FastTextModel
from vecsmith.store.format import FORMAT, FORMAT_VERSION, StreamWriter, TensorSpec
from vecsmith.store.search import search_codes
from vecsmith.subwords import WordTable

CHUNK_ROWS = 1 << 15
DTYPES = {"float16": np.float16, "float32": np.float32}


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 24):
            h.update(block)
    return h.hexdigest()


def _vocab_tensors(words_blob: np.ndarray, offsets: np.ndarray) -> dict[str, np.ndarray]:
    table = WordTable.build(words_blob, offsets)
    return {"vocab_blob": words_blob, "vocab_offsets": offsets, "word_table": table.ids,
            "word_table_hashes": table.slot_hashes}


def _vocab_specs(vocab: dict[str, np.ndarray]) -> list[TensorSpec]:
    return [TensorSpec(name, arr.dtype, tuple(arr.shape)) for name, arr in vocab.items()]


def _write(out: str | os.PathLike, specs: list[TensorSpec], meta: dict,
           chunks: Iterator[tuple[str, np.ndarray]], source: str | os.PathLike | None) -> Path:
    """Stream the tensors into `out` atomically; never over the file being converted."""
    out = Path(out)
    with atomic_open(out, "wb", inputs=[source]) as fh:
        writer = StreamWriter(fh, specs, meta)
        for name, chunk in chunks:
            writer.write(name, chunk)
        writer.close()
    return out


def _norms(rows: np.ndarray) -> np.ndarray:
    r = rows.astype(np.float32)
    return np.sqrt(np.einsum("ij,ij->i", r, r, dtype=np.float32))


def _search_specs(n: int, dim: int) -> list[TensorSpec]:
    return [TensorSpec("search_codes", np.dtype(np.int8), (n, dim)),
            TensorSpec("search_scales", np.dtype(np.float32), (n,)),
            TensorSpec("search_slack", np.dtype(np.float32), (n,))]


def _word_chunks(rows: np.ndarray, norms: np.ndarray, search_index: bool
                 ) -> Iterator[tuple[str, np.ndarray]]:
    """A chunk of stored word rows, with its neighbour-search codes when they are kept."""
    yield "vectors", rows
    if search_index:
        codes, scales, slack = search_codes(rows, norms)
        yield "search_codes", codes
        yield "search_scales", scales
        yield "search_slack", slack


def convert_fasttext(model: FastTextModel | str | os.PathLike, out: str | os.PathLike,
                     dtype: str = "float16", max_words: int | None = None,
                     ngrams_for: Sequence[str] | None = None, no_ngrams: bool = False,
                     checksum: bool = True, quiet: bool = False, search_index: bool = True
                     ) -> Path:
    """Convert a fastText `.bin`/`.ftz` into a store at `out` (written atomically).

    `search_index` adds int8 codes of the unit word rows (a quarter of float32's size) that
    make exact CPU neighbour search read one byte per value (`vecsmith.store.search`).

    Private memory stays bounded by a chunk of rows plus the vocabulary, whatever the model
    size. Source rows that are done with (word rows once their vectors are written, bucket
    rows once copied) are unmapped as the scan passes them, so RSS peaks near the size of the
    n-gram table, which word vectors read at random, plus that private memory.
    """
    if isinstance(model, (str, os.PathLike)):
        from vecsmith.fasttext import load_model

        model = load_model(model)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    np_dtype = np.dtype(DTYPES[dtype])
    a, d = model.args, model.dictionary
    nwords = model.nwords if max_words is None else max(0, min(max_words, model.nwords))
    blob = d.blob[: d.offsets[nwords]]
    vocab = _vocab_tensors(blob, d.offsets[: nwords + 1].copy())
    keys, source_rows = _ngram_selection(model, ngrams_for, no_ngrams)
    nrows = len(source_rows)
    specs = [TensorSpec("vectors", np_dtype, (nwords, a.dim)),
             TensorSpec("norms", np.dtype(np.float32), (nwords,)),
             *_vocab_specs(vocab),
             TensorSpec("counts", np.dtype(np.int64), (nwords,))]
    if search_index:
        specs += _search_specs(nwords, a.dim)
    if not no_ngrams:
        specs.append(TensorSpec("ngrams", np_dtype, (nrows, a.dim)))
        if keys is not None:
            specs += [TensorSpec("ngram_keys", np.dtype(np.int32), (nrows,)),
                      TensorSpec("ngram_rows", np.dtype(np.int32), (nrows,))]
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "dim": a.dim, "minn": a.minn,
            "maxn": a.maxn, "bucket": 0 if no_ngrams else a.bucket, "dtype": dtype,
            "nwords": nwords, "ngram_rows": 0 if no_ngrams else nrows,
            "eos_ngrams": int(model.subword_scheme.eos_ngrams), "oov": "error" if no_ngrams else "fasttext",
            "search_index": "int8" if search_index else "",
            "source": os.path.basename(model.path),
            "source_format": f"fasttext-v{model.version}",
            "source_sha256": file_sha256(model.path) if checksum else ""}

    source_map = model.model_file.buf
    dense = None if model.is_quantized() else model.get_input_matrix()

    def chunks() -> Iterator[tuple[str, np.ndarray]]:
        norms = np.empty(nwords, dtype=np.float32)
        with progress(quiet) as bar:
            task = bar.add_task("word vectors", total=nwords)
            for s in range(0, nwords, CHUNK_ROWS):
                e = min(nwords, s + CHUNK_ROWS)
                rows = model.vocabulary_vectors(s, e).astype(np_dtype)
                norms[s:e] = _norms(rows)
                yield from _word_chunks(rows, norms[s:e], search_index)
                if dense is not None:
                    release(source_map, dense[s:e])
                bar.advance(task, e - s)
            yield "norms", norms
            yield from vocab.items()
            yield "counts", d.counts[:nwords]
            if no_ngrams:
                return
            task = bar.add_task("n-gram rows", total=nrows)
            for s in range(0, nrows, CHUNK_ROWS):
                ids = source_rows[s : s + CHUNK_ROWS]
                yield "ngrams", model.input_rows(ids).astype(np_dtype)
                if dense is not None and ids[-1] - ids[0] + 1 == len(ids):  # a run of rows
                    release(source_map, dense[ids[0] : ids[-1] + 1])
                bar.advance(task, len(ids))
            if keys is not None:
                yield "ngram_keys", keys
                yield "ngram_rows", np.arange(nrows, dtype=np.int32)

    return _write(out, specs, meta, chunks(), model.path)


def _ngram_selection(model: FastTextModel, ngrams_for: Sequence[str] | None, no_ngrams: bool
                     ) -> tuple[np.ndarray | None, np.ndarray]:
    """(bucket ids kept or None for all, and the source input rows holding them, in order)."""
    a, d = model.args, model.dictionary
    if no_ngrams or a.bucket <= 0 or d.pruneidx_size == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int64)
    if d.pruneidx_size > 0:  # the source itself keeps only some buckets
        keys, rows = d.prune_keys.astype(np.int64), d.nwords + d.prune_values.astype(np.int64)
    else:
        keys, rows = None, None
    if ngrams_for is not None:
        ids, _ = model.subword_scheme.bucket_ids(list(ngrams_for))
        wanted = np.unique(ids)
        if keys is None:
            return wanted.astype(np.int32), d.nwords + wanted
        pos = np.searchsorted(keys, wanted)
        ok = (pos < len(keys)) & (keys[np.minimum(pos, len(keys) - 1)] == wanted)
        return wanted[ok].astype(np.int32), rows[pos[ok]]
    if keys is None:
        return None, np.arange(d.nwords, d.nwords + a.bucket, dtype=np.int64)
    return keys.astype(np.int32), rows


def convert_vectors(words: Sequence[str], vectors: np.ndarray, out: str | os.PathLike,
                    dtype: str = "float16", counts: np.ndarray | None = None,
                    source: str = "", source_format: str = "text",
                    ngrams: tuple[np.ndarray, dict] | None = None, quiet: bool = False,
                    search_index: bool = True) -> Path:
    """Write a store from a word list and its matrix (.vec, GloVe, word2vec, .npy).

    Without `ngrams` the store answers OOV queries with "not in vocabulary". `ngrams` is
    (table, {"minn", "maxn", "bucket"}) as produced by subword transfer.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    np_dtype = np.dtype(DTYPES[dtype])
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise ValueError(f"need one row per word: {len(words)} words, matrix {vectors.shape}")
    n, dim = vectors.shape
    blob, offsets = pack_words(list(words))
    if len(offsets) - 1 != n:
        raise ValueError("word list and matrix disagree")
    if np.count_nonzero(blob == 0) != n:  # a NUL inside a word would shift every later word
        bad = next(i for i, w in enumerate(words) if "\0" in (w if isinstance(w, str) else w.decode("latin-1")))
        raise ValueError(f"word {bad} ({words[bad]!r}) contains a NUL byte, which a store "
                         "cannot hold")
    vocab = _vocab_tensors(blob.copy(), offsets)
    table, params = ngrams if ngrams is not None else (None, {})
    specs = [TensorSpec("vectors", np_dtype, (n, dim)),
             TensorSpec("norms", np.dtype(np.float32), (n,)),
             *_vocab_specs(vocab)]
    if counts is not None:
        specs.append(TensorSpec("counts", np.dtype(np.int64), (n,)))
    if search_index:
        specs += _search_specs(n, dim)
    if table is not None:
        specs.append(TensorSpec("ngrams", np_dtype, tuple(table.shape)))
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "dim": dim,
            "minn": params.get("minn", 0), "maxn": params.get("maxn", 0),
            "bucket": params.get("bucket", 0), "dtype": dtype, "nwords": n,
            "ngram_rows": 0 if table is None else len(table), "eos_ngrams": 0,
            "oov": "error" if table is None else "fasttext",
            "search_index": "int8" if search_index else "",
            "source": os.path.basename(str(source)), "source_format": source_format,
            "source_sha256": file_sha256(source) if source and os.path.isfile(source) else ""}

    def chunks() -> Iterator[tuple[str, np.ndarray]]:
        norms = np.empty(n, dtype=np.float32)
        for s in range(0, n, CHUNK_ROWS):
            rows = vectors[s : s + CHUNK_ROWS].astype(np_dtype)
            norms[s : s + len(rows)] = _norms(rows)
            yield from _word_chunks(rows, norms[s : s + len(rows)], search_index)
        yield "norms", norms
        yield from vocab.items()
        if counts is not None:
            yield "counts", np.asarray(counts, dtype=np.int64)
        if table is not None:
            for s in range(0, len(table), CHUNK_ROWS):
                yield "ngrams", np.asarray(table[s : s + CHUNK_ROWS]).astype(np_dtype)

    return _write(out, specs, meta, chunks(), source or None)
