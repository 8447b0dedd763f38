"""`VectorSource`: the questions every vector source answers, under the same names.

A fastText model (`vecsmith.fasttext.FastTextModel`) and a store (`vecsmith.store.Vectors`)
both implement it, so a caller (the command line, a server) never probes private attributes
to tell them apart: it asks `describe()["kind"]` when it needs to know what it holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["VectorSource"]


@runtime_checkable
class VectorSource(Protocol):
    """Word vectors with neighbours. Words are str (bytes accepted); vectors float32."""

    @property
    def words(self) -> list[str]:
        """The vocabulary in id order."""
        ...

    @property
    def dim(self) -> int:
        """Length of every vector."""
        ...

    def __contains__(self, word: str | bytes) -> bool:
        """Whether `word` is in the vocabulary (unknown words may still have a vector)."""
        ...

    def __getitem__(self, word: str | bytes) -> np.ndarray:
        """The vector of one word (n-gram mean for unknown words where the source has them;
        KeyError where it has none)."""
        ...

    def get_word_vectors(self, words: Sequence[str | bytes],
                         out: np.ndarray | None = None) -> np.ndarray:
        """(len(words), dim) float32, written into `out` when given."""
        ...

    def most_similar(self, word_or_vector, k: int = 10,
                     exclude: Sequence[str | bytes] = ()) -> list[tuple[str, float]]:
        """The k words of highest cosine, best first, as (word, score); a query word and
        `exclude` are never answers (`vecsmith.neighbours` has the rules)."""
        ...

    def analogy(self, a: str | bytes, b: str | bytes, c: str | bytes,
                k: int = 10) -> list[tuple[str, float]]:
        """Words closest to a - b + c (each unit-scaled), a, b and c excluded."""
        ...

    def describe(self) -> dict:
        """Plain values saying what this is: at least "kind" ("fasttext" or "store"),
        "path", "dim", "words" and "subwords" (the subword scheme, or None)."""
        ...
