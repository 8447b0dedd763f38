"""The fastText `.bin`/`.ftz` layout, read block by block in file order.

The structure mirrors `FastText::loadModel` in the official C++ code: `read_args`,
`read_dictionary`, `read_matrix`, each validating every size against the bytes that are
actually left before it allocates anything. Matrices are views into a read-only memory map,
never copies, so opening a 7 GB model costs almost no RAM.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from vecsmith._mapping import FileStamp, advise_random, regular_file
from vecsmith.fasttext import _kernels

MAGIC = 793712314
SUPPORTED_VERSIONS = (11, 12)
LEGACY = 0  # files written before May 2017: no magic, version, prune index or quant flags
LOSS_NAMES = {1: "hs", 2: "ns", 3: "softmax", 4: "ova"}
MODEL_NAMES = {1: "cbow", 2: "skipgram", 3: "supervised"}
KSUB = 256  # product-quantizer centroids per sub-quantizer; fixed in fastText, not stored
# Longest character n-gram a model may declare (args.maxn). fastText's default is 6 and
# published models use at most 6; a word of L characters has about L * (maxn - minn + 1)
# n-grams, so an absurd maxn (65536) makes one long query allocate gigabytes. Refused at load.
MAX_NGRAM_LENGTH = 64


class FastTextFormatError(ValueError):
    """The file is not a valid fastText model; says where and what was expected."""

    def __init__(self, path: str | os.PathLike, offset: int, message: str):
        self.path = str(path)
        self.offset = offset
        super().__init__(f"{self.path}: at byte {offset}: {message}")


@dataclass(frozen=True)
class Args:
    """The training arguments block (`Args::save`), in file order."""

    dim: int
    ws: int
    epoch: int
    min_count: int
    neg: int
    word_ngrams: int
    loss: int
    model: int
    bucket: int
    minn: int
    maxn: int
    lr_update_rate: int
    t: float

    @property
    def loss_name(self) -> str:
        return LOSS_NAMES.get(self.loss, f"unknown({self.loss})")

    @property
    def model_name(self) -> str:
        return MODEL_NAMES.get(self.model, f"unknown({self.model})")

    def as_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["loss"], out["model"] = self.loss_name, self.model_name
        return out


@dataclass(frozen=True)
class Dictionary:
    """Words then labels, as stored: raw UTF-8 bytes (never decoded here), counts and types."""

    blob: np.ndarray  # uint8: every entry's bytes, each followed by a NUL
    offsets: np.ndarray  # int64, size+1: entry i is blob[offsets[i]:offsets[i+1]-1]
    counts: np.ndarray  # int64
    types: np.ndarray  # int8: 0 word, 1 label
    nwords: int
    nlabels: int
    ntokens: int
    prune_keys: np.ndarray  # int32, sorted bucket ids kept by pruning
    prune_values: np.ndarray  # int32, their new row (minus nwords)
    pruneidx_size: int  # -1 unpruned, 0 pruned without n-grams, >0 pruned

    @property
    def size(self) -> int:
        return self.nwords + self.nlabels

    def entry_bytes(self, i: int) -> bytes:
        return self.blob[self.offsets[i] : self.offsets[i + 1] - 1].tobytes()


@dataclass(frozen=True)
class DenseMatrix:
    data: np.ndarray  # float32 (m, n), a view into the memory map
    offset: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape


@dataclass(frozen=True)
class ProductQuantizer:
    dim: int
    nsubq: int
    dsub: int
    lastdsub: int
    centroids: np.ndarray  # float32 (dim * 256,)


@dataclass(frozen=True)
class QuantMatrix:
    """A product-quantized matrix (`QuantMatrix::save`): codes, centroids, optional norms."""

    m: int
    n: int
    qnorm: bool
    codes: np.ndarray  # uint8 (m, nsubq)
    pq: ProductQuantizer
    norm_codes: np.ndarray | None  # uint8 (m,)
    npq: ProductQuantizer | None
    offset: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.m, self.n)


@dataclass(frozen=True)
class ModelFile:
    path: str
    version: int
    args: Args
    dictionary: Dictionary
    quant_input: bool
    input: DenseMatrix | QuantMatrix
    qout: bool
    output: DenseMatrix | QuantMatrix
    file_size: int
    buf: np.memmap | None = None  # the whole file's read-only map (for paging advice)
    stamp: FileStamp | None = None  # the file as it was mapped (device, inode, size, mtime)

    def check(self) -> None:
        """Raise FastTextFormatError when the mapped file was truncated or replaced since it
        was opened (reading a truncated map would die with SIGBUS). A change between this
        check and the read cannot be caught."""
        if self.stamp is not None:
            change = self.stamp.changed(self.path)
            if change:
                raise FastTextFormatError(self.path, 0, f"the model file changed while open "
                                                        f"({change}); load it again")


class _Reader:
    """Bounds-checked little-endian reads over a read-only memory map."""

    def __init__(self, path: str, buf: np.ndarray):
        self.path = path
        self.buf = buf
        self.pos = 0
        self.size = int(buf.shape[0])

    def error(self, message: str, offset: int | None = None) -> FastTextFormatError:
        return FastTextFormatError(self.path, self.pos if offset is None else offset, message)

    def need(self, nbytes: int, what: str) -> None:
        if nbytes < 0 or self.pos + nbytes > self.size:
            raise self.error(
                f"{what} needs {nbytes} bytes but only {self.size - self.pos} remain "
                f"(file is {self.size} bytes; truncated or corrupt)"
            )

    def scalars(self, dtype: str, count: int, what: str) -> np.ndarray:
        dt = np.dtype(dtype)
        self.need(dt.itemsize * count, what)
        out = np.frombuffer(self.buf, dtype=dt, count=count, offset=self.pos)
        self.pos += dt.itemsize * count
        return out

    def i32(self, what: str) -> int:
        return int(self.scalars("<i4", 1, what)[0])

    def i64(self, what: str) -> int:
        return int(self.scalars("<i8", 1, what)[0])

    def f64(self, what: str) -> float:
        return float(self.scalars("<f8", 1, what)[0])

    def boolean(self, what: str) -> bool:
        start = self.pos
        value = int(self.scalars("u1", 1, what)[0])
        if value > 1:
            raise self.error(f"{what}: expected a bool byte (0 or 1), got {value}", start)
        return bool(value)

    def array(self, dtype: str, shape: tuple[int, ...], what: str) -> np.ndarray:
        count = 1
        for s in shape:
            count *= s
        return self.scalars(dtype, count, what).reshape(shape)


def read_model_file(path: str | os.PathLike) -> ModelFile:
    """Parse a fastText `.bin`/`.ftz` file; matrices stay memory-mapped."""
    path = str(Path(path))
    st = regular_file(path, lambda msg: FastTextFormatError(path, 0, msg))
    file_size = st.st_size
    if file_size == 0:
        raise FastTextFormatError(path, 0, "file is empty")
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    advise_random(buf)
    r = _Reader(path, buf)
    version = read_header(r)
    try:
        return _read_body(r, version, file_size, FileStamp.of(st))
    except FastTextFormatError as exc:
        if version != LEGACY:
            raise
        raise FastTextFormatError(
            path, exc.offset, "not a fastText model: no magic number, and reading it as a "
            f"pre-2017 model without one failed: {str(exc).split(': ', 2)[-1]}"
        ) from None


def _read_body(r: _Reader, version: int, file_size: int, stamp: FileStamp) -> ModelFile:
    path = r.path
    args = read_args(r, version)
    dictionary = read_dictionary(r, args, legacy=version == LEGACY)
    quant_input = r.boolean("quant_input flag") if version != LEGACY else False
    if not quant_input and dictionary.pruneidx_size >= 0:
        raise r.error(
            "dictionary is pruned (pruneidx_size >= 0) but the input matrix is not quantized; "
            "fastText refuses such files (issue #332)"
        )
    inp = read_matrix(r, quant_input, "input matrix")
    qout = r.boolean("qout flag") if version != LEGACY else False
    out = read_matrix(r, quant_input and qout, "output matrix")
    if r.pos != r.size:
        raise r.error(f"{r.size - r.pos} unexpected bytes after the output matrix")
    model = ModelFile(path, version, args, dictionary, quant_input, inp, qout, out, file_size,
                      r.buf, stamp)
    validate_shapes(model)
    return model


def read_header(r: _Reader) -> int:
    """The format version; LEGACY (0) for files from before the magic number existed."""
    magic = r.i32("magic number")
    if magic != MAGIC:
        # Pre-2017 files start directly with the args block (dim, ws, ...), as gensim reads them.
        r.pos = 0
        return LEGACY
    version = r.i32("format version")
    if version not in SUPPORTED_VERSIONS:
        raise r.error(
            f"unsupported format version {version}; vecsmith reads versions "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}",
            4,
        )
    return version


def read_args(r: _Reader, version: int) -> Args:
    start = r.pos
    ints = [int(v) for v in r.scalars("<i4", 12, "args block")]
    t = r.f64("args.t")
    args = Args(*ints, t)
    if args.dim <= 0 or args.dim > 1 << 20:
        raise r.error(f"args.dim is {args.dim}, expected 1..{1 << 20}", start)
    if args.bucket < 0:
        raise r.error(f"args.bucket is {args.bucket}, expected >= 0", start + 32)
    if args.loss not in LOSS_NAMES:
        raise r.error(f"args.loss is {args.loss}, expected one of {sorted(LOSS_NAMES)}", start + 24)
    if args.model not in MODEL_NAMES:
        raise r.error(
            f"args.model is {args.model}, expected one of {sorted(MODEL_NAMES)}", start + 28
        )
    if not (0 <= args.minn <= MAX_NGRAM_LENGTH and 0 <= args.maxn <= MAX_NGRAM_LENGTH):
        raise r.error(f"args.minn/maxn are {args.minn}/{args.maxn}, expected 0.."
                      f"{MAX_NGRAM_LENGTH} (MAX_NGRAM_LENGTH)", start + 36)
    if version in (LEGACY, 11) and args.model == 3:
        # fastText: version 11 supervised models were trained without character n-grams.
        args = Args(**{**{f.name: getattr(args, f.name) for f in fields(args)}, "maxn": 0})
    return args


def read_dictionary(r: _Reader, args: Args, legacy: bool = False) -> Dictionary:
    start = r.pos
    size, nwords, nlabels = (int(v) for v in r.scalars("<i4", 3, "dictionary sizes"))
    ntokens = r.i64("dictionary ntokens")
    pruneidx_size = -1 if legacy else r.i64("dictionary pruneidx_size")
    if min(size, nwords, nlabels) < 0 or size != nwords + nlabels:
        raise r.error(
            f"dictionary sizes are size={size}, nwords={nwords}, nlabels={nlabels}; "
            "expected non-negative with size = nwords + nlabels",
            start,
        )
    # Each entry takes at least 10 bytes (NUL, int64 count, int8 type): bound size by the file.
    if size * 10 > r.size - r.pos:
        raise r.error(
            f"dictionary claims {size} entries, which need at least {size * 10} bytes, "
            f"but only {r.size - r.pos} remain"
        )
    entries_start = r.pos
    ends, status = _kernels.scan_entries(r.buf, entries_start, size)
    if status >= 0:
        raise r.error(f"dictionary entry {status} runs past the end of the file", entries_start)
    starts = np.empty(size, dtype=np.int64)
    if size:
        starts[0] = entries_start
        starts[1:] = ends[:-1] + 10
    lengths = ends - starts
    # Entry i is blob[offsets[i] : offsets[i + 1] - 1]; a NUL separates entries, so the whole
    # blob decodes in one call and splits on "\0" (words never contain NUL).
    offsets = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(lengths + 1, out=offsets[1:])
    blob = _kernels.gather_bytes(r.buf, starts, lengths, int(lengths.sum()))
    counts = _kernels.gather_i64(r.buf, ends + 1)
    types = r.buf[ends + 9].astype(np.int8) if size else np.zeros(0, np.int8)
    r.pos = int(ends[-1] + 10) if size else entries_start
    bad_type = np.flatnonzero(types > 1)
    if bad_type.size:
        i = int(bad_type[0])
        raise r.error(f"dictionary entry {i} has type {types[i]}, expected 0 (word) or 1 (label)",
                      int(ends[i] + 9))
    if size and (np.any(types[:nwords] != 0) or np.any(types[nwords:] != 1)):
        raise r.error(
            f"dictionary entry types disagree with nwords={nwords}: words must come first, "
            "then labels",
            entries_start,
        )
    prune_keys = np.zeros(0, dtype=np.int32)
    prune_values = np.zeros(0, dtype=np.int32)
    if pruneidx_size > 0:
        pairs_at = r.pos
        pairs = r.array("<i4", (int(pruneidx_size), 2), "prune index")
        keys = pairs[:, 0].astype(np.int32)
        values = pairs[:, 1].astype(np.int32)
        if np.any(keys < 0) or np.any(values < 0) or (args.bucket and np.any(keys >= args.bucket)):
            raise r.error(
                f"prune index holds ids outside 0..bucket ({args.bucket}) or negative rows",
                pairs_at,
            )
        order = np.argsort(keys, kind="stable")
        prune_keys, prune_values = keys[order], values[order]
        if prune_keys.size > 1 and np.any(prune_keys[1:] == prune_keys[:-1]):
            raise r.error("prune index maps the same bucket twice", pairs_at)
    elif pruneidx_size < -1:
        raise r.error(f"pruneidx_size is {pruneidx_size}, expected >= -1", start + 20)
    return Dictionary(
        blob=blob,
        offsets=offsets,
        counts=counts,
        types=types,
        nwords=nwords,
        nlabels=nlabels,
        ntokens=ntokens,
        prune_keys=prune_keys,
        prune_values=prune_values,
        pruneidx_size=int(pruneidx_size),
    )


def read_matrix(r: _Reader, quantized: bool, what: str) -> DenseMatrix | QuantMatrix:
    if quantized:
        return read_quant_matrix(r, what)
    return read_dense_matrix(r, what)


def read_dense_matrix(r: _Reader, what: str) -> DenseMatrix:
    start = r.pos
    m = r.i64(f"{what} rows")
    n = r.i64(f"{what} columns")
    if m < 0 or n < 0:
        raise r.error(f"{what} has shape ({m}, {n}), expected non-negative", start)
    r.need(m * n * 4, f"{what} data ({m} x {n} float32)")
    at = r.pos
    data = r.array("<f4", (m, n), what)
    return DenseMatrix(data=data, offset=at)


def read_pq(r: _Reader, what: str) -> ProductQuantizer:
    start = r.pos
    dim, nsubq, dsub, lastdsub = (int(v) for v in r.scalars("<i4", 4, f"{what} header"))
    if dim <= 0 or dsub <= 0 or nsubq <= 0 or lastdsub <= 0:
        raise r.error(f"{what}: dim={dim}, nsubq={nsubq}, dsub={dsub}, lastdsub={lastdsub}", start)
    expect_nsubq = -(-dim // dsub)
    expect_last = dim % dsub or dsub
    if nsubq != expect_nsubq or lastdsub != expect_last:
        raise r.error(
            f"{what}: nsubq={nsubq}, lastdsub={lastdsub}; for dim={dim}, dsub={dsub} "
            f"expected nsubq={expect_nsubq}, lastdsub={expect_last}",
            start,
        )
    centroids = r.array("<f4", (dim * KSUB,), f"{what} centroids")
    return ProductQuantizer(dim, nsubq, dsub, lastdsub, centroids)


def read_quant_matrix(r: _Reader, what: str) -> QuantMatrix:
    start = r.pos
    qnorm = r.boolean(f"{what} qnorm flag")
    m = r.i64(f"{what} rows")
    n = r.i64(f"{what} columns")
    codesize = r.i32(f"{what} code size")
    if m < 0 or n <= 0:
        raise r.error(f"{what} has shape ({m}, {n}), expected rows >= 0, columns > 0", start)
    r.need(codesize, f"{what} codes")
    codes_at = r.pos
    codes = r.array("u1", (codesize,), f"{what} codes")
    pq = read_pq(r, f"{what} product quantizer")
    if pq.dim != n:
        raise r.error(f"{what}: quantizer dim {pq.dim} differs from matrix columns {n}")
    if codesize != m * pq.nsubq:
        raise r.error(
            f"{what}: code size {codesize}, expected rows x nsubq = {m} x {pq.nsubq}", codes_at - 4
        )
    norm_codes = npq = None
    if qnorm:
        norm_codes = r.array("u1", (m,), f"{what} norm codes")
        npq = read_pq(r, f"{what} norm quantizer")
        if npq.dim != 1 or npq.dsub != 1:
            raise r.error(f"{what}: norm quantizer must be 1-dimensional")
    return QuantMatrix(m, n, qnorm, codes.reshape(m, pq.nsubq), pq, norm_codes, npq, start)


def validate_shapes(model: ModelFile) -> None:
    """Check that every row index fastText could compute lands inside the matrices."""
    a, d = model.args, model.dictionary
    rows, cols = model.input.shape
    if cols != a.dim:
        raise FastTextFormatError(
            model.path, model.input.offset, f"input matrix has {cols} columns, expected dim={a.dim}"
        )
    if d.pruneidx_size < 0:
        expected = d.nwords + a.bucket
        if rows != expected:
            raise FastTextFormatError(
                model.path,
                model.input.offset,
                f"input matrix has {rows} rows, expected nwords + bucket = {expected}",
            )
    else:
        need = d.nwords + (int(d.prune_values.max()) + 1 if d.prune_values.size else 0)
        if rows < need or rows < d.nwords:
            raise FastTextFormatError(
                model.path,
                model.input.offset,
                f"input matrix has {rows} rows, the pruned dictionary needs {need}",
            )
    orows, ocols = model.output.shape
    expect_out = d.nlabels if a.model == 3 else d.nwords
    if ocols != a.dim or orows != expect_out:
        raise FastTextFormatError(
            model.path,
            model.output.offset,
            f"output matrix has shape ({orows}, {ocols}), expected ({expect_out}, {a.dim})",
        )
