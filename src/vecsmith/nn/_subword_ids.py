"""Which table rows embed each word: the store's rule, computed by the compiled subword core.

A vocabulary word is its stored row; any other word is the mean of the n-gram rows its
fastText-hashed character n-grams reach (after the store's prune map, when it keeps only some
buckets). Word lookups use the store's public `word_ids`; n-gram hashing is one compiled call
per batch (no Python loop per n-gram), wrapped in `bucket_ids` below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vecsmith._batch import pack_words


def bucket_ids(blob: np.ndarray, offsets: np.ndarray, minn: int, maxn: int, bucket: int,
               eos_ngrams: bool) -> tuple[np.ndarray, np.ndarray]:
    """fastText bucket ids (hash % bucket) of each packed word's n-grams, in fastText's order:
    `(ids, offsets)`. The one private kernel this package uses; it moves to
    `vecsmith.subwords` when that module lands."""
    from vecsmith.subwords import compiled

    return compiled().word_bucket_ids(blob, offsets, minn, maxn, bucket, eos_ngrams)


@dataclass(frozen=True)
class Rows:
    """Rows of a batch of words: `word_ids[i]` is word i's stored row or -1; an unknown word
    i averages `ngram_rows[ngram_offsets[i]:ngram_offsets[i+1]]` (none for known words)."""

    word_ids: np.ndarray  # int64 (n,)
    ngram_rows: np.ndarray  # int64
    ngram_offsets: np.ndarray  # int64 (n + 1,)

    def __len__(self) -> int:
        return len(self.word_ids)

    def take(self, ids: np.ndarray) -> Rows:
        """The rows of entries `ids` (a cached vocabulary indexed by a batch), vectorised."""
        starts = self.ngram_offsets[ids]
        counts = self.ngram_offsets[ids + 1] - starts
        offsets = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        pick = np.repeat(starts - offsets[:-1], counts) + np.arange(offsets[-1], dtype=np.int64)
        return Rows(self.word_ids[ids], self.ngram_rows[pick], offsets)


def check_words(words: Sequence, what: str = "word") -> list:
    """`words` as a list of str/bytes; a TypeError naming the first entry that is not."""
    if isinstance(words, (str, bytes)):
        raise TypeError(f"expected a sequence of {what}s, got a single {type(words).__name__} "
                        f"{words[:40]!r} (wrap it in a list)")
    words = list(words)
    try:
        "".join(words)  # all str: checked at C speed (a Python loop costs ~50 ns a word)
        return words
    except TypeError:
        pass
    for i, w in enumerate(words):
        if not isinstance(w, (str, bytes)):
            raise TypeError(f"{what} {i} is {type(w).__name__} {w!r:.40}, not str or bytes")
    return words


class RowIndex:
    """The store's hashing parameters and index, bound once: `rows(words)` -> `Rows`."""

    def __init__(self, vectors, metadata: dict[str, str], tensors: dict[str, np.ndarray]):
        self._vectors = vectors  # vecsmith.store.Vectors: its public word_ids
        self.minn, self.maxn = int(metadata.get("minn", 0)), int(metadata.get("maxn", 0))
        self.bucket = int(metadata.get("bucket", 0))
        self.eos_ngrams = metadata.get("eos_ngrams", "0") == "1"
        ngrams = tensors.get("ngrams")
        self.nrows = 0 if ngrams is None or self.bucket <= 0 else len(ngrams)
        self.oov_error = metadata.get("oov", "error") == "error"
        keys = tensors.get("ngram_keys")
        self._keys = None if keys is None else np.asarray(keys, dtype=np.int64)
        self._rows_of_keys = None if keys is None else np.asarray(tensors["ngram_rows"],
                                                                   dtype=np.int64)
        if self._keys is not None and len(self._keys) and (
                np.any(np.diff(self._keys) <= 0) or self._rows_of_keys.min() < 0
                or self._rows_of_keys.max() >= self.nrows):
            raise ValueError(f"{vectors.path}: 'ngram_keys'/'ngram_rows' do not map sorted "
                             "buckets to rows")

    def rows(self, words: Sequence[str | bytes]) -> Rows:
        words = check_words(words)
        n = len(words)
        wids = (self._vectors.word_ids(words).astype(np.int64) if n
                else np.zeros(0, dtype=np.int64))
        offsets = np.zeros(n + 1, dtype=np.int64)
        oov = np.flatnonzero(wids < 0)
        if len(oov) == 0 or self.nrows == 0:
            if len(oov) and self.oov_error:
                unknown = [words[i] for i in oov[:5]]
                raise KeyError(f"not in vocabulary: {unknown} (this store has no n-grams: run "
                               "`vecsmith transfer` to add them)")
            return Rows(wids, np.zeros(0, dtype=np.int64), offsets)
        blob, qoffsets = pack_words([words[i] for i in oov])
        ids, sub = bucket_ids(blob, qoffsets, self.minn, self.maxn, self.bucket,
                              self.eos_ngrams)
        if self._keys is not None:  # only some buckets kept: map them, drop the others
            pos = np.minimum(np.searchsorted(self._keys, ids), max(len(self._keys) - 1, 0))
            keep = (self._keys[pos] == ids) if len(self._keys) else np.zeros(len(ids), bool)
            kept = np.zeros(len(ids) + 1, dtype=np.int64)
            np.cumsum(keep, out=kept[1:])
            ids, sub = self._rows_of_keys[pos[keep]], kept[sub]
        counts = np.zeros(n, dtype=np.int64)
        counts[oov] = np.diff(sub)
        np.cumsum(counts, out=offsets[1:])
        return Rows(wids, ids.astype(np.int64, copy=False), offsets)
