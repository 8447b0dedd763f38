"""Write a `SubwordEmbedding`'s tables back as a store, atomically.

The tuned store keeps the source's vocabulary, word table, hashing parameters and prune map
byte for byte; only the word rows, their norms (and search codes, when the source had them)
and the n-gram rows are new. The file is written through a temporary file and renamed, so a
crash never leaves half a store where a good one was.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vecsmith._atomic import atomic_open
from vecsmith.store.format import StreamWriter, TensorSpec
from vecsmith.store.search import SEARCH_TENSORS, search_codes

DTYPES = {"float16": np.float16, "float32": np.float32}
CHUNK_ROWS = 1 << 15
NEW = ("vectors", "norms", "ngrams", *SEARCH_TENSORS)  # recomputed; the rest is copied


def _norms(rows: np.ndarray) -> np.ndarray:
    r = rows.astype(np.float32)
    return np.sqrt(np.einsum("ij,ij->i", r, r, dtype=np.float32))


def write_store(emb, path: str | os.PathLike, dtype: str | None = None) -> Path:
    src = emb.store_file
    dtype = dtype or src.metadata.get("dtype") or str(emb.vectors.dtype)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    np_dtype = np.dtype(DTYPES[dtype])
    words = emb.table("words")
    has_ngrams = "ngrams" in src.tensors
    ngrams = emb.table("ngrams") if has_ngrams else None
    if has_ngrams and len(ngrams) != len(src.tensors["ngrams"]):  # a store with bucket 0
        ngrams = np.array(src.tensors["ngrams"], dtype=np.float32)
    search = all(name in src.tensors for name in SEARCH_TENSORS)
    n, dim = words.shape
    specs = [TensorSpec("vectors", np_dtype, (n, dim)), TensorSpec("norms", np.dtype(np.float32),
                                                                   (n,))]
    if search:
        specs += [TensorSpec("search_codes", np.dtype(np.int8), (n, dim)),
                  TensorSpec("search_scales", np.dtype(np.float32), (n,)),
                  TensorSpec("search_slack", np.dtype(np.float32), (n,))]
    if has_ngrams:
        specs.append(TensorSpec("ngrams", np_dtype, ngrams.shape))
    kept = {k: v for k, v in src.tensors.items() if k not in NEW}
    specs += [TensorSpec(k, v.dtype.newbyteorder("="), tuple(v.shape)) for k, v in kept.items()]
    meta = dict(src.metadata)
    meta.update(dtype=dtype, source=os.path.basename(src.path),
                source_format=f"{meta.get('source_format', '')}+nn-tuned".lstrip("+"),
                source_sha256="")
    with atomic_open(path, "wb") as fh:
        writer = StreamWriter(fh, specs, meta)
        norms = np.empty(n, dtype=np.float32)
        for s in range(0, n, CHUNK_ROWS):
            rows = words[s : s + CHUNK_ROWS].astype(np_dtype)
            norms[s : s + len(rows)] = _norms(rows)
            writer.write("vectors", rows)
            if search:
                for name, part in zip(SEARCH_TENSORS,
                                      search_codes(rows, norms[s : s + len(rows)])):
                    writer.write(name, part)
        writer.write("norms", norms)
        if has_ngrams:
            for s in range(0, len(ngrams), CHUNK_ROWS):
                writer.write("ngrams", ngrams[s : s + CHUNK_ROWS].astype(np_dtype))
        for name, array in kept.items():
            writer.write(name, array)
        writer.close()
    return Path(path)
