"""Compact vector stores: one memory-mapped file that opens in milliseconds and embeds any word.

    >>> from vecsmith import store
    >>> store.convert_fasttext("cc.en.300.bin", "cc.en.300.store")   # float16, ~1/3 of the .bin
    >>> v = store.open("cc.en.300.store")
    >>> v["unseenword"]                       # n-gram average, exactly as fastText computes it
    >>> v.most_similar("king", k=5)

Opening imports neither numba nor the fastText reader; the converters load on first use.
"""

from vecsmith.store.format import StoreFormatError, is_store, read_store
from vecsmith.store.vectors import Vectors, open

__all__ = ["StoreFormatError", "Vectors", "convert_fasttext", "convert_vectors", "is_store",
           "open", "read_store"]


def __getattr__(name: str):
    if name in ("convert_fasttext", "convert_vectors"):
        from vecsmith.store import convert

        return getattr(convert, name)
    raise AttributeError(f"module 'vecsmith.store' has no attribute {name!r}")
