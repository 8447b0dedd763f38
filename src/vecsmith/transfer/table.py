"""`SubwordTable`, the result of transfer, and the n-gram ids it is indexed by.

The ids are `vecsmith.subwords`' (same n-grams, order and `</s>` rule as a store's OOV lookup),
so a table trained on them answers store queries exactly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vecsmith.subwords import SubwordScheme
from vecsmith.transfer.config import check_ngram_params


def ngram_ids(words: Sequence[str], minn: int = 3, maxn: int = 6,
              bucket: int = 1_000_000) -> tuple[np.ndarray, np.ndarray]:
    """fastText bucket ids of each word's character n-grams: ``(ids, offsets)``.

    Word ``i`` owns ``ids[offsets[i]:offsets[i+1]]`` (empty when it has no n-gram of length
    ``minn..maxn``, e.g. ``"</s>"`` or a too-short word with large ``minn``).
    """
    check_ngram_params(minn, maxn, bucket)
    words = list(words)
    if not words:
        return np.zeros(0, np.int64), np.zeros(1, np.int64)
    # Same n-grams, order and `</s>` rule as the store's OOV lookup, so a table trained on
    # these ids answers store queries exactly.
    return SubwordScheme(minn, maxn, bucket).bucket_ids(words)


@dataclass
class SubwordTable:
    """A learned n-gram table and how it hashes: ``table[hash(ngram) % bucket]``.

    ``history`` has one entry per epoch (training loss, held-out mean cosine); ``best_epoch``
    is the epoch whose table was kept (0: the least-squares start); ``lstsq_history`` is the
    held-out mean cosine after each least-squares (CGLS) iteration; ``lstsq_blend`` is the
    weight of the plain least-squares table blended into ``table``, and ``heldout_cosine``
    the held-out mean cosine of ``table`` as returned (blend included).
    """

    table: np.ndarray
    minn: int
    maxn: int
    bucket: int
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    heldout_cosine: float = float("nan")
    seconds: float = 0.0
    device: str = "cpu"
    lstsq_history: list[float] = field(default_factory=list)
    lstsq_blend: float = 0.0

    @property
    def params(self) -> dict:
        """The hashing parameters, as :func:`vecsmith.store.convert_vectors` takes them."""
        return {"minn": self.minn, "maxn": self.maxn, "bucket": self.bucket}

    def embed(self, words: Sequence[str]) -> np.ndarray:
        """fastText-style vectors of ``words`` from the table alone (mean of n-gram rows;
        zeros for a word with no n-grams), whether or not they were in the training vocabulary.
        """
        ids, offsets = ngram_ids(words, self.minn, self.maxn, self.bucket)
        return bag_means(self.table, ids, offsets)

    def to_store(self, words: Sequence[str], vectors: np.ndarray, out: str | os.PathLike,
                 dtype: str = "float16", source: str = "", source_format: str = "text",
                 quiet: bool = False) -> Path:
        """Write a store: ``words`` keep ``vectors``, any other word gets its n-gram mean."""
        from vecsmith.store import convert_vectors

        return convert_vectors(words, vectors, out, dtype=dtype, source=source,
                               source_format=source_format, ngrams=(self.table, self.params),
                               quiet=quiet)


def bag_means(table: np.ndarray, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    n = len(offsets) - 1
    out = np.zeros((n, table.shape[1]), dtype=np.float32)
    counts = np.diff(offsets)
    has = counts > 0
    if ids.size:
        sums = np.add.reduceat(table[ids].astype(np.float32), offsets[:-1][has], axis=0)
        out[has] = sums * (np.float32(1.0) / counts[has].astype(np.float32))[:, None]
    return out
