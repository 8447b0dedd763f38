"""Vectors that may not fit one process, described by paths so Dask workers read their own rows.

A :class:`VectorSource` is a list of shards (a ``.npy`` read row range by row range, a Parquet file with a
``vector`` column, a vecsmith store, or an in-memory array for small inputs) laid end to end
as one matrix of rows. It is a few paths and offsets, cheap to send to every task: each task
calls :meth:`VectorSource.read` for the global row range it needs, and only that range is
read from shared storage. Files are untrusted: shapes are checked when the source is opened
and every block read is checked for NaN/infinity, with errors that name the shard and row.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vecsmith._deps import require

__all__ = ["Shard", "ShardError", "VectorSource", "open_source"]


class ShardError(ValueError):
    """A shard of the input is malformed (wrong dimension, NaN rows, unreadable)."""


@dataclass(frozen=True)
class Shard:
    """One file (or array) holding rows ``start .. start + rows - 1`` of the whole matrix."""

    path: str
    kind: str  # "npy", "parquet", "store" or "array"
    start: int
    rows: int


@dataclass(frozen=True)
class VectorSource:
    """Shards laid end to end: ``n`` rows of ``dim`` numbers. ``array`` holds the matrix of an
    in-memory source (sent once to the workers with ``client.scatter``)."""

    shards: tuple[Shard, ...]
    n: int
    dim: int
    array: np.ndarray | None = field(default=None, repr=False, compare=False)

    def read(self, start: int, stop: int, array: np.ndarray | None = None) -> np.ndarray:
        """Rows ``start .. stop - 1`` as float32, checked for NaN/infinity shard by shard."""
        if not 0 <= start <= stop <= self.n:
            raise IndexError(f"rows {start}..{stop} outside 0..{self.n}")
        parts = []
        for sh in self.shards:
            lo, hi = max(start, sh.start), min(stop, sh.start + sh.rows)
            if lo >= hi:
                continue
            block = _read_shard(sh, lo - sh.start, hi - sh.start,
                                array if array is not None else self.array)
            _check_block(block, sh, lo - sh.start, self.dim)
            parts.append(block)
        if not parts:
            return np.empty((0, self.dim), dtype=np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def read_at(self, ids: np.ndarray, array: np.ndarray | None = None) -> np.ndarray:
        """Rows at sorted global ``ids`` (a sample, or re-ranking candidates)."""
        ids = np.asarray(ids, dtype=np.int64)
        out = np.empty((ids.size, self.dim), dtype=np.float32)
        for sh in self.shards:
            lo, hi = np.searchsorted(ids, [sh.start, sh.start + sh.rows])
            if lo == hi:
                continue
            local = ids[lo:hi] - sh.start
            if sh.kind == "npy":
                block = _npy_rows(sh.path, local)
            elif sh.kind in ("store", "array"):
                mat = _matrix(sh, array if array is not None else self.array)
                block = np.asarray(mat[local], dtype=np.float32)
            else:
                block = _read_shard(sh, 0, sh.rows, None)[local]
            _check_block(block, sh, None, self.dim)
            out[lo:hi] = block
        return out

    def words(self, start: int, stop: int) -> list[str] | None:
        """Words of rows ``start .. stop - 1`` when every shard has them (store, Parquet with a
        ``word`` column), else None."""
        out: list[str] = []
        for sh in self.shards:
            lo, hi = max(start, sh.start), min(stop, sh.start + sh.rows)
            if lo >= hi:
                continue
            w = _shard_words(sh)
            if w is None:
                return None
            out.extend(w[lo - sh.start : hi - sh.start])
        return out


def _check_block(block: np.ndarray, sh: Shard, local_start: int | None, dim: int) -> None:
    if block.ndim != 2 or block.shape[1] != dim:
        raise ShardError(f"shard {sh.path}: rows have dimension {block.shape[1:]} but the "
                         f"input has {dim}")
    bad = ~np.isfinite(block).all(axis=1)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        where = f"row {local_start + r}" if local_start is not None else "a requested row"
        raise ShardError(f"shard {sh.path}: {where} holds NaN or infinity")


def _matrix(sh: Shard, array: np.ndarray | None):
    if sh.kind == "array":
        if array is None:
            raise ValueError("an in-memory source needs its array")
        return array
    if sh.kind == "store":
        return _open_store(sh.path).vectors
    raise ValueError(f"shard kind {sh.kind!r} has no matrix view")


def _read_shard(sh: Shard, lo: int, hi: int, array: np.ndarray | None) -> np.ndarray:
    if sh.kind == "parquet":
        return _parquet_matrix(sh.path)[lo:hi]
    if sh.kind == "npy":
        return _npy_rows(sh.path, np.arange(lo, hi))
    return np.asarray(_matrix(sh, array)[lo:hi], dtype=np.float32)


def _npy_rows(path: str, rows: np.ndarray) -> np.ndarray:
    """Rows (sorted) of a ``.npy`` read with plain file reads, one per run of consecutive rows.
    Not a memory map: mapped pages count in a worker's resident memory, and Dask's nanny
    restarts a worker whose resident memory passes its limit, even for clean file pages."""
    offset, dtype, (_n, dim) = _npy_header(path)
    row_bytes = dtype.itemsize * dim
    out = np.empty((rows.size, dim), dtype=dtype)
    if rows.size == 0:
        return out.astype(np.float32)
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    starts = np.r_[0, breaks]
    ends = np.r_[breaks, rows.size]
    view = out.reshape(-1).view(np.uint8)
    with open(path, "rb", buffering=0) as f:
        for a, b in zip(starts, ends, strict=True):
            f.seek(offset + int(rows[a]) * row_bytes)
            got = f.readinto(memoryview(view[a * row_bytes : b * row_bytes]))
            if got != (b - a) * row_bytes:
                raise ShardError(f"shard {path}: file ends before row {int(rows[b - 1])}")
    return out.astype(np.float32, copy=False)


@functools.lru_cache(maxsize=8)
def _open_store(path: str):
    from vecsmith.store import open as open_store

    return open_store(path)


def _vector_column(table, path: str):
    for name in ("vector", "vectors", "embedding"):
        if name in table.column_names:
            return table.column(name)
    raise ShardError(f"shard {path}: no 'vector' column (columns: {table.column_names})")


@functools.lru_cache(maxsize=2)  # a worker scanning all blocks re-reads a shard: keep two
def _parquet_matrix(path: str) -> np.ndarray:
    pq = require("pyarrow.parquet", "Parquet shards")
    pa = require("pyarrow", "Parquet shards")
    table = pq.read_table(path)
    col = _vector_column(table, path).combine_chunks()
    if len(col) == 0:
        return np.empty((0, 0), dtype=np.float32)
    if pa.types.is_fixed_size_list(col.type):
        dim = col.type.list_size
        flat = col.flatten()
    elif pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        lengths = np.asarray(col.value_lengths())
        if lengths.min() != lengths.max():
            row = int(np.flatnonzero(lengths != lengths[0])[0])
            raise ShardError(f"shard {path}: row {row} has {lengths[row]} numbers, row 0 has "
                             f"{lengths[0]}")
        dim = int(lengths[0])
        flat = col.flatten()
    else:
        raise ShardError(f"shard {path}: the vector column has type {col.type}, not a list")
    if flat.null_count:
        raise ShardError(f"shard {path}: the vector column holds nulls")
    values = np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.float32)
    return values.reshape(len(col), dim)


@functools.lru_cache(maxsize=2)
def _parquet_words(path: str) -> list[str] | None:
    pq = require("pyarrow.parquet", "Parquet shards")
    schema = pq.read_schema(path)
    if "word" not in schema.names:
        return None
    return [str(w) for w in pq.read_table(path, columns=["word"]).column("word").to_pylist()]


def _shard_words(sh: Shard) -> list[str] | None:
    if sh.kind == "parquet":
        return _parquet_words(sh.path)
    if sh.kind == "store":
        return _open_store(sh.path).words
    return None


@functools.lru_cache(maxsize=256)
def _npy_header(path: str) -> tuple[int, np.dtype, tuple[int, ...]]:
    """(data offset, dtype, shape) of a ``.npy``, checked against the file size."""
    fmt = np.lib.format
    with open(path, "rb") as f:
        try:
            version = fmt.read_magic(f)
            shape, fortran, dtype = (fmt.read_array_header_1_0(f) if version == (1, 0)
                                     else fmt.read_array_header_2_0(f))
        except ValueError as exc:
            raise ShardError(f"shard {path}: not a .npy file ({exc})") from None
        header_end = f.tell()
    if dtype.kind not in "fiu" or dtype.hasobject:
        raise ShardError(f"shard {path}: dtype {dtype} is not numeric")
    if fortran and len(shape) == 2 and min(shape) > 1:
        raise ShardError(f"shard {path}: Fortran-ordered matrix; save it in C order")
    need = header_end + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if os.path.getsize(path) < need:
        raise ShardError(f"shard {path}: header promises shape {shape} ({need} bytes) but the "
                         f"file has {os.path.getsize(path)}")
    return header_end, dtype, tuple(int(s) for s in shape)


def _npy_shape(path: str) -> tuple[int, ...]:
    return _npy_header(path)[2]


def _shard_of(path: Path, start: int) -> tuple[Shard, int]:
    p = str(path)
    if path.suffix == ".npy":
        shape = _npy_shape(p)
        if len(shape) != 2:
            raise ShardError(f"shard {p}: expected a 2-D matrix, got shape {shape}")
        return Shard(p, "npy", start, shape[0]), shape[1]
    if path.suffix == ".parquet":
        pq = require("pyarrow.parquet", "Parquet shards")
        rows = pq.ParquetFile(p).metadata.num_rows
        mat = _parquet_matrix(p)
        return Shard(p, "parquet", start, rows), (mat.shape[1] if rows else -1)
    store = _open_store(p)
    return Shard(p, "store", start, store.nwords), store.dim


def open_source(source) -> VectorSource:
    """A :class:`VectorSource` from an array, a ``.npy`` path, a store path (or an open store),
    a Parquet file, a directory of ``.npy``/Parquet shards (in name order), or a source."""
    if isinstance(source, VectorSource):
        return source
    if hasattr(source, "path") and hasattr(source, "vectors") and hasattr(source, "dim"):
        source = source.path  # an open vecsmith store: workers open it by path
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in (".npy", ".parquet"))
            if not files:
                raise ValueError(f"{path}: no .npy or .parquet shards in this directory")
        elif path.exists():
            files = [path]
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
        shards, dim, start = [], None, 0
        for f in files:
            sh, d = _shard_of(f, start)
            if sh.rows == 0:
                continue
            if dim is None:
                dim = d
            elif d != dim:
                raise ShardError(f"shard {sh.path}: rows have dimension {d}, the first shard "
                                 f"{shards[0].path} has {dim}")
            shards.append(sh)
            start += sh.rows
        if not shards or not dim:
            raise ValueError(f"{path}: no rows")
        return VectorSource(tuple(shards), start, int(dim))
    X = np.asarray(source)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"expected a non-empty 2-D matrix of vectors, got shape {X.shape}")
    if X.dtype.kind not in "fiu":
        raise ValueError(f"expected numeric vectors, got dtype {X.dtype}")
    return VectorSource((Shard("<array>", "array", 0, X.shape[0]),), X.shape[0], X.shape[1],
                        array=X)
