"""The store's on-disk layout: a safetensors file, written as a stream, read as a memory map.

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON naming each
tensor's dtype, shape and byte range, then the raw little-endian data. Any safetensors reader
can list and load a store; vecsmith maps it instead, so opening costs no copy.

Tensors of a store (names are part of the format, version 1):

| name | dtype, shape | what |
|---|---|---|
| `vectors` | F16/F32 (nwords, dim) | word vectors, precomputed as fastText's `getWordVector` |
| `norms` | F32 (nwords,) | L2 norm of each stored row (as stored, after rounding) |
| `vocab_blob` | U8 | every word's UTF-8 bytes, each followed by a NUL |
| `vocab_offsets` | I64 (nwords+1,) | word i is vocab_blob[offsets[i] : offsets[i+1]-1] |
| `word_table` | I32 (ceil(nwords/0.7),) | fastText's open-addressing word→id table (FNV-1a) |
| `word_table_hashes` | U32 (same,) | FNV-1a hash of the word in each slot (0 where empty): probes compare it first |
| `counts` | I64 (nwords,) | word frequencies when the source had them (else absent) |
| `ngrams` | F16/F32 (rows, dim) | n-gram (bucket) vectors; absent with --no-ngrams |
| `ngram_keys` | I32 (rows,) | sorted bucket ids of those rows, when not every bucket is kept |
| `ngram_rows` | I32 (rows,) | row of each key in `ngrams` |
| `search_codes` | I8 (nwords, dim) | unit word rows as int8 codes (`vecsmith.store.search`); absent with --no-search-index |
| `search_scales` | F32 (nwords,) | per-row scale: unit row ≈ scale · codes |
| `search_slack` | F32 (nwords,) | bound on ‖unit row − scale · codes‖ plus float rounding |

Metadata (`__metadata__`, strings): `format` = "vecsmith-store", `format_version`, `dim`,
`minn`, `maxn`, `bucket`, `dtype`, `nwords`, `ngram_rows`, `eos_ngrams`, `oov` ("fasttext":
unknown words get their n-gram mean, zeros when none, as fastText answers; "error": unknown
words raise KeyError; "fasttext-kept", compressed stores: the mean of the n-gram rows that were
kept, dropped ones left out of the mean), `dtype` ("float16", "float32", or "pq" for the
product-quantized tensors of `vecsmith.store.compress`, read by `vecsmith.store.pq`),
`search_index` ("int8", "pq-adc" or empty), `source`, `source_sha256`,
`source_format`. Integer settings are checked at open (`minn`/`maxn` in
0..MAX_NGRAM_LENGTH, `bucket` in 0..2^31-1, `dim`/`nwords` equal to the shape of `vectors`),
`ngram_keys` and `ngram_rows` come as a pair, and a file that is not a regular file (a FIFO, a
device) is refused before it is opened. Stores written before the search tensors existed stay valid: search then
scans `vectors` directly; so do stores without `word_table_hashes`, which are then computed
at the first lookup.
"""

from __future__ import annotations

import json
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vecsmith._mapping import FileStamp, advise_random, regular_file

FORMAT = "vecsmith-store"
FORMAT_VERSION = 1
_DTYPES = {"F16": np.float16, "F32": np.float32, "I8": np.int8, "I16": np.int16, "I32": np.int32,
           "I64": np.int64, "U8": np.uint8, "U32": np.uint32}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}
MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit
# Longest n-gram a store may declare: the bound fastText files get at load
# (vecsmith.fasttext.format.MAX_NGRAM_LENGTH; not imported: opening a store loads no numba).
MAX_NGRAM_LENGTH = 64
MAX_BUCKET = (1 << 31) - 1  # bucket ids are int32 in the file and in the kernels
_INT_SETTINGS = {"minn": MAX_NGRAM_LENGTH, "maxn": MAX_NGRAM_LENGTH, "bucket": MAX_BUCKET,
                 "dim": 1 << 20, "nwords": (1 << 63) - 1, "ngram_rows": (1 << 63) - 1}
_CHOICES = {"eos_ngrams": ("0", "1"), "oov": ("fasttext", "fasttext-kept", "error"),
            "dtype": ("float16", "float32", "pq")}


class StoreFormatError(ValueError):
    """A store file is truncated, corrupt or not a store; says where and what was expected."""

    def __init__(self, path: str | os.PathLike, offset: int, message: str):
        self.path = str(path)
        self.offset = offset
        super().__init__(f"{self.path}: at byte {offset}: {message}")


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        n = self.dtype.itemsize
        for s in self.shape:
            n *= s
        return n


class StreamWriter:
    """Write a safetensors file tensor by tensor, chunk by chunk.

    The header (all names, dtypes, shapes) is known up front, so each tensor's place in the
    file is too: data streams from a generator without ever holding a whole matrix in
    memory, and chunks of several tensors computed together (word rows and their search
    codes) may interleave. Chunks of one tensor come in order.
    """

    def __init__(self, fh, specs: list[TensorSpec], metadata: dict[str, str]):
        self.fh = fh
        self.specs = {s.name: s for s in specs}
        header: dict = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
        start = 0
        offsets = {}
        for s in specs:
            header[s.name] = {"dtype": _CODES[s.dtype], "shape": list(s.shape),
                              "data_offsets": [start, start + s.nbytes]}
            offsets[s.name] = start
            start += s.nbytes
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)  # keep the data 8-byte aligned, as safetensors does
        fh.write(struct.pack("<Q", len(raw)) + raw)
        base = 8 + len(raw)
        self._start = {name: base + off for name, off in offsets.items()}
        self._written = dict.fromkeys(self.specs, 0)

    def write(self, name: str, chunk: np.ndarray) -> None:
        """Append a chunk of tensor `name` after the chunks of it written so far."""
        if np.size(chunk) == 0:
            return
        spec = self.specs.get(name)
        if spec is None:
            raise ValueError(f"no tensor {name!r} was declared")
        data = np.ascontiguousarray(chunk, dtype=spec.dtype.newbyteorder("<"))
        if self._written[name] + data.nbytes > spec.nbytes:
            raise ValueError(f"too much data for {name!r}")
        self.fh.seek(self._start[name] + self._written[name])
        self.fh.write(data.tobytes())
        self._written[name] += data.nbytes

    def close(self) -> None:
        for name, spec in self.specs.items():
            if self._written[name] != spec.nbytes:
                raise ValueError(f"tensor {name!r} is incomplete")


@dataclass(frozen=True)
class StoreFile:
    path: str
    metadata: dict[str, str]
    tensors: dict[str, np.ndarray]  # read-only views into the memory map
    file_size: int
    buf: np.memmap | None = None  # the whole file's read-only map (for paging advice)
    stamp: FileStamp | None = None  # the file as it was mapped (device, inode, size, mtime)

    def check(self) -> None:
        """Raise StoreFormatError when the mapped file was truncated or replaced since it was
        opened: reading a truncated map would kill the process with SIGBUS. A change between
        this check and the read cannot be caught (see README, "Untrusted files")."""
        if self.stamp is not None:
            change = self.stamp.changed(self.path)
            if change:
                raise StoreFormatError(self.path, 0, f"the store changed while open ({change}); "
                                                     "open it again")


def read_store(path: str | os.PathLike) -> StoreFile:
    """Map a store; validate the header and every tensor's bytes against the file length."""
    path = str(Path(path))
    st = regular_file(path, lambda msg: StoreFormatError(path, 0, msg))
    size = st.st_size
    if size < 8:
        raise StoreFormatError(path, 0, f"file is {size} bytes; a store starts with an 8-byte "
                                        "header length")
    with open(path, "rb") as fh:
        (hlen,) = struct.unpack("<Q", fh.read(8))
        if hlen > min(MAX_HEADER, size - 8):
            raise StoreFormatError(path, 0, f"header length {hlen} exceeds the file "
                                            f"({size} bytes): not a safetensors store")
        raw = fh.read(hlen)
    try:
        header = json.loads(raw)
    except RecursionError:
        raise StoreFormatError(path, 8, "header JSON is nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreFormatError(path, 8, f"header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise StoreFormatError(path, 8, "header is not a JSON object")
    meta = header.pop("__metadata__", {}) or {}
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else meta
        raise StoreFormatError(path, 8, f"a safetensors file, but not a {FORMAT} "
                                        f"(metadata format = {str(got)[:80]!r})")
    if str(meta.get("format_version")) != str(FORMAT_VERSION):
        raise StoreFormatError(path, 8, f"store format version {meta.get('format_version')!r}, "
                                        f"this vecsmith reads version {FORMAT_VERSION}")
    meta = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}
    base = 8 + hlen
    data_len = size - base
    buf = np.memmap(path, dtype=np.uint8, mode="r") if size > base else np.zeros(0, np.uint8)
    if size > base:
        advise_random(buf)
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        try:
            dtype = np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<")
            if not isinstance(info["shape"], list) or len(info["shape"]) > 8 or not all(
                    type(v) is int for v in [*info["shape"], *info["data_offsets"]]):
                raise TypeError
            shape = tuple(int(s) for s in info["shape"])
            start, end = (int(v) for v in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise StoreFormatError(path, 8, f"tensor {name!r}: bad header entry {info!r}") from None
        count = 1
        for s in shape:
            if s < 0:
                raise StoreFormatError(path, 8, f"tensor {name!r}: negative shape {shape}")
            count *= s
        if not 0 <= start <= end <= data_len or end - start != count * dtype.itemsize:
            raise StoreFormatError(
                path, base + max(start, 0),
                f"tensor {name!r} ({info['dtype']} {list(shape)}) claims bytes {start}..{end}, "
                f"which disagrees with its shape or the {data_len} data bytes in the file")
        tensors[name] = np.frombuffer(buf, dtype=dtype, count=count,
                                      offset=base + start).reshape(shape)
    _check_metadata(path, meta, tensors)
    return StoreFile(path, meta, tensors, size, buf if isinstance(buf, np.memmap) else None,
                     FileStamp.of(st))


def _check_metadata(path: str, meta: dict[str, str], tensors: dict[str, np.ndarray]) -> None:
    """Settings the readers compute with: integers in range, choices known, pairs complete."""
    for key, top in _INT_SETTINGS.items():
        if key not in meta:
            continue
        value = meta[key].strip()
        if not value.isascii() or not value.isdigit() or len(value) > 20 or int(value) > top:
            raise StoreFormatError(path, 8, f"metadata {key} = {meta[key]!r}, expected an "
                                            f"integer in 0..{top}")
    for key, allowed in _CHOICES.items():
        if key in meta and meta[key] not in allowed:
            raise StoreFormatError(path, 8, f"metadata {key} = {meta[key]!r}, expected one of "
                                            f"{list(allowed)}")
    vectors = tensors.get("vectors")
    if vectors is not None and vectors.ndim == 2:
        for key, actual in (("nwords", vectors.shape[0]), ("dim", vectors.shape[1])):
            if key in meta and int(meta[key]) != actual:
                raise StoreFormatError(path, 8, f"metadata {key} = {meta[key]} but 'vectors' "
                                                f"has shape {list(vectors.shape)}")
    keys, rows = tensors.get("ngram_keys"), tensors.get("ngram_rows")
    if (keys is None) != (rows is None) and meta.get("dtype") != "pq":  # pq: row i is key i
        raise StoreFormatError(path, 8, "'ngram_keys' and 'ngram_rows' must come together")
    if keys is not None and rows is not None:  # a pq store's keys are checked by store.pq
        if keys.ndim != 1 or keys.shape != rows.shape or keys.dtype != np.int32 \
                or rows.dtype != np.int32:
            raise StoreFormatError(path, 8, "'ngram_keys'/'ngram_rows' must be int32 vectors "
                                            "of one length")
        if "ngrams" not in tensors:
            raise StoreFormatError(path, 8, "'ngram_keys' without 'ngrams'")


def is_store(path: str | os.PathLike) -> bool:
    """True when the file starts like a safetensors file (cheap sniff, no validation)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False  # never open a FIFO or device to sniff it: the read could block
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{"
