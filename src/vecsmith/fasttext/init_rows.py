"""fastText's seeded initial rows, regenerated bit for bit.

fastText fills its input matrix (word rows, then bucket rows) with
`DenseMatrix::uniform(1 / dim, thread, seed)` (`densematrix.cc`): the rows·dim values are cut
in 10 blocks of ⌊rows·dim / 10⌋, block b is drawn from `std::minstd_rand(seed + b)` through
`std::uniform_real_distribution<double>(-a, a)` with a = float(1 / dim), and only blocks
b < thread are drawn: the others stay 0 (the remainder past 10 blocks is block 10).
libstdc++'s `generate_canonical<double, 53>` takes two draws per value,
u = ((x₁ − 1) + (x₂ − 1)·r) / r², r = 2³¹ − 2, and the value is float(u·2a − a).

Training only moves the rows of n-grams that some vocabulary word holds: every other bucket
row keeps its initial value, and an unknown word made of such n-grams gets their mean. A
compressed store marks those rows and regenerates them here instead of storing them, so its
unknown words come back as fastText's own (`vecsmith.store.compress`; rows of undrawn blocks
are zero and are not marked). `.bin` files record
neither `-thread` nor `-seed`; `find_layout` recovers both blocks drawn and checks the seed by
comparing rows bit for bit.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cache

import numpy as np

__all__ = ["InitLayout", "find_layout", "init_rows", "untrained_rows"]

_M = 2147483647  # minstd_rand: x ← 48271·x mod (2³¹ − 1)
_A = 48271
_A2 = _A * _A % _M  # one value takes two draws
_R = 2147483646.0  # max − min + 1 of minstd_rand
_R2 = float(4611686009837453316)  # r·r: exact in libstdc++'s long double, then to double
_BELOW_ONE = float(np.nextafter(1.0, 0.0))
MAX_BLOCKS = 11  # 10 blocks and the remainder (-thread 11 and more draw it too)


@cache
def _jump_tables() -> list[np.ndarray]:
    """_A2^(i·256^k) mod M for i < 256, k < 5: any power up to 2⁴⁰ in five products."""
    tables = []
    for k in range(5):
        base, v = pow(_A2, 1 << (8 * k), _M), 1
        t = np.empty(256, np.uint64)
        for i in range(256):
            t[i] = v
            v = v * base % _M
        tables.append(t)
    return tables


def _a2_power(pos: np.ndarray) -> np.ndarray:
    """A2^pos mod M (uint64), pos < 2⁴⁰: the state `pos` values (2·pos draws) further on."""
    pos = pos.astype(np.uint64)
    x = np.ones(pos.shape, np.uint64)
    for k, table in enumerate(_jump_tables()):
        x = x * table[(pos >> np.uint64(8 * k)) & np.uint64(255)] % np.uint64(_M)
    return x


def _states(block: np.ndarray, pos: np.ndarray, seed: int) -> np.ndarray:
    """The first draw of value `pos` of `block`: seed_b·A·A2^pos mod M (uint64); a seed of
    0 mod M starts minstd_rand at 1, as the standard says."""
    s = (block.astype(np.int64) + seed) % _M
    x = np.where(s == 0, 1, s).astype(np.uint64) * np.uint64(_A) % np.uint64(_M)
    return x * _a2_power(pos) % np.uint64(_M)


def _values(x1: np.ndarray, dim: int) -> np.ndarray:
    """float32 values from first draws, in libstdc++'s double arithmetic."""
    x2 = x1 * np.uint64(_A) % np.uint64(_M)
    u = (x1 - np.uint64(1)).astype(np.float64) + (x2 - np.uint64(1)).astype(np.float64) * _R
    u = np.minimum(u / _R2, _BELOW_ONE)
    a = float(np.float32(1.0 / dim))
    return (u * (a + a) + (-a)).astype(np.float32)


def init_rows(rows, matrix_rows: int, dim: int, seed: int = 0, blocks: int = 10,
              chunk: int = 4096) -> np.ndarray:
    """Rows `rows` of a (matrix_rows, dim) input matrix as fastText initialises it with
    `-seed seed -thread blocks`: float32 (len(rows), dim), bit-exact. Works `chunk` rows at a
    time (its integer and double temporaries take five times the output)."""
    rows = np.asarray(rows, dtype=np.int64).ravel()
    if len(rows) > chunk:
        return np.concatenate([init_rows(rows[s : s + chunk], matrix_rows, dim, seed, blocks)
                               for s in range(0, len(rows), chunk)])
    out = np.zeros((len(rows), dim), dtype=np.float32)
    size = matrix_rows * dim
    bs = size // 10
    if not len(rows) or bs == 0 or blocks <= 0:
        return out
    if rows.min() < 0 or rows.max() >= matrix_rows:
        raise IndexError(f"rows outside the {matrix_rows}-row matrix")
    first = rows * dim
    b0, b1 = first // bs, (first + dim - 1) // bs
    whole = np.flatnonzero((b0 == b1) & (b0 < blocks))  # one block: a start and dim steps
    if len(whole):
        steps = _a2_power(np.arange(dim))
        start = _states(b0[whole], first[whole] - b0[whole] * bs, seed)
        out[whole] = _values(start[:, None] * steps[None, :] % np.uint64(_M), dim)
    split = np.flatnonzero((b0 != b1) & (b0 < blocks))  # a row across a block border
    if len(split):
        flat = (first[split, None] + np.arange(dim)).ravel()
        block = flat // bs
        vals = _values(_states(block, flat - block * bs, seed), dim)
        vals[block >= blocks] = 0.0
        out[split] = vals.reshape(len(split), dim)
    return out


@dataclass(frozen=True)
class InitLayout:
    """Where a model's initial values came from: its input matrix's shape (word rows, then
    buckets), the seed and how many leading blocks were drawn."""

    matrix_rows: int
    word_rows: int
    dim: int
    seed: int
    blocks: int

    @property
    def drawn_buckets(self) -> int:
        """Bucket rows that start inside a drawn block (the others start at 0)."""
        bs = self.matrix_rows * self.dim // 10
        size = self.matrix_rows * self.dim
        end = size if self.blocks >= MAX_BLOCKS else min(size, self.blocks * bs)
        return max(0, min(self.matrix_rows, -(-end // self.dim)) - self.word_rows)

    def rows(self, buckets) -> np.ndarray:
        """Initial values of bucket rows."""
        b = np.asarray(buckets, np.int64)
        return init_rows(b + self.word_rows, self.matrix_rows, self.dim, self.seed, self.blocks)

    def to_json(self) -> str:
        return json.dumps({"rule": "fasttext-uniform", **asdict(self)}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> InitLayout:
        """Parse and check (ValueError on anything off: the caller names the file)."""
        d = json.loads(text)
        fields = ("matrix_rows", "word_rows", "dim", "seed", "blocks")
        if not isinstance(d, dict) or d.get("rule") != "fasttext-uniform" or not all(
                type(d.get(f)) is int for f in fields):
            raise ValueError("init rows: expected rule 'fasttext-uniform' and integer "
                             f"{', '.join(fields)}")
        lay = cls(*(d[f] for f in fields))
        if not (0 <= lay.word_rows < lay.matrix_rows and 1 <= lay.dim <= 1 << 16
                and lay.matrix_rows * lay.dim < 1 << 40  # positions the jump tables reach
                and 0 <= lay.seed < _M and 1 <= lay.blocks <= MAX_BLOCKS):
            raise ValueError(f"init rows: {lay} out of range")
        return lay


def find_layout(bucket_rows, candidates: np.ndarray, word_rows: int, bucket: int, dim: int,
                seed: int = 0, probe: int = 16) -> InitLayout | None:
    """How many leading blocks a model drew, seen on `probe` candidate rows a block
    (`bucket_rows(ids)` gives float32 rows; candidates: sorted buckets no vocabulary word
    holds). None when no block matches: another seed, or rows not from fastText."""
    cand = np.asarray(candidates, np.int64)
    if not len(cand) or bucket <= 0:
        return None
    lay = InitLayout(word_rows + bucket, word_rows, dim, seed, MAX_BLOCKS)
    bs = lay.matrix_rows * dim // 10
    if bs == 0:
        return None
    block = ((cand + word_rows) * dim) // bs
    drawn = 0  # drawn blocks are a prefix: the last that matches, up to the first that does not
    for b in range(MAX_BLOCKS):
        mine = cand[block == b][:probe]
        if not len(mine):  # all word rows, or every bucket used: no evidence here
            continue
        if not np.any(np.all(lay.rows(mine) == bucket_rows(mine), axis=1)):
            break
        drawn = b + 1
    if not drawn:
        return None
    return InitLayout(lay.matrix_rows, word_rows, dim, seed, drawn)


def untrained_rows(bucket_rows, candidates: np.ndarray, layout: InitLayout,
                   chunk: int = 8192) -> np.ndarray:
    """The candidates (sorted bucket ids) whose rows still equal their initial values, bit for
    bit, among those that start in a drawn block."""
    cand = np.asarray(candidates, np.int64)
    cand = cand[cand < layout.drawn_buckets]
    keep = np.zeros(len(cand), dtype=bool)
    for s in range(0, len(cand), chunk):
        part = cand[s : s + chunk]
        keep[s : s + len(part)] = np.all(layout.rows(part) == bucket_rows(part), axis=1)
    return cand[keep]
