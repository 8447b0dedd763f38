"""Sparse features for the online linear model: hashing (VW-compatible) or an exact lookup table.

Every input kind (VW-style lines, token lists, dicts, words for character n-grams) is turned
into one UTF-8 buffer in C-speed string operations, then a single numba pass parses, hashes,
crosses and (in lookup mode) assigns ids — there is no Python loop over features.

Hashing scheme (same as Vowpal Wabbit's ``--hash all``):

* namespace seed ``h_ns = murmur3_x86_32(namespace, seed)`` (the default namespace, written
  ``" "``, has seed 0 as in VW);
* feature hash ``h = murmur3_x86_32(feature, h_ns)``; index ``h & (2**bits - 1)``;
* cross feature of namespaces ``a`` and ``b`` (VW ``-q ab``): ``((16777619 * h_a) ^ h_b)``
  masked, value ``v_a * v_b``; for ``-q aa`` each unordered pair (self pairs included) once.

With ``n`` distinct features in ``2**bits`` slots the expected fraction of features sharing a
slot with another is ``1 - exp(-n / 2**bits)`` (≈ 0.6 % for 250k features at 25 bits, 61 % for
1M at 20 bits); :func:`collision_rate` computes it. The lookup mode gives every distinct
feature its own weight: features are keyed by a 64-bit fingerprint (two independent murmur3
hashes), whose chance of any clash among ``n`` features is about ``n**2 / 2**65`` (3e-8 for
1M features), and the table grows as training meets new features.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ._lazy import load, parse_kernels
from .constants import MAX_BITS, InputMode

# Characters VW reserves; inside token lists and dict keys they are replaced before hashing.
_RESERVED = {ord(" "): "_", ord("|"): "¦", ord(":"): "꞉", ord("\n"): "_", ord("\t"): "_",
             ord("\r"): "_"}
_TOKEN_TABLE = str.maketrans({**_RESERVED, 0x1F: " "})
_NAME_TABLE = str.maketrans(_RESERVED)


class FeatureFormatError(ValueError):
    """An input sample cannot be read as features (bad VW line, wrong type, bad value)."""


def collision_rate(n_features: int, bits: int) -> float:
    """Expected fraction of `n_features` distinct features that share a hashed slot."""
    return 1.0 - math.exp(-n_features / float(2**bits))


def murmur3(text: str | bytes, seed: int = 0) -> int:
    """murmur3_x86_32 of a string's UTF-8 bytes (the hash VW uses), as a Python int."""
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    buf = np.frombuffer(data, dtype=np.uint8) if data else np.zeros(0, np.uint8)
    hashing = load("vecsmith.linear._hashing", "murmur3")
    return int(hashing.murmur3_32(buf, 0, len(buf), np.uint32(seed & 0xFFFFFFFF)))


# ----------------------------------------------------------------------------- Python side


@dataclass
class SparseBatch:
    """Samples as CSR arrays: sample i has ``indices[indptr[i]:indptr[i+1]]`` and values."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    @property
    def n_samples(self) -> int:
        return len(self.indptr) - 1

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])


def _token_text(tokens: Sequence[str]) -> str:
    return "\x1f".join(tokens).translate(_TOKEN_TABLE)


def _name(s: object) -> str:
    return str(s).translate(_NAME_TABLE)


def _dict_text(d: Mapping) -> str:
    """{feature: value} in the default namespace, or {namespace: tokens | {feature: value}}."""
    parts: list[str] = []
    plain: list[str] = []
    for key, val in d.items():
        ns = "" if str(key) in ("", " ") else _name(key)
        if isinstance(val, Mapping):
            parts.append(f"|{ns} " + " ".join(
                f"{_name(k)}:{float(v)!r}" for k, v in val.items()))
        elif isinstance(val, (list, tuple)):
            if not all(isinstance(t, str) for t in val):
                raise FeatureFormatError(f"namespace {key!r}: token lists must hold strings")
            parts.append(f"|{ns} " + _token_text(val))
        elif isinstance(val, (int, float, np.integer, np.floating)) and not isinstance(val, bool):
            plain.append(f"{_name(key)}:{float(val)!r}")
        elif isinstance(val, bool):
            plain.append(f"{_name(key)}:{float(val)!r}")
        else:
            raise FeatureFormatError(
                f"dict feature {key!r} has a {type(val).__name__} value; expected a number, "
                "a list of tokens or a {feature: value} dict")
    if plain:
        parts.insert(0, "| " + " ".join(plain))
    return " ".join(parts)


def to_feature_text(sample: object, ngrams: bool) -> str:
    """One sample as VW feature text (or as a word when `ngrams`)."""
    if isinstance(sample, str):
        if "\n" in sample:
            raise FeatureFormatError("a sample must not contain a newline")
        return sample
    if ngrams:
        raise FeatureFormatError(
            f"with ngram_range set, samples are words (str), got {type(sample).__name__}")
    if isinstance(sample, Mapping):
        return _dict_text(sample)
    if isinstance(sample, (list, tuple)):
        if sample and not all(isinstance(t, str) for t in sample):
            raise FeatureFormatError("token lists must hold strings")
        return "| " + _token_text(sample)
    raise FeatureFormatError(
        f"cannot read a {type(sample).__name__} as features: give a VW feature string, a list "
        "of tokens, a dict, or a scipy.sparse matrix")


def parse_vw_line(line: str) -> tuple[str | None, float, str | None, str]:
    """Split a VW line ``label [importance] ['tag]|features`` into its four parts."""
    head, bar, feats = line.partition("|")
    if not bar:
        raise FeatureFormatError(f"VW line has no '|' namespace: {line[:80]!r}")
    parts = head.split()
    label = None
    importance = 1.0
    tag = None
    if parts and parts[-1].startswith("'"):
        tag = parts.pop()[1:]
    elif head and not head[-1].isspace() and parts:
        tag = parts.pop()  # VW: a tag may be written without the quote, touching the bar
    if parts:
        label = parts[0]
    if len(parts) >= 2:
        try:
            importance = float(parts[1])
        except ValueError as exc:
            raise FeatureFormatError(f"bad importance {parts[1]!r} in {line[:80]!r}") from exc
    if len(parts) > 2:
        raise FeatureFormatError(f"too many fields before '|': {head!r}")
    return label, importance, tag, "|" + feats


def read_vw(lines: Iterable[str | bytes], first_line: int = 1
            ) -> tuple[list[str], list[str | None], np.ndarray]:
    """Parse VW lines into (feature texts, labels or None, importance weights).

    Lines may be bytes (a file opened in binary mode); they must be UTF-8. A line that is not
    (e.g. Latin-1), or that is not a VW line, raises FeatureFormatError naming its number,
    counted from `first_line`: re-encode such a file first (``iconv -f latin1 -t utf-8``).
    """
    texts: list[str] = []
    labels: list[str | None] = []
    weights: list[float] = []
    for number, line in enumerate(lines, first_line):
        if isinstance(line, (bytes, bytearray)):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = bytes(line[exc.start : exc.start + 1])
                raise FeatureFormatError(
                    f"line {number}: not UTF-8 (byte {exc.start}: {bad!r}); re-encode the "
                    "file as UTF-8, e.g. iconv -f latin1 -t utf-8") from None
        line = line.rstrip("\n")
        if not line.strip():
            continue
        try:
            label, imp, _tag, feats = parse_vw_line(line)
        except FeatureFormatError as exc:
            raise FeatureFormatError(f"line {number}: {exc}") from None
        texts.append(feats)
        labels.append(label)
        weights.append(imp)
    return texts, labels, np.asarray(weights, dtype=np.float64)


def parse_cross(spec: str | Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Cross pairs like ``["ab", "aa"]`` (VW ``-q``) as arrays of namespace first bytes."""
    pairs = [spec] if isinstance(spec, str) else list(spec)
    a, b = [], []
    for p in pairs:
        raw = p.encode("utf-8")
        if len(raw) != 2:
            raise ValueError(f"a cross is two namespace letters like 'ab', got {p!r}")
        a.append(raw[0])
        b.append(raw[1])
    return np.asarray(a, np.int64), np.asarray(b, np.int64)


def new_table():
    """An empty lookup table (64-bit fingerprint → id): a numba typed dict."""
    return parse_kernels().new_table()


class Featurizer:
    """Turn samples into CSR feature batches: hashing with `bits`, or an exact growing lookup.

    It holds the lookup table and the names of the features seen (index → ``ns^feature``, or
    ``ns^f*ns^g`` for crosses) so that models can be inspected by feature name.
    """

    def __init__(self, bits: int = 18, lookup: bool = False, cross: Sequence[str] = (),
                 ngram_range: tuple[int, int] | None = None, seed: int = 0,
                 keep_names: bool = True) -> None:
        if not 1 <= int(bits) <= MAX_BITS:
            raise ValueError(f"bits must be in 1..{MAX_BITS}, got {bits}")
        self.bits = int(bits)
        self.lookup = bool(lookup)
        self.cross = tuple(cross)
        self.cross_a, self.cross_b = parse_cross(self.cross) if self.cross else (
            np.zeros(0, np.int64), np.zeros(0, np.int64))
        if ngram_range is not None:
            lo, hi = int(ngram_range[0]), int(ngram_range[1])
            if not 1 <= lo <= hi:
                raise ValueError(f"ngram_range must be (lo, hi) with 1 <= lo <= hi, got {ngram_range}")
            ngram_range = (lo, hi)
        self.ngram_range = ngram_range
        self.seed = int(seed) & 0xFFFFFFFF
        self.keep_names = bool(keep_names)
        self.table = new_table()
        self._name_chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._names_cache: dict[int, str] | None = None
        self._named = np.zeros(0 if self.lookup or not keep_names else 2**self.bits, np.bool_)

    @property
    def n_features(self) -> int:
        """Size of the weight table this featurizer indexes into."""
        return len(self.table) if self.lookup else 2**self.bits

    def transform(self, X: Sequence, grow: bool = False) -> SparseBatch:
        """Featurise a batch; in lookup mode unseen features are added only when `grow`."""
        ngrams = self.ngram_range is not None
        texts = [to_feature_text(x, ngrams) for x in X]
        return self.transform_texts(texts, grow=grow)

    def transform_texts(self, texts: Sequence[str], grow: bool = False) -> SparseBatch:
        """Featurise VW feature texts (or words in n-gram mode) already checked for newlines."""
        ngrams = self.ngram_range is not None
        joined = "\n".join(texts)
        data = joined.encode("utf-8")
        buf = np.frombuffer(data, dtype=np.uint8) if data else np.zeros(0, np.uint8)
        if len(texts) == 0:
            ends = np.zeros(0, np.int64)
        else:
            nl = np.flatnonzero(buf == 10)
            ends = np.append(nl, len(buf)).astype(np.int64)
            if len(ends) != len(texts):
                raise FeatureFormatError("a sample contains a newline")
        lo, hi = self.ngram_range if ngrams else (1, 1)
        mode = InputMode.CHAR_NGRAMS if ngrams else InputMode.VW
        indptr, indices, values, newrec, err = parse_kernels().parse_kernel(
            buf, ends, int(mode), lo, hi, self.seed, self.cross_a, self.cross_b,
            self.lookup, np.uint64(2**self.bits - 1), self.table, grow, self.keep_names,
            self._named)
        if err < 0:
            bad = -err - 1
            raise FeatureFormatError(f"sample {bad}: bad number in {texts[bad][:80]!r}")
        if len(newrec):
            self._record_names(buf, ends, newrec, ngrams)
        return SparseBatch(indptr, indices, values)

    def _record_names(self, buf: np.ndarray, ends: np.ndarray, newrec: np.ndarray,
                      ngrams: bool) -> None:
        ids, offsets, raw = parse_kernels().build_names(buf, ends, newrec, ngrams)
        self._name_chunks.append((ids, offsets, raw))
        self._names_cache = None

    def add_names(self, ids: np.ndarray, offsets: np.ndarray, raw: np.ndarray) -> None:
        """Register names given as ids + UTF-8 bytes with offsets (as `name_arrays` returns)."""
        self._name_chunks.append((ids, offsets, raw))
        self._names_cache = None

    def name_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All recorded names as (ids, offsets, UTF-8 bytes): compact, for saving."""
        chunks = self._name_chunks
        if not chunks:
            return np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.uint8)
        ids = np.concatenate([c[0] for c in chunks])
        raw = np.concatenate([c[2] for c in chunks])
        shifts = np.cumsum([0] + [int(c[1][-1]) for c in chunks[:-1]])
        offs = np.concatenate([c[1][1:] + sh for c, sh in zip(chunks, shifts)])
        return ids, np.concatenate(([0], offs)).astype(np.int64), raw

    @property
    def names(self) -> dict[int, str]:
        """Feature index → name (first name seen for a hashed slot), built on demand."""
        if self._names_cache is None:
            ids, offs, raw = self.name_arrays()
            data = raw.tobytes()
            o = offs.tolist()
            self._names_cache = {i: data[o[j]:o[j + 1]].decode("utf-8", "replace")
                                 for j, i in enumerate(ids.tolist())}
        return self._names_cache

    def clone_empty(self) -> Featurizer:
        return Featurizer(self.bits, self.lookup, self.cross, self.ngram_range, self.seed,
                          self.keep_names)
